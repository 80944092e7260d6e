"""Tests of trivd_gan.bench: one step of two tiny configurations (JSON structure, not timings); resuming."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.slow  # ~4 min per tiny configuration on the 2 loaded CPU cores (tracing, FLOP profiling)
def test_bench_two_tiny_configurations_json(tmp_path):
  out = tmp_path / "bench.json"
  env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
  # Run from another directory: gin files and their includes resolve against the repository root.
  proc = subprocess.run([sys.executable, "-m", "trivd_gan.bench", "--gin_file=gin/base.gin",
                         "--gin_file=gin/tiny.gin", "--decompositions=dvd_gan_fp,dvd_gan_fp_faster",
                         "--precision=mixed_bfloat16", "--steps=1",
                         "--warmup=1", "--batch_size=2", "--matmul_size=256", f"--json={out}"],
                        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "| dvd_gan_fp_faster |" in proc.stdout
  result = json.loads(out.read_text())
  assert result["matmul_peak_flops_per_s"] > 0 and result["matmul_peak_bfloat16_flops_per_s"] > 0
  assert [r["decomposition"] for r in result["rows"]] == ["dvd_gan_fp", "dvd_gan_fp_faster"]
  for row in result["rows"]:
    assert row["table"] == "decomposition" and row["recurrent"] == "tsru_p" and row["batch_size"] == 2
    assert row["precision"] == "mixed_bfloat16" and row["requested_precision"] == "mixed_bfloat16"
    assert row["step_ms"] > 0 and row["mem_peak_gb"] > 0 and row["steps"] == 1
    assert row["step_flops"] > 0 and row["achieved_flops_per_s"] > 0 and 0 < row["mfu"]
    assert row["paper_ms"] == {"dvd_gan_fp": 537, "dvd_gan_fp_faster": 453}[row["decomposition"]]
  assert result["rows"][0]["ratio"] == 1.0
  assert {g["goal"] for g in result["goals"]} >= {"dvd_gan_fp_faster <= 0.84 x dvd_gan_fp"}


def test_bench_resumes_finished_rows_from_its_json(tmp_path):
  """Re-running with the same --json and settings reuses finished rows (no worker runs: fast) and completes."""
  out = tmp_path / "bench.json"
  settings = {"gin_file": ["gin/base.gin", "gin/tiny.gin"], "gin_param": [], "steps": 3, "warmup": 1,
              "batch_size": 2, "flops": True}
  def row(decomposition, step_ms, precision=None):
    return {"table": "decomposition", "decomposition": decomposition, "recurrent": "tsru_p",
            "jit_compile": False, "requested_jit_compile": False, "requested_precision": precision,
            "precision": precision or "float32", "batch_size": 2, "g_channel_multiplier": 1,
            "d_channel_multiplier": 1,
            "step_ms": step_ms, "step_ms_min": step_ms, "steps": 3, "mem_peak_gb": 1.0, "mem_step_gb": 0.0,
            "mem_source": "ru_maxrss", "step_flops": 10 ** 8, "achieved_flops_per_s": 10 ** 8 / step_ms * 1e3,
            "device": "CPU"}
  out.write_text(json.dumps({"settings": settings, "complete": False, "failed": [],
                             "rows": [row("dvd_gan_fp", 200.0, "float32"),
                                      row("dvd_gan_fp_faster", 100.0, "float32"),
                                      row("dvd_gan_fp", 50.0, "mixed_bfloat16"),
                                      row("dvd_gan_fp_faster", 45.0, "mixed_bfloat16")]}))
  env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
  proc = subprocess.run([sys.executable, "-m", "trivd_gan.bench", "--gin_file=gin/base.gin",
                         "--gin_file=gin/tiny.gin",
                         "--decompositions=dvd_gan_fp,dvd_gan_fp_faster", "--jit_compile=0",
                         "--precision=float32,mixed_bfloat16", "--steps=3",
                         "--warmup=1", "--batch_size=2", "--matmul_size=64", f"--json={out}"],
                        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "reusing the row" in proc.stderr and "benchmarking" not in proc.stderr
  result = json.loads(out.read_text())
  assert result["complete"] and result["failed"] == [] and result["settings"] == settings
  # Rows are reordered configuration by configuration: (dvd_gan_fp f32, bf16), (faster f32, bf16).
  assert [(r["decomposition"], r["precision"]) for r in result["rows"]] == [
      ("dvd_gan_fp", "float32"), ("dvd_gan_fp", "mixed_bfloat16"), ("dvd_gan_fp_faster", "float32"),
      ("dvd_gan_fp_faster", "mixed_bfloat16")]
  # Ratios compare rows of the same precision; MFU is against the peak of the row's own compute dtype.
  assert [r["ratio"] for r in result["rows"]] == pytest.approx([1.0, 1.0, 0.5, 0.9])
  peaks = {"float32": result["matmul_peak_flops_per_s"],
           "mixed_bfloat16": result["matmul_peak_bfloat16_flops_per_s"]}
  assert peaks["float32"] > 0 and peaks["mixed_bfloat16"] > 0
  for r in result["rows"]:
    assert r["mfu"] == pytest.approx(r["achieved_flops_per_s"] / peaks[r["precision"]])
  goals = {(g["goal"], g["precision"]): g for g in result["goals"]}
  assert goals[("dvd_gan_fp_faster <= 0.84 x dvd_gan_fp", "float32")]["met"]
  assert not goals[("dvd_gan_fp_faster <= 0.84 x dvd_gan_fp", "mixed_bfloat16")]["met"]
  speedup = goals[("mixed_bfloat16 >= 2.5 x faster than float32 (dvd_gan_fp, tsru_p, ch 1)", "mixed_bfloat16")]
  assert speedup["measured"] == 4.0 and speedup["met"]
  assert "| dvd_gan_fp_faster | tsru_p | off | 100 | 45 | 2.22 |" in proc.stdout
  # A bad name is refused before anything runs, with the allowed names.
  proc = subprocess.run([sys.executable, "-m", "trivd_gan.bench", "--gin_file=gin/base.gin",
                         "--decompositions=not_a_decomposition", f"--json={out}"],
                        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
  assert proc.returncode != 0 and "unknown decompositions ['not_a_decomposition']" in proc.stderr
  assert "dvd_gan_fp_stronger" in proc.stderr and "Traceback" not in proc.stderr
  proc = subprocess.run([sys.executable, "-m", "trivd_gan.bench", "--gin_file=gin/base.gin", "--precision=fp16",
                         f"--json={out}"],
                        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
  assert proc.returncode != 0 and "unknown precision ['fp16']" in proc.stderr
  assert "mixed_bfloat16" in proc.stderr


def test_graph_flops_counts_a_function_once_per_call():
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from trivd_gan import flops  # pylint: disable=import-outside-toplevel
  inner = tf.function(lambda a, b: tf.matmul(a, b), autograph=False)
  a = tf.ones([8, 16])
  b = tf.ones([16, 4])
  once = tf.function(lambda a, b: inner(a, b), autograph=False).get_concrete_function(a, b).graph
  twice = tf.function(lambda a, b: inner(a, b) + inner(a, b), autograph=False).get_concrete_function(a, b).graph
  matmul = 2 * 8 * 16 * 4
  assert flops.graph_flops(once) == matmul
  assert flops.graph_flops(twice) == 2 * matmul + 8 * 4  # two calls and the add
  # A loop body (a function of the While op, not a call) counts once.
  loop = tf.function(lambda a, b: tf.while_loop(lambda i, c: i < 3, lambda i, c: (i + 1, tf.matmul(a, b)),
                                                [0, tf.zeros([8, 4])])[1], autograph=False)
  assert flops.graph_flops(loop.get_concrete_function(a, b).graph) >= matmul


def test_main_quiets_tensorflow_logs_before_anything_else(monkeypatch):
  """bench (and its worker processes, which inherit the environment) hide TensorFlow's C++ start-up lines, the
  "failed call to cuInit" ERROR included, on machines without a GPU, as the other programs do."""
  from trivd_gan import bench  # pylint: disable=import-outside-toplevel
  from trivd_gan import cli_setup  # pylint: disable=import-outside-toplevel
  monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
  monkeypatch.setattr(cli_setup.glob, "glob", lambda pattern: [])  # no /dev/nvidia*
  with pytest.raises(SystemExit):
    bench.main(["bench", "unexpected"])
  assert os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "3"
  monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")  # undone after the test
