r"""Benchmark: one forward+backward step of a recurrent unit, TSRU_p vs ConvGRU (paper F.4: 354 vs 284 ms).

Usage:
  python -m benchmarks.bench_recurrent [--ch=16] [--batch=8] [--units=convgru,tsru_p] [--repeats=20]

For each generator resolution (8x8 with 8*ch channels, 16x16 with 4*ch, 32x32 with 2*ch; DVD-GAN-FP's
recurrent units sit at these three stages, input x_t as wide as the state) and each of jit_compile off/on,
one step computes h_t = unit(x_t, h_{t-1}, training=True), a scalar loss and the gradients with respect to
every trainable weight and both inputs. Reported: the min and median wall time and the min process CPU time
(user+sys, all threads) of `repeats` steps after warm-up, the units' steps interleaved in one process so machine
load affects them alike (on a shared machine the CPU time is the steadiest number), and peak memory of the step:
  * GPU: `tf.config.experimental.get_memory_info` peak after `reset_memory_stats`, minus the memory in use
    before the step (weights and inputs);
  * CPU: each configuration runs again in a fresh subprocess with TF_CPU_ALLOCATOR_USE_BFC=true, which gives
    the CPU device a BFC allocator with the same statistics (the default CPU allocator has none); if that is
    unavailable, the growth of the peak resident set size (`resource.getrusage(...).ru_maxrss`) from just
    before the first step is reported instead (an upper bound including allocator caching).
The table ends with the TSRU_p / ConvGRU ratios. Speed goals are never asserted in tests (CONVENTIONS.md).
"""

import json
import os
import resource
import statistics
import subprocess
import sys
import time

from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_integer("ch", 16, "Channel multiplier (the paper uses 48 and 120; small for CPU).")
flags.DEFINE_integer("batch", 8, "Batch size (paper E.3 times G with batch 8).")
flags.DEFINE_list("units", ["convgru", "tsru_p"], "Recurrent units to time (names of RECURRENT_UNITS).")
flags.DEFINE_integer("repeats", 20, "Timed steps per configuration.")
flags.DEFINE_integer("warmup", 3, "Untimed steps per configuration (tracing / XLA compilation).")
flags.DEFINE_string("_child", None, "Internal: measure one configuration's memory (JSON) and print JSON.")

RESOLUTIONS = ((8, 8), (16, 4), (32, 2))  # (spatial size, channel multiple of ch)


def _rss_mib():
  # ru_maxrss is in KiB on Linux.
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def make_step(unit_name, size, channels, batch, jit):
  """A zero-argument callable running one forward+backward step of a freshly built unit."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from trivd_gan.layers import recurrent  # pylint: disable=g-import-not-at-top

  unit = recurrent.make_recurrent_unit(unit_name, channels)
  x = tf.random.normal([batch, size, size, channels])
  h = tf.random.normal([batch, size, size, channels])
  unit(x, h)
  variables = unit.trainable_weights

  @tf.function(jit_compile=jit)
  def step(x, h):
    with tf.GradientTape() as tape:
      tape.watch([x, h])
      h_t, _ = unit(x, h, training=True)
      loss = tf.reduce_mean(tf.square(h_t))
    grads = tape.gradient(loss, variables + [x, h])
    return tf.add_n([tf.reduce_sum(g) for g in grads])

  return lambda: step(x, h).numpy()


def peak_memory(unit_name, size, channels, batch, jit, warmup):
  """Peak MiB of the step in this process (run it in a fresh process on CPU, see the module doc)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  device = "GPU:0" if tf.config.list_physical_devices("GPU") else "CPU:0"
  run = make_step(unit_name, size, channels, batch, jit)
  try:
    tf.config.experimental.reset_memory_stats(device)
    base = tf.config.experimental.get_memory_info(device)["current"]
  except ValueError:  # CPU without TF_CPU_ALLOCATOR_USE_BFC=true: fall back to the resident set size.
    base = None
    rss_base = _rss_mib()
  for _ in range(warmup + 2):
    run()
  if base is not None:
    return (tf.config.experimental.get_memory_info(device)["peak"] - base) / 2 ** 20, device
  return _rss_mib() - rss_base, "CPU:0 (ru_maxrss)"


def main(argv):
  del argv
  if FLAGS._child:  # pylint: disable=protected-access
    peak, device = peak_memory(**json.loads(FLAGS._child))  # pylint: disable=protected-access
    print(json.dumps({"peak_mib": peak, "device": device}))
    return
  rows = {}
  for size, mult in RESOLUTIONS:
    channels = mult * FLAGS.ch
    for jit in (False, True):
      # Timing: all units in this process, steps interleaved so that machine load hits them alike.
      runs = {u: make_step(u, size, channels, FLAGS.batch, jit) for u in FLAGS.units}
      for run in runs.values():
        for _ in range(FLAGS.warmup):
          run()
      wall, cpu = {u: [] for u in runs}, {u: [] for u in runs}
      for _ in range(FLAGS.repeats):
        for u, run in runs.items():
          w0, c0 = time.perf_counter(), time.process_time()
          run()
          wall[u].append(time.perf_counter() - w0)
          cpu[u].append(time.process_time() - c0)
      for u in runs:
        cfg = dict(unit_name=u, size=size, channels=channels, batch=FLAGS.batch, jit=jit, warmup=FLAGS.warmup)
        cmd = [sys.executable, "-m", "benchmarks.bench_recurrent", f"--_child={json.dumps(cfg)}"]
        env = {**os.environ, "TF_CPU_ALLOCATOR_USE_BFC": "true"}
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
        rows[(u, size, jit)] = {
            **cfg, **json.loads(out.strip().splitlines()[-1]), "wall_min": 1000 * min(wall[u]),
            "wall_med": 1000 * statistics.median(wall[u]), "cpu_min": 1000 * min(cpu[u])}
  print(f"{'unit':10s} {'HxW':>6s} {'C':>5s} {'jit':>5s} {'wall min':>9s} {'wall med':>9s} {'cpu min':>9s} "
        f"{'peak MiB':>9s}  device")
  for r in rows.values():
    print(f"{r['unit_name']:10s} {r['size']:>3d}x{r['size']:<2d} {r['channels']:>5d} {str(r['jit']):>5s} "
          f"{r['wall_min']:>9.2f} {r['wall_med']:>9.2f} {r['cpu_min']:>9.2f} {r['peak_mib']:>9.1f}  "
          f"{r['device']}")
  if "convgru" in FLAGS.units and "tsru_p" in FLAGS.units:
    print("\nTSRU_p / ConvGRU (wall min, wall median, CPU-time min, peak memory):")
    for size, _ in RESOLUTIONS:
      for jit in (False, True):
        a, b = rows[("tsru_p", size, jit)], rows[("convgru", size, jit)]
        mem = a["peak_mib"] / b["peak_mib"] if b["peak_mib"] > 0 else float("nan")
        print(f"  {size:>2d}x{size:<2d} jit={str(jit):5s} x{a['wall_min'] / b['wall_min']:.3f}  "
              f"x{a['wall_med'] / b['wall_med']:.3f}  x{a['cpu_min'] / b['cpu_min']:.3f}  x{mem:.3f}")


if __name__ == "__main__":
  app.run(main)
