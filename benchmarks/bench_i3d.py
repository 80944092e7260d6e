"""Benchmark: I3D embedding throughput (clips/s) for 16-frame 64x64 clips resized to 224x224.

Run: python -m benchmarks.bench_i3d [--batch_size=8] [--num_batches=3] [--weights=random]

Weights do not change the speed, so the default uses seeded random weights (the logits are meaningless).
Prints one table row; the time covers resize + I3D forward, after one warm-up batch (tracing excluded).
"""

import os
import time

from absl import app
from absl import flags

_BATCH = flags.DEFINE_integer("batch_size", 8, "Clips per I3D call.")
_NUM_BATCHES = flags.DEFINE_integer("num_batches", 3, "Timed batches after one warm-up batch.")
_FRAMES = flags.DEFINE_integer("frames", 16, "Frames per clip (>= 9).")
_SIZE = flags.DEFINE_integer("size", 64, "Clip side before the resize to 224.")
_WEIGHTS = flags.DEFINE_string("weights", "random", "Weight spec for make_embedder.")


def benchmark(batch_size=8, num_batches=3, frames=16, size=64, weights="random"):
  """Returns (clips_per_second, seconds_per_batch, cpu_seconds_per_clip, device string).

  cpu_seconds_per_clip is this process's CPU time (all threads) per clip: less sensitive than wall time to other
  processes sharing the cores, and wall clips/s on an idle n-core CPU is at best about n / cpu_seconds_per_clip.
  """
  import tensorflow as tf  # pylint: disable=import-outside-toplevel  # here, not for --help (~4 s)
  from trivd_gan.evaluation import i3d_weights  # pylint: disable=import-outside-toplevel

  name, embed = i3d_weights.make_embedder(weights, batch_size=batch_size)
  videos = tf.random.stateless_uniform([batch_size, frames, size, size, 3], seed=[0, 1], minval=-1.0,
                                       maxval=1.0)
  embed(videos)  # warm-up: tracing and kernel selection
  start, cpu_start = time.perf_counter(), time.process_time()
  for _ in range(num_batches):
    embed(videos)
  elapsed = (time.perf_counter() - start) / num_batches
  cpu_per_clip = (time.process_time() - cpu_start) / (num_batches * batch_size)
  gpus = tf.config.list_physical_devices("GPU")
  device = f"{len(gpus)} GPU(s)" if gpus else f"CPU ({os.cpu_count()} cores)"
  del name
  return batch_size / elapsed, elapsed, cpu_per_clip, device


def main(argv):
  del argv
  clips_s, sec, cpu_per_clip, device = benchmark(_BATCH.value, _NUM_BATCHES.value, _FRAMES.value, _SIZE.value,
                                                 _WEIGHTS.value)
  load = " ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
  print("| device | batch | clip | s/batch | clips/s | CPU s/clip | load avg after |")
  print(f"| {device} | {_BATCH.value} | {_FRAMES.value}x{_SIZE.value}x{_SIZE.value} -> 224 | {sec:.2f} | "
        f"{clips_s:.2f} | {cpu_per_clip:.2f} | {load} |")


if __name__ == "__main__":
  app.run(main)
