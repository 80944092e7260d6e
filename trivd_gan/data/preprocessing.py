"""Shared clip preprocessing (paper Sec. 4.1 and App. E.2).

Real clips are resized so that their smallest side is 64 (bilinear), randomly cropped to 64x64 during training
(center-cropped for evaluation) and scaled to [-1, 1]. Windows of `num_frames` frames, `frame_stride` apart, are
drawn at random positions for training and at deterministic, evenly spaced positions for evaluation.

All functions take and return `[T, H, W, C]` clips; shapes and ranges are given per function. `ClipSpec` holds
the arguments every source's `make_clips` shares.
"""

import dataclasses
from typing import List, Optional

import numpy as np
import tensorflow as tf

IMAGE_SIZE = 64


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClipSpec:
  """The clips a source is asked for: what every source of `pipeline.SOURCES` shares. `make_dataset` builds
  one; each source is called as `make_clips(spec, *, <its own options>)`. Keyword arguments only.

  Attributes:
    split: "train" or an evaluation split ("test", "validation"; sources document what they accept).
    data_dir: the source's folder (`--data_dir`); unused by "synthetic".
    num_frames: frames per clip, >= 1: 16 = 5 context + 11 predicted (Kinetics) or 1 + 15 (BAIR) (Sec. 4.1,
      App. C.1).
    frame_stride: take every `frame_stride`-th frame, >= 1.
    image_size: output side in pixels (64 in the paper): clips are [num_frames, image_size, image_size, 3].
    training: random windows and crops, shuffled files, infinite repetition. False gives a finite,
      deterministic dataset (same clips in the same order every time). `make_dataset` defaults it to
      split == "train".
    seed: seeds file order, windows, crops and synthetic content (`make_dataset` offsets it per training shard).
    shard_index: the input pipeline reading these clips, in [0, num_shards) (`input_context.input_pipeline_id`).
    num_shards: input pipelines, >= 1 (`input_context.num_input_pipelines`); each reads its own shard.
  """
  split: str = "train"
  data_dir: Optional[str] = None
  num_frames: int = 16
  frame_stride: int = 1
  image_size: int = IMAGE_SIZE
  training: bool = True
  seed: int = 0
  shard_index: int = 0
  num_shards: int = 1

  def __post_init__(self):
    # Every source rejected these already (through `window_span`); here the error comes first, naming the field.
    if self.num_frames < 1:
      raise ValueError(f"ClipSpec.num_frames must be >= 1 (frames per clip), got {self.num_frames}; pass e.g. "
                       "num_frames=16.")
    if self.frame_stride < 1:
      raise ValueError(f"ClipSpec.frame_stride must be >= 1 (1 takes every frame, 2 every other one), got "
                       f"{self.frame_stride}.")


def window_span(num_frames: int, frame_stride: int = 1) -> int:
  """Number of source frames covered by a window of `num_frames` frames taken every `frame_stride` frames."""
  if num_frames < 1 or frame_stride < 1:
    raise ValueError(f"num_frames ({num_frames}) and frame_stride ({frame_stride}) must both be >= 1.")
  return (num_frames - 1) * frame_stride + 1


def window_starts(num_available: int,
                  num_frames: int,
                  frame_stride: int = 1,
                  training: bool = True,
                  rng: Optional[np.random.Generator] = None,
                  num_windows: int = 1) -> List[int]:
  """First-frame indices of the windows to cut from a video of `num_available` frames.

  Training: `num_windows` independent uniform starts in [0, num_available - span] (needs `rng`).
  Evaluation: `num_windows` deterministic starts evenly spaced over the same range; with one window it is the
  first one (start 0), so the same video always gives the same clip.

  Returns:
    A list of ints; empty when the video is shorter than one window.
  """
  span = window_span(num_frames, frame_stride)
  if num_available < span:
    return []
  max_start = num_available - span
  if training:
    if rng is None:
      raise ValueError("window_starts(training=True) needs an `rng` (np.random.Generator).")
    return [int(s) for s in rng.integers(0, max_start + 1, size=num_windows)]
  return sorted({int(round(s)) for s in np.linspace(0, max_start, num_windows)})


def take_window(frames, start: int, num_frames: int, frame_stride: int = 1):
  """Frames `start, start + stride, ...` (num_frames of them) of an array or tensor of shape [N, ...]."""
  return frames[start:start + window_span(num_frames, frame_stride):frame_stride]


def tf_window_indices(num_available,
                      num_frames: int,
                      frame_stride: int = 1,
                      training: bool = True,
                      seed: Optional[int] = None):
  """Graph version of `window_starts` for one window: int32 indices [num_frames] into a video of
  `num_available` (scalar int tensor, >= span) frames; random start for training, start 0 for evaluation."""
  span = window_span(num_frames, frame_stride)
  num_available = tf.cast(num_available, tf.int32)
  if training:
    start = tf.random.uniform([], 0, num_available - span + 1, dtype=tf.int32, seed=seed)
  else:
    start = tf.constant(0, tf.int32)
  return start + frame_stride * tf.range(num_frames, dtype=tf.int32)


def decode_jpeg_window(encoded_frames: tf.Tensor,
                       num_frames: int,
                       frame_stride: int = 1,
                       training: bool = True,
                       seed: Optional[int] = None) -> tf.Tensor:
  """[N] JPEG/PNG frame strings (N >= span) -> [num_frames, H, W, 3] uint8 of one window (`tf_window_indices`);
  only the window's frames are decoded, which is what makes reading stored videos fast."""
  indices = tf_window_indices(tf.shape(encoded_frames)[0], num_frames, frame_stride, training, seed)
  frames = tf.gather(encoded_frames, indices)
  return tf.map_fn(lambda f: tf.io.decode_image(f, channels=3, expand_animations=False),
                   frames,
                   fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8))


def ensure_rgb(video: tf.Tensor) -> tf.Tensor:
  """[T, H, W, C] with C in {1, 3, 4} -> [T, H, W, 3]: grayscale is repeated, alpha dropped."""
  channels = video.shape[-1]
  if channels == 3:
    return video
  if channels == 1:
    return tf.repeat(video, 3, axis=-1)
  if channels == 4:
    return video[..., :3]
  raise ValueError(f"Videos must have 1, 3 or 4 channels, got shape {video.shape}.")


def resize_smallest_side(video: tf.Tensor, size: int = IMAGE_SIZE) -> tf.Tensor:
  """Bilinear resize so that min(H, W) == size, keeping the aspect ratio (App. E.2).

  Args:
    video: [T, H, W, C] numeric, any range.
  Returns:
    [T, H', W', C] float32 in the input's range; unchanged (only cast) when min(H, W) is already `size`.
  """
  video = tf.cast(video, tf.float32)
  shape = tf.shape(video)
  height, width = shape[1], shape[2]
  smallest = tf.minimum(height, width)

  def _resize():
    scale = tf.cast(size, tf.float32) / tf.cast(smallest, tf.float32)
    new_h = tf.maximum(size, tf.cast(tf.round(tf.cast(height, tf.float32) * scale), tf.int32))
    new_w = tf.maximum(size, tf.cast(tf.round(tf.cast(width, tf.float32) * scale), tf.int32))
    # antialias keeps the bilinear kernel but widens it when downscaling (e.g. 720p), avoiding aliasing.
    return tf.image.resize(video, tf.stack([new_h, new_w]), method="bilinear", antialias=True)

  return tf.cond(tf.equal(smallest, size), lambda: video, _resize)


def crop(video: tf.Tensor, size: int = IMAGE_SIZE, training: bool = True, seed: Optional[int] = None):
  """Random (training) or center (evaluation) crop of [T, H, W, C] (H, W >= size) to [T, size, size, C]."""
  shape = tf.shape(video)
  if training:
    return tf.image.random_crop(video, tf.stack([shape[0], size, size, shape[3]]), seed=seed)
  top = (shape[1] - size) // 2
  left = (shape[2] - size) // 2
  return video[:, top:top + size, left:left + size, :]


def scale_to_unit_range(video: tf.Tensor) -> tf.Tensor:
  """[0, 255] (uint8 or float) -> float32 in [-1, 1]."""
  return tf.clip_by_value(tf.cast(video, tf.float32) / 127.5 - 1.0, -1.0, 1.0)


def preprocess_clip(video: tf.Tensor,
                    image_size: int = IMAGE_SIZE,
                    training: bool = True,
                    seed: Optional[int] = None) -> tf.Tensor:
  """Full per-clip preprocessing of App. E.2.

  Args:
    video: [T, H, W, C] uint8 (or float in [0, 255]), C in {1, 3, 4}, any H, W >= 1.
    image_size: output side.
    training: random crop if True, center crop otherwise.
    seed: op-level seed for the random crop.
  Returns:
    [T, image_size, image_size, 3] float32 in [-1, 1].
  """
  num_frames = video.shape[0]
  video = ensure_rgb(video)
  video = resize_smallest_side(video, image_size)
  video = crop(video, image_size, training=training, seed=seed)
  video = scale_to_unit_range(video)
  video.set_shape([num_frames, image_size, image_size, 3])
  return video


def smallest_side_shape(height: int, width: int, size: int = IMAGE_SIZE):
  """(h, w) with min(h, w) == size and the aspect ratio of (height, width); used to resize while decoding."""
  if height <= 0 or width <= 0:
    raise ValueError(f"Frame size must be positive, got {height}x{width}.")
  scale = size / min(height, width)
  return max(size, int(round(height * scale))), max(size, int(round(width * scale)))
