"""Kinetics-600 (paper Sec. 4.1) from the user's local copy, as a tensorflow-datasets builder.

The videos are decoded once (`tfds build` / `prepare`), resized so their smallest side is `image_size` and
stored as JPEG frames in TFRecords; training then only decodes the 16 JPEGs of each window.

Expected manual_dir layout (the official CSVs, any sub-folders under the split folders):

  <manual_dir>/
    annotations/{train,validate,test}.csv   (or directly <manual_dir>/{train,validate,test}.csv)
    train/**/<youtube_id>_<time_start:06d>_<time_end:06d>.<mp4|webm|mkv|avi>
    validate/**/...        (also accepted: val/, validation/)
    test/**/...

CSV columns: label,youtube_id,time_start,time_end,split (extra columns ignored; a missing/empty label is
stored as -1). Splits whose CSV is absent are not built. Videos listed in a CSV but missing on disk
(removed from YouTube) or undecodable are skipped, counted in `Kinetics600.skipped[split]` and reported in one
warning per split.

Build:  python -m trivd_gan.data.kinetics --data_dir=~/tensorflow_datasets --manual_dir=/path/to/kinetics600
   or:  tfds build kinetics600 --imports=trivd_gan.data.kinetics --manual_dir=... --data_dir=...
"""

import collections
import csv
import os
from typing import Dict, List, Optional

from absl import logging
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from trivd_gan.data import preprocessing
from trivd_gan.data import video_folder

# tfds split name -> (CSV stem, accepted video folder names).
SPLITS = {
    "train": ("train", ("train",)),
    "validation": ("validate", ("validate", "val", "validation", "valid")),
    "test": ("test", ("test",)),
}
SPLIT_ALIASES = {
    "train": "train",
    "validation": "validation",
    "validate": "validation",
    "val": "validation",
    "valid": "validation",
    "eval": "validation",
    "test": "test"
}
VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".avi", ".mov")


def clip_key(youtube_id: str, time_start, time_end) -> str:
  """Official file stem `<youtube_id>_<start:06d>_<end:06d>`."""
  return f"{youtube_id}_{int(float(time_start)):06d}_{int(float(time_end)):06d}"


def find_csv(manual_dir: str, stem: str) -> Optional[str]:
  for candidate in (os.path.join(manual_dir, "annotations",
                                 f"{stem}.csv"), os.path.join(manual_dir, f"{stem}.csv")):
    if os.path.isfile(candidate):
      return candidate
  return None


def read_csv(path: str) -> List[Dict[str, str]]:
  with open(path, newline="") as f:
    return list(csv.DictReader(f))


def class_names(manual_dir: str) -> List[str]:
  """Sorted class names of the train CSV (all CSVs if there is no train CSV); label = index in this list."""
  stems = ["train"] if find_csv(manual_dir, "train") else [s for s, _ in SPLITS.values()]
  names = set()
  for stem in stems:
    path = find_csv(manual_dir, stem)
    if path:
      names.update(r.get("label") or "" for r in read_csv(path))
  names.discard("")
  return sorted(names)


def index_videos(folder: str) -> Dict[str, str]:
  """Map file stem -> path for every video under `folder` (recursive)."""
  index = {}
  for root, dirs, files in os.walk(folder, followlinks=True):
    dirs.sort()
    for f in sorted(files):
      stem, ext = os.path.splitext(f)
      if ext.lower() in VIDEO_SUFFIXES:
        index.setdefault(stem, os.path.join(root, f))
  return index


class Kinetics600Config(tfds.core.BuilderConfig):
  """image_size: stored smallest side; max_frames: frames kept per video (10 s at 25 fps = 250)."""

  def __init__(self, *, image_size: int = preprocessing.IMAGE_SIZE, max_frames: int = 300, **kwargs):
    super().__init__(**kwargs)
    self.image_size = image_size
    self.max_frames = max_frames


class Kinetics600(tfds.core.GeneratorBasedBuilder):
  """Kinetics-600 from local videos; features: video [N, H, W, 3] uint8 with min(H, W) == image_size (JPEG
  frames), label int64 (-1 unknown), label_name, youtube_id."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Local Kinetics-600 videos, smallest side resized, JPEG frames."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = __doc__
  BUILDER_CONFIGS = [
      Kinetics600Config(name="64",
                        image_size=64,
                        max_frames=300,
                        description="Smallest side 64, at most 300 frames per video."),
  ]

  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    self.skipped: Dict[str, collections.Counter] = {}

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            "video": tfds.features.Video(shape=(None, None, None, 3), encoding_format="jpeg"),
            "label": tfds.features.Scalar(dtype=np.int64),
            "label_name": tfds.features.Text(),
            "youtube_id": tfds.features.Text(),
        }),
        supervised_keys=("video", "label"),
        homepage="https://github.com/cvdfoundation/kinetics-dataset",
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    manual_dir = os.fspath(dl_manager.manual_dir)
    names = class_names(manual_dir)
    generators = {}
    for split, (stem, folders) in SPLITS.items():
      csv_path = find_csv(manual_dir, stem)
      if csv_path is None:
        continue
      video_dir = next(
          (os.path.join(manual_dir, f) for f in folders if os.path.isdir(os.path.join(manual_dir, f))), None)
      generators[split] = self._generate_examples(split, csv_path, video_dir, names)
    if not generators:
      raise ValueError(f"No Kinetics CSV (train/validate/test.csv) in --manual_dir={manual_dir!r} or its "
                       "annotations/ folder; see trivd_gan/data/kinetics.py for the layout.")
    return generators

  def _generate_examples(self, split: str, csv_path: str, video_dir: Optional[str], names: List[str]):
    label_index = {n: i for i, n in enumerate(names)}
    videos = index_videos(video_dir) if video_dir else {}
    counts = self.skipped.setdefault(split, collections.Counter())
    stats = video_folder.DecodeStats()
    for row in read_csv(csv_path):
      key = clip_key(row["youtube_id"], row["time_start"], row["time_end"])
      path = videos.get(key)
      if path is None:
        counts["missing"] += 1
        continue
      try:
        video = video_folder.decode_video(path, self.builder_config.image_size, self.builder_config.max_frames,
                                          stats)
      except video_folder.VideoDecodeError as e:
        logging.debug("Skipping %s", e)
        counts["corrupt"] += 1
        continue
      counts["ok"] += 1
      label_name = row.get("label") or ""
      yield key, {
          "video": video,
          "label": label_index.get(label_name, -1),
          "label_name": label_name,
          "youtube_id": row["youtube_id"]
      }
    if stats.counts.get("truncated"):
      counts["truncated_kept"] = stats.counts["truncated"]
    bad = {k: v for k, v in counts.items() if k != "ok"}
    if bad:
      logging.warning("kinetics600 %s: %d video(s) written, skipped: %s", split, counts["ok"],
                      dict(sorted(bad.items())))


def prepare(data_dir: Optional[str], manual_dir: str, config: str = "64") -> Kinetics600:
  """Builds the TFRecords once (no network); returns the builder (its `skipped` holds per-split counters)."""
  if not manual_dir or not any(find_csv(manual_dir, stem) for stem, _ in SPLITS.values()):
    raise ValueError(
        f"No Kinetics CSV (train/validate/test.csv) in --manual_dir={manual_dir!r} or its annotations/ "
        "folder; see trivd_gan/data/kinetics.py for the layout.")
  builder = Kinetics600(data_dir=data_dir, config=config)
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
  return builder


def load_builder(data_dir: Optional[str],
                 config: str = "64",
                 manual_dir: Optional[str] = None,
                 prepare_if_missing: bool = False) -> Kinetics600:
  if not data_dir:
    raise ValueError("kinetics600 needs --data_dir (the tensorflow-datasets folder holding the built data).")
  builder = Kinetics600(data_dir=data_dir, config=config)
  if not builder.is_prepared():
    if manual_dir and prepare_if_missing:
      return prepare(data_dir, manual_dir, config)
    raise ValueError(
        f"kinetics600 is not built under --data_dir={data_dir!r}: run `python -m "
        "trivd_gan.data.kinetics --data_dir=<that dir> --manual_dir=<your Kinetics-600 copy>` first "
        "(or pass manual_dir=... and prepare_if_missing=True).")
  return builder


def read_tfds_videos(builder: tfds.core.DatasetBuilder,
                     split: str,
                     training: bool,
                     seed: int,
                     shard_index: int,
                     num_shards: int,
                     video_key: str = "video") -> tf.data.Dataset:
  """Examples with `video_key` left JPEG-encoded ([N] strings), sharded per input pipeline."""
  decoders = {video_key: tfds.decode.SkipDecoding()}
  context = tf.distribute.InputContext(num_input_pipelines=num_shards, input_pipeline_id=shard_index)
  try:
    return builder.as_dataset(split=split,
                              shuffle_files=training,
                              decoders=decoders,
                              read_config=tfds.ReadConfig(input_context=context if num_shards > 1 else None,
                                                          shuffle_seed=seed))
  except ValueError:  # Fewer files than pipelines: fall back to sharding examples.
    ds = builder.as_dataset(split=split,
                            shuffle_files=training,
                            decoders=decoders,
                            read_config=tfds.ReadConfig(shuffle_seed=seed))
    return ds.shard(num_shards, shard_index)


def make_clips(spec: preprocessing.ClipSpec,
               *,
               config: str = "64",
               manual_dir: Optional[str] = None,
               prepare_if_missing: bool = False) -> tf.data.Dataset:
  """Unbatched dataset of {"video": [num_frames, S, S, 3] float32 in [-1, 1], "label": int32 (-1 unknown)}.

  `spec` holds the shared arguments (`preprocessing.ClipSpec`); `spec.split` is one of SPLIT_ALIASES and
  `spec.data_dir` the tensorflow-datasets folder. Videos shorter than one window are dropped (in-graph, so they
  are not counted). Training repeats forever.
  """
  if spec.split not in SPLIT_ALIASES:
    raise ValueError(f"Unknown kinetics600 split {spec.split!r}; use one of {sorted(SPLIT_ALIASES)}.")
  builder = load_builder(spec.data_dir, config, manual_dir, prepare_if_missing)
  ds = read_tfds_videos(builder, SPLIT_ALIASES[spec.split], spec.training, spec.seed, spec.shard_index,
                        spec.num_shards)
  if spec.training:
    ds = ds.repeat()
  span = preprocessing.window_span(spec.num_frames, spec.frame_stride)
  ds = ds.filter(lambda ex: tf.shape(ex["video"])[0] >= span)
  crop_seed = spec.seed if spec.training else None

  def _map(ex):
    video = preprocessing.decode_jpeg_window(ex["video"], spec.num_frames, spec.frame_stride, spec.training,
                                             crop_seed)
    return {
        "video": preprocessing.preprocess_clip(video, spec.image_size, spec.training, crop_seed),
        "label": tf.cast(ex["label"], tf.int32)
    }

  return ds.map(_map, num_parallel_calls=tf.data.AUTOTUNE, deterministic=not spec.training)


def main(argv):
  del argv
  from absl import flags  # pylint: disable=g-import-not-at-top
  builder = prepare(flags.FLAGS.data_dir, flags.FLAGS.manual_dir, flags.FLAGS.config)
  for split, counts in builder.skipped.items():
    print(f"{split}: {dict(counts)}")


if __name__ == "__main__":
  from absl import app, flags  # pylint: disable=g-import-not-at-top,g-multiple-import
  flags.DEFINE_string("data_dir", None, "tensorflow-datasets folder to write the TFRecords to.", required=True)
  flags.DEFINE_string("manual_dir", None, "Your Kinetics-600 copy (CSV files + split folders).", required=True)
  flags.DEFINE_string("config", "64", "Builder config (smallest side).")
  app.run(main)
