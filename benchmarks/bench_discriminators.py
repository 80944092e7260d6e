r"""Benchmark: time and peak memory of one D update's forward/backward per decomposition (paper Table 1).

  python -m benchmarks.bench_discriminators [--channel_multiplier=8 --batch_size=2 --steps=5]
      [--num_frames=16 --resolution=64 --decompositions=dvd_gan_fp,dvd_gan_fp_faster --json=out.json]

One step = the ensemble on a real and on a generated batch (each [batch_size, T, H, W, 3]), eq. 13, and the
gradients of the loss with respect to every D weight (no optimizer update), inside one tf.function.

Each decomposition runs in its own subprocess so that memory high-water marks do not mix:
- time: median wall time of `--steps` steps after 2 warm-up steps (tracing excluded);
- memory on GPU: peak of tf.config.experimental.get_memory_info("GPU:0") over the steps (reset after build);
- memory on CPU: ru_maxrss (peak resident set size of the process) after the steps minus ru_maxrss after
  building the model and inputs and tracing the step, i.e. the growth of the peak RSS caused by running the
  steps (activations, gradients, workspace); the absolute peak is in the JSON. ru_maxrss is in KiB on Linux.
Ratios are to dvd_gan_fp, beside the paper's Table 1 (TPU, batch 512 over replicas, E.3: its step also
includes the G passes of a full D/G step, so only the ordering and rough ratios are comparable).
"""

import json
import resource
import statistics
import subprocess
import sys
import time

from absl import app
from absl import flags
from absl import logging

FLAGS = flags.FLAGS
flags.DEFINE_integer("channel_multiplier", 8, "D channel multiplier (the paper uses 48-120; BAIR 92).")
flags.DEFINE_integer("batch_size", 2, "Batch size of the real and of the generated batch.")
flags.DEFINE_integer("steps", 5, "Timed steps (after 2 warm-up steps).")
flags.DEFINE_integer("num_frames", 16, "T, frames per video (5 context + 11 predicted on Kinetics).")
flags.DEFINE_integer("resolution", 64, "H = W.")
flags.DEFINE_integer("k", 8, "Frames sampled for the frame discriminator.")
flags.DEFINE_integer("s", 2, "Downsampling factor.")
flags.DEFINE_list("decompositions", [], "Subset to run (default: all nine).")
flags.DEFINE_string("json", None, "Also write the results to this JSON file.")
flags.DEFINE_string("worker", None, "Internal: benchmark this decomposition in this process, print JSON.")

# Paper Table 1: average step duration (ms) and maximum memory (GB) on TPU.
PAPER_MS = {"clip": 488, "downsampled": 370, "cropped": 371, "cropped_downsampled": 467, "mocogan_like_k1": 568,
            "mocogan_like_k8": 660, "dvd_gan_fp": 537, "dvd_gan_fp_faster": 453, "dvd_gan_fp_stronger": 548}
PAPER_GB = {"clip": 3.49, "downsampled": 3.01, "cropped": 3.10, "cropped_downsampled": 3.30,
            "mocogan_like_k1": 3.95, "mocogan_like_k8": 3.95, "dvd_gan_fp": 3.53, "dvd_gan_fp_faster": 3.54,
            "dvd_gan_fp_stronger": 3.65}
REFERENCE = "dvd_gan_fp"


def _maxrss_mib():
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_worker(decomposition):
  """Benchmarks one decomposition in this process; returns a dict of measurements."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  from trivd_gan import losses  # pylint: disable=g-import-not-at-top
  from trivd_gan.models import decompositions  # pylint: disable=g-import-not-at-top

  gpu = bool(tf.config.list_physical_devices("GPU"))
  shape = (FLAGS.batch_size, FLAGS.num_frames, FLAGS.resolution, FLAGS.resolution, 3)
  ensemble = decompositions.DiscriminatorEnsemble(decomposition, FLAGS.channel_multiplier, num_frames_K=FLAGS.k,
                                                  downsample_factor=FLAGS.s)
  ensemble.build(shape)
  real = tf.random.uniform(shape, -1.0, 1.0)
  fake = tf.random.uniform(shape, -1.0, 1.0)

  @tf.function
  def step(real, fake, seed):
    with tf.GradientTape() as tape:
      loss, _ = losses.discriminator_step_loss(ensemble, real, fake, seed=seed)
    grads = tape.gradient(loss, ensemble.trainable_variables)
    return loss, tf.add_n([tf.reduce_sum(g) for g in grads])

  # Trace (without running) first so that the memory baseline includes the graph, not the activations.
  step.get_concrete_function(real, fake, tf.TensorSpec([2], tf.int64))
  base_rss = _maxrss_mib()
  if gpu:
    tf.config.experimental.reset_memory_stats("GPU:0")
  for i in range(2):
    [t.numpy() for t in step(real, fake, tf.constant([0, i], tf.int64))]
  times = []
  for i in range(FLAGS.steps):
    start = time.perf_counter()
    [t.numpy() for t in step(real, fake, tf.constant([1, i], tf.int64))]
    times.append(time.perf_counter() - start)
  result = {
      "decomposition": decomposition,
      "ms": 1000.0 * statistics.median(times),
      "pixels_per_video": decompositions.pixels_per_video(decomposition, FLAGS.num_frames, FLAGS.resolution,
                                                          FLAGS.resolution, FLAGS.k, FLAGS.s),
      "num_weights": int(sum(tf.size(w).numpy() for w in ensemble.trainable_weights)),
      "device": "GPU" if gpu else "CPU",
  }
  if gpu:
    result["peak_mib"] = tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
    result["memory_method"] = "get_memory_info(GPU:0) peak"
  else:
    result["peak_rss_mib"] = _maxrss_mib()
    result["peak_mib"] = result["peak_rss_mib"] - base_rss
    result["memory_method"] = "ru_maxrss growth during the steps"
  return result


def _table(results):
  ref = results[REFERENCE] if REFERENCE in results else None
  lines = [
      "| decomposition | pixels/video | ms/step | time ratio | paper ms | paper ratio | step memory MiB | "
      "memory ratio | paper GB | paper memory ratio |",
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ]
  for name, r in results.items():
    time_ratio = f"{r['ms'] / ref['ms']:.2f}" if ref else "-"
    mem_ratio = f"{r['peak_mib'] / ref['peak_mib']:.2f}" if ref and ref["peak_mib"] > 0 else "-"
    lines.append(
        f"| {name} | {r['pixels_per_video']} | {r['ms']:.0f} | {time_ratio} | {PAPER_MS[name]} | "
        f"{PAPER_MS[name] / PAPER_MS[REFERENCE]:.2f} | {r['peak_mib']:.0f} | {mem_ratio} | "
        f"{PAPER_GB[name]:.2f} | "
        f"{PAPER_GB[name] / PAPER_GB[REFERENCE]:.2f} |")
  return "\n".join(lines)


def main(argv):
  del argv
  from trivd_gan.models import decompositions  # pylint: disable=g-import-not-at-top

  if FLAGS.worker:
    print(json.dumps(run_worker(FLAGS.worker)))
    return
  names = FLAGS.decompositions or list(decompositions.DECOMPOSITIONS)
  for name in names:
    decompositions.check_config(name, FLAGS.num_frames, FLAGS.resolution, FLAGS.resolution, FLAGS.k, FLAGS.s)
  passthrough = [f"--{f}={getattr(FLAGS, f)}" for f in
                 ("channel_multiplier", "batch_size", "steps", "num_frames", "resolution", "k", "s")]
  results = {}
  for name in names:
    logging.info("Benchmarking %s", name)
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_discriminators", f"--worker={name}",
                           *passthrough], capture_output=True, text=True, check=False)
    if proc.returncode:
      raise RuntimeError(f"Benchmark of {name} failed:\n{proc.stderr[-3000:]}")
    results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
  first = next(iter(results.values()))
  print(f"D step (real + fake forward/backward), batch {FLAGS.batch_size} x {FLAGS.num_frames} x "
        f"{FLAGS.resolution}x{FLAGS.resolution}, channel multiplier {FLAGS.channel_multiplier}, K={FLAGS.k}, "
        f"s={FLAGS.s}, {first['device']}, memory: {first['memory_method']}; ratios to {REFERENCE}.\n")
  print(_table(results))
  if FLAGS.json:
    with open(FLAGS.json, "w") as f:
      json.dump({"flags": {p.split("=")[0][2:]: p.split("=")[1] for p in passthrough}, "results": results}, f,
                indent=2)


if __name__ == "__main__":
  app.run(main)
