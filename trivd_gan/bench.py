r"""Benchmark: the real training step per discriminator decomposition and recurrent unit (Tables 1-2, E.3).

  python -m trivd_gan.bench --gin_file=gin/base.gin [--gin_file=F2 ...] \
      [--gin_param='Generator.channel_multiplier=4']
      [--decompositions=all|a,b] [--recurrent=all|a,b] [--jit_compile=gin|0|1|0,1]
      [--precision=gin|float32|mixed_bfloat16|float32,mixed_bfloat16] --steps=N [--json=PATH]
      [--op_profile=N]   (also profile a step: its N longest op types and ops, trivd_gan.op_profile)

What is measured (one row per configuration, each in a fresh subprocess so that peak memory does not mix):
- the trainer's own step function (`Trainer.train_step`: d_steps_per_g_step = 2 D updates and one G update, the
  EMA update) with global batch 8 (`--batch_size`), as in E.3: three G passes with batch 8, two D passes with
  batch 16 (real + generated) and one with batch 8. Data come from `synthetic_dataset` (prefetched, so data
  loading is not timed, as in Sec. 4.2). Time: mean wall time of `--steps` steps after `--warmup` steps (the
  first one traces/compiles).
- peak memory. GPU: tf.config.experimental.get_memory_info("GPU:0")["peak"], reset after building/tracing.
  CPU: ru_maxrss (peak resident set size of the process, KiB on Linux) after the steps; `mem_step_gb` is its
  growth during the timed steps' process lifetime after the model was built (activations, gradients, workspace),
  `mem_peak_gb` the absolute peak (includes the TF runtime, ~0.5-1 GB).
- FLOPs of one step: tf.compat.v1.profiler "float_ops" over the graphs of the updates one step calls (op FLOP
  statistics: convolutions, matmuls, elementwise ops with known shapes); achieved FLOP/s = FLOPs / step time,
  and the model FLOPs utilization (MFU) = achieved / the measured peak of a large tf.matmul on the same device
  (`--matmul_size`) in the row's compute dtype: float32 rows against the float32 peak, mixed_bfloat16 rows (the
  Keras "mixed_bfloat16" policy: bfloat16 compute, float32 variables; `train.mixed_precision`) against the
  bfloat16 peak, both measured in the same run.
Ratios are to dvd_gan_fp (decomposition rows) and to convgru (recurrent rows), beside the paper's ratios
(Table 1 ms; App. F.4: ConvGRU 284 ms, TSRU 354 ms; TPUv3, batch 512 over many replicas, XLA): only ordering and
rough ratios are comparable. Markdown goes to the console, everything to --json.
"""

import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags
from absl import logging

from trivd_gan import cli_setup

FLAGS = flags.FLAGS


def define_flags():
  """The CLI flags (defined only when run as a program, so importing this module defines none)."""
  flags.DEFINE_multi_string("gin_file", ["gin/base.gin"], "Gin files (relative to the cwd or the repo root).")
  flags.DEFINE_multi_string("gin_param", [], "Extra gin bindings, e.g. 'Generator.channel_multiplier = 4'.")
  flags.DEFINE_string("decompositions", "", "'all', a comma list, or '' (only the gin file's decomposition).")
  flags.DEFINE_string("recurrent", "", "'all', a comma list, or '' (only the gin file's recurrent unit).")
  flags.DEFINE_string("jit_compile", "gin", "'gin' (the file's train.jit_compile), '0', '1' or '0,1' (both).")
  flags.DEFINE_string("precision", "gin", "'gin' (the file's train.mixed_precision), 'float32', "
                      "'mixed_bfloat16' or a comma list of both (one row each).")
  flags.DEFINE_integer("steps", 5, "Timed training steps per configuration.")
  flags.DEFINE_integer("warmup", 1, "Untimed steps first (tracing / XLA compilation).")
  flags.DEFINE_integer("batch_size", 8, "Global batch size of the step (E.3: 8).")
  flags.DEFINE_integer("matmul_size", 2048, "N of the N x N matmuls (float32 and bfloat16) that measure the "
                       "device's peaks.")
  flags.DEFINE_bool("flops", True, "Count the step's FLOPs (tf.compat.v1.profiler) for the MFU.")
  flags.DEFINE_integer("op_profile", 0, "N > 0: profile one more step with the TF profiler and print each "
                       "row's N longest op types and ops (trivd_gan.op_profile; also in --json). 0: off.")
  flags.DEFINE_string("json", None, "Write the results (rows, matmul peak, machine) to this JSON file, updated "
                      "after each configuration; re-running with the same file and settings skips finished "
                      "rows.")
  flags.DEFINE_string("worker", None, "Internal: JSON of one configuration to run in this process.")


ROOT = pathlib.Path(__file__).resolve().parents[1]
# Paper Table 1 (ms per step, GB) and App. F.4 (ms per step at batch 512, TPUv3).
PAPER_TABLE1 = {"clip": (488, 3.49), "downsampled": (370, 3.01), "cropped": (371, 3.10),
                "cropped_downsampled": (467, 3.30), "mocogan_like_k1": (568, 3.95),
                "mocogan_like_k8": (660, 3.95),
                "dvd_gan_fp": (537, 3.53), "dvd_gan_fp_faster": (453, 3.54), "dvd_gan_fp_stronger": (548, 3.65)}
PAPER_F4_MS = {"convgru": 284, "tsru_p": 354, "tsru_c": 354, "tsru_s": 354}
PRECISIONS = ("float32", "mixed_bfloat16")
GOALS = (("dvd_gan_fp_faster", "dvd_gan_fp", 0.84), ("dvd_gan_fp_stronger", "dvd_gan_fp", 1.02),
         ("tsru_p", "convgru", 1.15))


def _gin_paths(files):
  out = []
  for f in files:
    if os.path.exists(f):
      out.append(os.path.abspath(f))
    elif (ROOT / f).exists():
      out.append(str(ROOT / f))
    else:
      raise ValueError(f"gin file {f!r} not found (relative to the cwd or {ROOT}).")
  return out


def _parse_gin(files, params):
  import gin  # pylint: disable=g-import-not-at-top
  from trivd_gan import configurables  # pylint: disable=g-import-not-at-top,unused-import
  gin.clear_config()
  configurables.parse(_gin_paths(files), params)
  return gin


def count_step_flops(trainer):
  """FLOPs of one traced training step (`flops.graph_flops` summed over the functions one step calls)."""
  from trivd_gan import flops as flops_lib  # pylint: disable=g-import-not-at-top
  return sum(flops_lib.graph_flops(fn.graph) for fn in trainer.step_graphs())


def run_worker(spec):
  """Builds the trainer for one configuration, times its steps; returns a JSON-able dict."""
  params = list(spec["gin_param"]) + [
      "train.dataset_fn = @synthetic_dataset", f"train.global_batch_size = {spec['batch_size']}",
      "train.sample_every = 0", f"DiscriminatorEnsemble.decomposition = '{spec['decomposition']}'",
      f"Generator.recurrent_unit = '{spec['recurrent']}'"]
  if spec["jit_compile"] is not None:
    params.append(f"train.jit_compile = {bool(spec['jit_compile'])}")
  if spec["precision"] is not None:
    params.append(f"train.mixed_precision = {spec['precision'] == 'mixed_bfloat16'}")
  gin = _parse_gin(spec["gin_file"], params)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from trivd_gan import configurables  # pylint: disable=g-import-not-at-top
  gpu = bool(tf.config.list_physical_devices("GPU"))
  with tempfile.TemporaryDirectory() as model_dir:
    trainer = configurables.train(model_dir=model_dir, num_steps=0)["trainer"]
    for _ in range(spec["warmup"]):
      trainer.train_step()
    flops = count_step_flops(trainer) if spec["flops"] else None
    if gpu:
      tf.config.experimental.reset_memory_stats("GPU:0")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(spec["steps"]):
      t = time.perf_counter()
      trainer.train_step()
      times.append(time.perf_counter() - t)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    mem = {"mem_peak_gb": rss_after / 2 ** 20, "mem_step_gb": (rss_after - rss_before) / 2 ** 20,
           "mem_source": "ru_maxrss"}
    if gpu:
      peak = tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2 ** 30
      mem = {"mem_peak_gb": peak, "mem_step_gb": peak, "mem_source": "get_memory_info(GPU:0)"}
    step_s = sum(times) / len(times)
    ops = None
    if spec.get("op_profile"):  # after the timed steps, so the profiler's overhead is never timed
      from trivd_gan import op_profile  # pylint: disable=g-import-not-at-top
      result = op_profile.profile(trainer.train_step)
      # Every op type (their sum is the table's 100%), the longest single ops only (a step has thousands).
      ops = {"wall_ms": result.wall_ms, "by_type": result.by_type, "by_op": result.by_op[:spec["op_profile"]]}
    return {**{k: spec[k] for k in ("decomposition", "recurrent", "table")},
            "jit_compile": trainer.jit_compile,
            "precision": trainer.generator.dtype_policy.name,  # what "auto" chose, if it was asked
            "batch_size": trainer.global_batch_size,
            "g_channel_multiplier": gin.query_parameter("Generator.channel_multiplier"),
            "d_channel_multiplier": gin.query_parameter("DiscriminatorEnsemble.channel_multiplier"),
            "step_ms": 1e3 * step_s, "step_ms_min": 1e3 * min(times), "steps": len(times), **mem,
            "step_flops": flops, "achieved_flops_per_s": flops / step_s if flops else None,
            "device": "GPU" if gpu else "CPU", "op_profile": ops}


def _configurations(gin_files, gin_params):
  from trivd_gan.layers import recurrent  # pylint: disable=g-import-not-at-top
  from trivd_gan.models import decompositions  # pylint: disable=g-import-not-at-top
  gin = _parse_gin(gin_files, gin_params)
  base_d = gin.query_parameter("DiscriminatorEnsemble.decomposition")
  base_u = gin.query_parameter("Generator.recurrent_unit")

  def pick(value, allowed, default, what):
    if not value:
      return [default]
    names = list(allowed) if value == "all" else value.split(",")
    bad = [n for n in names if n not in allowed]
    if bad:
      raise ValueError(f"unknown {what} {bad}; allowed: all or a comma list of {', '.join(allowed)}.")
    return names
  # With only --recurrent given, the gin file's own configuration is already the recurrent row of its unit.
  rows = [] if FLAGS.recurrent and not FLAGS.decompositions else [
      ("decomposition", d, base_u) for d in pick(FLAGS.decompositions, decompositions.DECOMPOSITIONS, base_d,
                                                 "decompositions")]
  rows += [("recurrent", base_d, u)
           for u in pick(FLAGS.recurrent, recurrent.RECURRENT_UNITS, base_u, "recurrent") if FLAGS.recurrent]
  jits = [None] if FLAGS.jit_compile == "gin" else [bool(int(j)) for j in FLAGS.jit_compile.split(",")]
  precisions = [None] if FLAGS.precision == "gin" else FLAGS.precision.split(",")
  bad = [p for p in precisions if p is not None and p not in PRECISIONS]
  if bad:
    raise ValueError(f"unknown precision {bad}; allowed: gin or a comma list of {', '.join(PRECISIONS)}.")
  return [(t, d, u, j, p) for t, d, u in rows for j in jits for p in precisions]


def _ratio(a, b):
  return a / b if a and b else None


def _fmt(x, spec=".2f"):
  return "-" if x is None else format(x, spec)


def _paper_ms(paper, name):
  """The paper's ms per step of `name` (Table 1 entries are (ms, GB) pairs), or None."""
  value = paper.get(name)
  return value[0] if isinstance(value, tuple) else value


def summarize(rows, peaks):
  """Adds ratios and MFU to the rows; returns the Markdown tables (str) and the goals.

  peaks: {precision: measured matmul FLOP/s in that precision's compute dtype}; a row's MFU is against its own.
  """
  lines = []
  for table, ref, paper in (("decomposition", "dvd_gan_fp", PAPER_TABLE1),
                            ("recurrent", "convgru", PAPER_F4_MS)):
    sel = [r for r in rows if r["table"] == table]
    if not sel:
      continue
    key = table  # the row field that names the configuration
    lines += [f"\n{'Table 1: decompositions' if table == 'decomposition' else 'Table 2: recurrent units'} "
              f"(ratios to {ref})\n",
              f"| {key} | precision | XLA | ms/step | x {ref} | paper ms | paper x {ref} | peak GB | step GB "
              "| GFLOP/step | GFLOP/s | MFU |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sel:
      r.setdefault("precision", "float32")  # rows of JSON files written before the precision column
      same = [x for x in sel if x[key] == ref and x["jit_compile"] == r["jit_compile"]
              and x.get("precision", "float32") == r["precision"]]
      r["ratio"] = _ratio(r["step_ms"], same[0]["step_ms"]) if same else None
      p_ms = _paper_ms(paper, r[key])
      r["paper_ms"], r["paper_ratio"] = p_ms, _ratio(p_ms, _paper_ms(paper, ref))
      r["mfu"] = _ratio(r["achieved_flops_per_s"], peaks.get(r["precision"]))
      xla = "on" if r["jit_compile"] else "off"
      lines.append(f"| {r[key]} | {r['precision']} | {xla} | {r['step_ms']:.0f} | "
                   f"{_fmt(r['ratio'])} | "
                   f"{_fmt(p_ms, '.0f')} | {_fmt(r['paper_ratio'])} | {r['mem_peak_gb']:.2f} | "
                   f"{r['mem_step_gb']:.2f} | {_fmt(r['step_flops'] and r['step_flops'] / 1e9, '.1f')} | "
                   f"{_fmt(r['achieved_flops_per_s'] and r['achieved_flops_per_s'] / 1e9, '.1f')} | "
                   f"{_fmt(r['mfu'] and 100 * r['mfu'], '.1f')}% |")
  speedups = _precision_speedups(rows)
  if speedups:
    lines += ["\nPrecision: float32 / mixed_bfloat16 step time (same configuration, same run)\n",
              "| table | decomposition | recurrent | XLA | float32 ms | mixed_bfloat16 ms | speed-up |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {s['table']} | {s['decomposition']} | {s['recurrent']} | "
              f"{'on' if s['jit_compile'] else 'off'} | {s['float32_ms']:.0f} | {s['bfloat16_ms']:.0f} | "
              f"{s['speedup']:.2f} |" for s in speedups]
  lines.append("\nmatmul peak: " + ", ".join(f"{p} {v / 1e9:.1f} GFLOP/s" for p, v in peaks.items()))
  goals = []
  for name, ref, limit in GOALS:
    for r in rows:
      if name in (r["decomposition"], r["recurrent"]) and r.get("ratio") is not None and (
          r["table"] == ("recurrent" if ref == "convgru" else "decomposition")):
        goals.append({"goal": f"{name} <= {limit} x {ref}", "jit_compile": r["jit_compile"],
                      "precision": r["precision"], "measured": r["ratio"], "met": r["ratio"] <= limit})
  for r in rows:
    if r.get("mfu") is not None and r["device"] == "CPU":
      goals.append({"goal": f"CPU step >= 40% of matmul peak ({r['decomposition']}, {r['recurrent']})",
                    "jit_compile": r["jit_compile"], "precision": r["precision"], "measured": r["mfu"],
                    "met": r["mfu"] >= 0.4})
  for s in speedups:
    config = f"{s['decomposition']}, {s['recurrent']}, ch {s['g_channel_multiplier']}"
    goals.append({"goal": f"mixed_bfloat16 >= 2.5 x faster than float32 ({config})",
                  "jit_compile": s["jit_compile"], "precision": "mixed_bfloat16", "measured": s["speedup"],
                  "met": s["speedup"] >= 2.5})
  for g in goals:
    lines.append(f"goal {g['goal']} ({g['precision']}, XLA {'on' if g['jit_compile'] else 'off'}): "
                 f"{g['measured']:.3f} -> {'met' if g['met'] else 'NOT met'}")
  return "\n".join(lines), goals


def _precision_speedups(rows):
  """float32 step time / mixed_bfloat16 step time for every configuration measured in both precisions."""
  out = []
  for r in rows:
    if r.get("precision") != "float32":
      continue
    for b in rows:
      if b.get("precision") == "mixed_bfloat16" and all(
          b[k] == r[k] for k in ("table", "decomposition", "recurrent", "jit_compile")):
        out.append({**{k: r[k] for k in ("table", "decomposition", "recurrent", "jit_compile",
                                         "g_channel_multiplier")},
                    "float32_ms": r["step_ms"], "bfloat16_ms": b["step_ms"],
                    "speedup": r["step_ms"] / b["step_ms"]})
  return out


def _settings():
  """What makes two runs' rows comparable (a --json file written with other settings is not resumed)."""
  return {"gin_file": list(FLAGS.gin_file), "gin_param": list(FLAGS.gin_param), "steps": FLAGS.steps,
          "warmup": FLAGS.warmup, "batch_size": FLAGS.batch_size, "flops": FLAGS.flops}


def _load_partial(path):
  """{row key: row} of a previous run's --json with the same settings (resume after an interruption)."""
  if not path or not os.path.exists(path):
    return {}
  try:
    with open(path) as f:
      previous = json.load(f)
  except (OSError, ValueError):
    logging.warning("%s is not a readable bench JSON; starting afresh.", path)
    return {}
  if previous.get("settings") != _settings():
    logging.warning("%s was written with other settings; starting afresh (it will be overwritten).", path)
    return {}
  return {(r["table"], r["decomposition"], r["recurrent"], r["requested_jit_compile"],
           r.get("requested_precision")): r for r in previous.get("rows", [])}


def _write_json(path, rows, failed, peaks=None, goals=None):
  load = os.getloadavg() if hasattr(os, "getloadavg") else None
  peaks = peaks or {}
  result = {"settings": _settings(), "complete": bool(peaks), "rows": rows, "failed": failed,
            "matmul_peak_flops_per_s": peaks.get("float32"),
            "matmul_peak_bfloat16_flops_per_s": peaks.get("mixed_bfloat16"), "goals": goals or [],
            "machine": {"cpu_count": os.cpu_count(), "loadavg": load,
                        "device": rows[0]["device"] if rows else None}}
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(result, f, indent=2)
  os.replace(tmp, path)  # a crash mid-write never leaves a truncated file


def main(argv):
  cli_setup.quiet_tensorflow_logs()  # before the lazy TensorFlow import; workers inherit the environment
  if len(argv) > 1:
    cli_setup.exit_with_error(f"unexpected arguments {argv[1:]}")
  if FLAGS.worker:
    print("BENCH_JSON " + json.dumps(run_worker(json.loads(FLAGS.worker))), flush=True)
    return
  try:
    configs = _configurations(FLAGS.gin_file, FLAGS.gin_param)
  except ValueError as e:
    cli_setup.exit_with_error(e)
  # Each finished configuration is written to --json at once; re-running the same command skips those rows,
  # so an interrupted run loses at most the configuration it was on.
  done = _load_partial(FLAGS.json)
  rows, failed = [], []
  env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
  for table, d, u, jit, precision in configs:
    key = (table, d, u, jit, precision)
    what = f"{d} / {u} (jit_compile={jit}, precision={precision or 'gin'})"
    if key in done:
      logging.info("%s: reusing the row in %s", what, FLAGS.json)
      rows.append(done[key])
      continue
    spec = dict(table=table, decomposition=d, recurrent=u, jit_compile=jit, precision=precision,
                gin_file=_gin_paths(FLAGS.gin_file), gin_param=FLAGS.gin_param, steps=FLAGS.steps,
                warmup=FLAGS.warmup, batch_size=FLAGS.batch_size, flops=FLAGS.flops,
                op_profile=FLAGS.op_profile)
    logging.info("benchmarking %s", what)
    proc = subprocess.run([sys.executable, "-m", "trivd_gan.bench", "--worker=" + json.dumps(spec)],
                          capture_output=True, text=True, env=env, check=False)
    out = [l for l in proc.stdout.splitlines() if l.startswith("BENCH_JSON ")]
    if proc.returncode or not out:
      # One configuration failing (e.g. out of memory) does not cost the others.
      error = (proc.stderr.strip().splitlines() or ["(no output)"])[-1][:500]
      logging.error("configuration %s failed: %s", what, error)
      failed.append({"table": table, "decomposition": d, "recurrent": u, "jit_compile": jit,
                     "precision": precision, "error": error})
    else:
      rows.append({**json.loads(out[-1][len("BENCH_JSON "):]), "requested_jit_compile": jit,
                   "requested_precision": precision})
    if FLAGS.json:
      _write_json(FLAGS.json, rows, failed)
  from trivd_gan import flops as flops_lib  # pylint: disable=g-import-not-at-top
  peaks = {"float32": flops_lib.matmul_peak_flops(FLAGS.matmul_size, dtype="float32"),
           "mixed_bfloat16": flops_lib.matmul_peak_flops(FLAGS.matmul_size, dtype="bfloat16")}
  text, goals = summarize(rows, peaks)
  print(text)
  from trivd_gan import op_profile  # pylint: disable=g-import-not-at-top
  for row in rows:
    if row.get("op_profile"):
      profile = op_profile.OpProfile(**row["op_profile"])
      print(f"\nOps of one step: {row['decomposition']} / {row['recurrent']} ({row['precision']}, XLA "
            f"{row['jit_compile']})\n\n{op_profile.format_table(profile, top=FLAGS.op_profile)}")
  for f in failed:
    print(f"FAILED {f['decomposition']} / {f['recurrent']} (XLA {f['jit_compile']}, {f['precision']}): "
          f"{f['error']}")
  if FLAGS.json:
    _write_json(FLAGS.json, rows, failed, peaks, goals)
  if failed:
    sys.exit(1)


if __name__ == "__main__":
  define_flags()
  app.run(main)
