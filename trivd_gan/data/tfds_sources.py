"""UCF-101 (paper App. C.2) and BAIR Robot Pushing (App. C.1) through the tensorflow-datasets builders
`ucf101` and `bair_robot_pushing_small`, read from the user's `--data_dir` (a tfds data folder).

Nothing is downloaded unless `download=True`; otherwise an unbuilt data set is a ValueError telling how to
build it (`tfds build ucf101 --data_dir=...`, optionally with `--manual_dir` holding the archives).

BAIR: 30-frame 64x64 videos ("image_main"); the paper conditions on 1 frame and predicts 15 (16-frame windows).
`balanced=True` uses the balanced split of App. C.1: the first 70% of the original train set for training; the
remaining 30% plus the 256 original test videos for evaluation.

UCF-101: `ucf101_1_256` (256x256, split 1) by default; labels are the 101 class indices.
"""

from typing import Dict, Optional, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from trivd_gan.data import preprocessing

BAIR_NAME = "bair_robot_pushing_small"
UCF101_NAME = "ucf101"
BAIR_NUM_TRAIN = 43264
BAIR_NUM_TEST = 256
BAIR_TRAIN_FRACTION = 0.7
EVAL_SPLITS = ("test", "eval", "validation", "val")


def balanced_bair_num_train(num_train: int = BAIR_NUM_TRAIN,
                            train_fraction: float = BAIR_TRAIN_FRACTION) -> int:
  """Number of original-train videos kept for training: floor(fraction * num_train) (30284 for BAIR)."""
  if not 0 < train_fraction < 1:
    raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}.")
  return int(np.floor(num_train * train_fraction + 1e-9))


def balanced_bair_indices(num_train: int = BAIR_NUM_TRAIN,
                          num_test: int = BAIR_NUM_TEST,
                          train_fraction: float = BAIR_TRAIN_FRACTION) -> Dict[str, Dict[str, np.ndarray]]:
  """App. C.1 split over example indices of the original splits.

  Returns:
    {"train": {"train": idx}, "test": {"train": idx, "test": idx}}: for each new split, the indices taken from
    each original split ("train" 0..num_train-1, "test" 0..num_test-1).
  """
  k = balanced_bair_num_train(num_train, train_fraction)
  return {
      "train": {
          "train": np.arange(k)
      },
      "test": {
          "train": np.arange(k, num_train),
          "test": np.arange(num_test)
      }
  }


def balanced_bair_tfds_splits(num_train: int = BAIR_NUM_TRAIN,
                              train_fraction: float = BAIR_TRAIN_FRACTION) -> Dict[str, str]:
  """The same split as tfds split strings: {"train": "train[:30284]", "test": "train[30284:]+test"}."""
  k = balanced_bair_num_train(num_train, train_fraction)
  return {"train": f"train[:{k}]", "test": f"train[{k}:]+test"}


def balanced_split_datasets(
    train: tf.data.Dataset,
    test: tf.data.Dataset,
    num_train: int,
    train_fraction: float = BAIR_TRAIN_FRACTION) -> Tuple[tf.data.Dataset, tf.data.Dataset]:
  """App. C.1 over datasets in their original order: (first 70% of train, rest of train followed by test)."""
  k = balanced_bair_num_train(num_train, train_fraction)
  return train.take(k), train.skip(k).concatenate(test)


def tfds_split(name: str, split: str, balanced: bool = False) -> str:
  """Our split name ("train", or an evaluation split) -> the tfds split string to read."""
  if split not in ("train",) + EVAL_SPLITS:
    raise ValueError(f"Unknown split {split!r}; use 'train' or one of {EVAL_SPLITS}.")
  is_train = split == "train"
  if name == BAIR_NAME and balanced:
    return balanced_bair_tfds_splits()["train" if is_train else "test"]
  return "train" if is_train else "test"


def load_builder(name: str,
                 data_dir: Optional[str],
                 config: Optional[str] = None,
                 download: bool = False,
                 manual_dir: Optional[str] = None) -> tfds.core.DatasetBuilder:
  """tfds builder for `name` under data_dir; builds it only when download=True."""
  if not data_dir:
    raise ValueError(f"{name} needs --data_dir: the tensorflow-datasets folder holding the built data set.")
  full_name = f"{name}/{config}" if config else name
  builder = tfds.builder(full_name, data_dir=data_dir)
  if not builder.is_prepared():
    if not download:
      raise ValueError(
          f"{full_name} is not built under --data_dir={data_dir!r}. Build it once with `tfds build "
          f"{full_name} --data_dir={data_dir}` (add --manual_dir if you have the archives) or pass "
          "download=True.")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
  return builder


def _read(builder, split: str, training: bool, seed: int, shard_index: int, num_shards: int, decoders=None):
  context = tf.distribute.InputContext(num_input_pipelines=num_shards, input_pipeline_id=shard_index)
  kwargs = dict(split=split, shuffle_files=training, decoders=decoders)
  try:
    return builder.as_dataset(read_config=tfds.ReadConfig(input_context=context if num_shards > 1 else None,
                                                          shuffle_seed=seed),
                              **kwargs)
  except ValueError:  # Fewer files than input pipelines.
    return builder.as_dataset(read_config=tfds.ReadConfig(shuffle_seed=seed),
                              **kwargs).shard(num_shards, shard_index)


def video_to_clip(video: tf.Tensor,
                  label,
                  num_frames: int,
                  frame_stride: int,
                  image_size: int,
                  training: bool,
                  seed: Optional[int] = None) -> Dict[str, tf.Tensor]:
  """[N, H, W, 3] uint8 video (N >= span) -> {"video": [num_frames, S, S, 3] float32 in [-1, 1], "label"}."""
  indices = preprocessing.tf_window_indices(tf.shape(video)[0], num_frames, frame_stride, training, seed)
  clip = tf.gather(video, indices)
  clip.set_shape([num_frames] + video.shape[1:].as_list())
  return {
      "video": preprocessing.preprocess_clip(clip, image_size, training, seed),
      "label": tf.cast(label, tf.int32)
  }


def bair_example_to_clip(example,
                         num_frames: int = 16,
                         frame_stride: int = 1,
                         image_size: int = preprocessing.IMAGE_SIZE,
                         training: bool = True,
                         seed: Optional[int] = None):
  """bair_robot_pushing_small example ({"image_main": [30, 64, 64, 3] uint8, ...}) -> clip dict, label 0."""
  return video_to_clip(example["image_main"], 0, num_frames, frame_stride, image_size, training, seed)


def ucf101_example_to_clip(example,
                           num_frames: int = 16,
                           frame_stride: int = 1,
                           image_size: int = preprocessing.IMAGE_SIZE,
                           training: bool = True,
                           seed: Optional[int] = None):
  """ucf101 example ({"video": [N, H, W, 3] uint8 or [N] encoded frames, "label": int64}) -> clip dict."""
  video = example["video"]
  if video.dtype == tf.string:  # Read with SkipDecoding: decode only the window's frames.
    clip = preprocessing.decode_jpeg_window(video, num_frames, frame_stride, training, seed)
    return {
        "video": preprocessing.preprocess_clip(clip, image_size, training, seed),
        "label": tf.cast(example["label"], tf.int32)
    }
  return video_to_clip(video, example["label"], num_frames, frame_stride, image_size, training, seed)


def _make(name,
          *,
          spec: preprocessing.ClipSpec,
          to_clip,
          video_key,
          config,
          download,
          manual_dir,
          balanced=False,
          decoders=None):
  builder = load_builder(name, spec.data_dir, config, download, manual_dir)
  ds = _read(builder, tfds_split(name, spec.split, balanced), spec.training, spec.seed, spec.shard_index,
             spec.num_shards, decoders)
  if spec.training:
    ds = ds.repeat()
  span = preprocessing.window_span(spec.num_frames, spec.frame_stride)
  ds = ds.filter(lambda ex: tf.shape(ex[video_key])[0] >= span)
  crop_seed = spec.seed if spec.training else None
  return ds.map(lambda ex: to_clip(ex, spec.num_frames, spec.frame_stride, spec.image_size, spec.training,
                                   crop_seed),
                num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=not spec.training)


def make_bair_clips(spec: preprocessing.ClipSpec,
                    *,
                    balanced: bool = False,
                    download: bool = False,
                    manual_dir: Optional[str] = None) -> tf.data.Dataset:
  """Unbatched BAIR clips {"video": [T, S, S, 3] float32 in [-1, 1], "label": 0}; balanced: App. C.1 split.

  `spec` holds the shared arguments (`preprocessing.ClipSpec`); spec.data_dir is the tensorflow-datasets folder.
  """
  return _make(BAIR_NAME, spec=spec, to_clip=bair_example_to_clip, video_key="image_main", config=None,
               download=download, manual_dir=manual_dir, balanced=balanced)


def make_ucf101_clips(spec: preprocessing.ClipSpec,
                      *,
                      config: str = "ucf101_1_256",
                      download: bool = False,
                      manual_dir: Optional[str] = None) -> tf.data.Dataset:
  """Unbatched UCF-101 clips {"video": [T, S, S, 3] float32 in [-1, 1], "label": int32 class index}.

  `spec` holds the shared arguments (`preprocessing.ClipSpec`); spec.data_dir is the tensorflow-datasets folder.
  """
  return _make(UCF101_NAME, spec=spec, to_clip=ucf101_example_to_clip, video_key="video", config=config,
               download=download, manual_dir=manual_dir, decoders={"video": tfds.decode.SkipDecoding()})
