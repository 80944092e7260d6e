"""Decode + preprocess throughput of the input pipelines, in clips/s (16 x 64 x 64 x 3 training clips).

  python -m benchmarks.bench_data [--video_dir=VIDEO_DIR] [--mnist_dir=MNIST_DIR]
                                  [--kinetics_data_dir=DIR] [--seconds=10] [--json=out.json]

Sources: video_folder on --video_dir (PyAV decode of whole files every epoch), kinetics600 TFRecords (built
first
in a temporary folder from a fake Kinetics tree made of copies of the --video_dir files, unless
--kinetics_data_dir points at a built one), synthetic and moving_mnist. Prints a Markdown table.
"""

import json
import os
import platform
import tempfile
import time

from absl import app
from absl import flags
from absl import logging

_HERE = os.path.dirname(os.path.abspath(__file__))
_SHARED = os.path.normpath(os.path.join(_HERE, "..", "..", "..", "shared", "data"))

flags.DEFINE_string("video_dir", os.path.join(_SHARED, "video"), "Folder of videos for video_folder.")
flags.DEFINE_string("mnist_dir", os.path.join(_SHARED, "mnist"), "MNIST files for moving_mnist ('' to skip).")
flags.DEFINE_string("kinetics_data_dir", None, "A built kinetics600 tfds folder (default: build a fake one).")
flags.DEFINE_integer("batch_size", 8, "Clips per batch.")
flags.DEFINE_float("seconds", 10.0, "Measuring time per source (after 2 warm-up batches).")
flags.DEFINE_string("json", None, "Also write the results to this JSON file.")
FLAGS = flags.FLAGS


def measure(ds, batch_size: int, seconds: float) -> float:
  """Clips per second pulled from the tf.data.Dataset `ds` (batches of batch_size) over about `seconds`."""
  it = iter(ds)
  for _ in range(2):
    next(it)
  count, start = 0, time.perf_counter()
  while time.perf_counter() - start < seconds:
    next(it)
    count += batch_size
  return count / (time.perf_counter() - start)


def main(argv):
  del argv
  # TensorFlow and the data modules load here, not for --help (~4 s).
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from trivd_gan.data import fake_data  # pylint: disable=import-outside-toplevel
  from trivd_gan.data import kinetics  # pylint: disable=import-outside-toplevel
  from trivd_gan.data import pipeline  # pylint: disable=import-outside-toplevel

  bs = FLAGS.batch_size
  runs = []
  with tempfile.TemporaryDirectory() as tmp:
    kinetics_dir = FLAGS.kinetics_data_dir
    if kinetics_dir is None and FLAGS.video_dir:
      videos = sorted(
          os.path.join(FLAGS.video_dir, f)
          for f in os.listdir(FLAGS.video_dir)
          if f.endswith((".mp4", ".avi", ".gif")))
      fake_data.write_fake_kinetics(os.path.join(tmp, "k600"),
                                    videos_per_class=4,
                                    corrupt=0,
                                    missing=0,
                                    source_videos=videos)
      start = time.perf_counter()
      kinetics.prepare(os.path.join(tmp, "tfds"), os.path.join(tmp, "k600"))
      logging.info("Built fake Kinetics TFRecords in %.1f s", time.perf_counter() - start)
      kinetics_dir = os.path.join(tmp, "tfds")
    if FLAGS.video_dir:
      runs.append(("video_folder", FLAGS.video_dir, {}))
    if kinetics_dir:
      runs.append(("kinetics600", kinetics_dir, {}))
    runs.append(("synthetic", None, {}))
    runs.append(("synthetic", None, {"mode": "global_translation"}))
    if FLAGS.mnist_dir:
      runs.append(("moving_mnist", FLAGS.mnist_dir, {}))
    results = []
    for name, data_dir, kwargs in runs:
      ds = pipeline.make_dataset(name, "train", data_dir, batch_size=bs, **kwargs)
      rate = measure(ds, bs, FLAGS.seconds)
      label = name + "".join(f" ({k}={v})" for k, v in kwargs.items())
      results.append({"source": label, "clips_per_s": round(rate, 1), "batch_size": bs})
  print(f"\nMachine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
        f"TF {tf.__version__}; training clips of 16x64x64x3, batch {bs}\n")
  print("| source | clips/s |")
  print("|---|---:|")
  for r in results:
    print(f"| {r['source']} | {r['clips_per_s']:.1f} |")
  if FLAGS.json:
    with open(FLAGS.json, "w") as f:
      json.dump({"cpu_count": os.cpu_count(), "results": results}, f, indent=2)


if __name__ == "__main__":
  app.run(main)
