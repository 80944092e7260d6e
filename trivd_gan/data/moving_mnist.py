"""Moving MNIST (Srivastava et al., 2015): two 28x28 digits bouncing inside a 64x64 frame, 20 frames.

Standard recipe: each digit starts at a uniform random position, moves with a fixed step length in a uniform
random direction, bounces off the frame edges (the velocity component that would leave the frame is negated)
and digits are combined with a pixel-wise max.

Digits come from MNIST files the user points at with `--data_dir` (never bundled):
  * train split: `train-images-idx3-ubyte[.gz]` or a CSV `mnist_5k.csv[.gz]` / `mnist_train.csv[.gz]`
    (784 uint8 pixels then the label per row, no header);
  * test/validation split: `t10k-images-idx3-ubyte[.gz]`.
`digits_path=` overrides the file. Sequences are a pure function of (seed, index).

Clips are grayscale repeated to 3 channels, `[T, 64, 64, 3]` float32 in [-1, 1]; label is 0 (no class).
"""

import gzip
import os
from typing import Dict, Optional

import numpy as np
import tensorflow as tf

from trivd_gan.data import preprocessing

TRAIN_FILES = ("train-images-idx3-ubyte.gz", "train-images-idx3-ubyte", "mnist_5k.csv.gz", "mnist_5k.csv",
               "mnist_train.csv.gz", "mnist_train.csv")
TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte")
DIGIT_SIZE = 28
_EVAL_SEED_OFFSET = 1_000_003


def _open(path: str):
  return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


def load_digits(path: str) -> np.ndarray:
  """MNIST images from an IDX3 file or a CSV (784 pixels + label per row, optional .gz): [N, 28, 28] uint8."""
  name = os.path.basename(path).lower()
  if ".csv" in name:
    with _open(path) as f:
      rows = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
    if rows.shape[1] != DIGIT_SIZE * DIGIT_SIZE + 1:
      raise ValueError(f"{path}: expected 785 columns (784 pixels then the label), got {rows.shape[1]}.")
    return rows[:, :-1].astype(np.uint8).reshape(-1, DIGIT_SIZE, DIGIT_SIZE)
  with _open(path) as f:
    data = f.read()
  magic, count, rows, cols = np.frombuffer(data[:16], ">u4")
  if magic != 2051 or rows != DIGIT_SIZE or cols != DIGIT_SIZE:
    raise ValueError(f"{path}: not an MNIST IDX3 image file (magic {magic}, {rows}x{cols}).")
  return np.frombuffer(data[16:16 + count * rows * cols], np.uint8).reshape(count, rows, cols)


def find_digits_file(data_dir: Optional[str], split: str) -> str:
  """Path of the digit file for `split` under data_dir, or a ValueError naming the accepted files."""
  names = TRAIN_FILES if split == "train" else TEST_FILES
  if not data_dir or not os.path.isdir(data_dir):
    raise ValueError(f"moving_mnist needs MNIST files: set --data_dir to a folder holding one of {names} "
                     f"(got {data_dir!r}).")
  for name in names:
    if os.path.isfile(os.path.join(data_dir, name)):
      return os.path.join(data_dir, name)
  raise ValueError(f"No MNIST file for split {split!r} under --data_dir={data_dir!r}; expected one of {names}.")


def sequence(digits: np.ndarray,
             rng: np.random.Generator,
             num_frames: int = 20,
             image_size: int = 64,
             num_digits: int = 2,
             step_length: float = 0.1) -> Dict[str, np.ndarray]:
  """One Moving MNIST sequence (Srivastava et al.'s generator).

  Positions live in [0, 1] per axis, mapped to pixels by `round(p * (image_size - 28))`, so digits are always
  fully inside the frame; a position that would leave [0, 1] is clamped and that velocity component negated.

  Returns:
    dict: "video" [T, S, S] uint8, "positions" [T, num_digits, 2] int32 top-left (y, x) pixels, "velocities"
    [T, num_digits, 2] float32 (velocity used from t to t + 1, normalised units), "digit_ids" [num_digits].
  """
  lim = image_size - DIGIT_SIZE
  if lim < 0:
    raise ValueError(f"image_size must be >= {DIGIT_SIZE}, got {image_size}.")
  ids = rng.integers(0, len(digits), size=num_digits)
  video = np.zeros((num_frames, image_size, image_size), np.uint8)
  positions = np.zeros((num_frames, num_digits, 2), np.int32)
  velocities = np.zeros((num_frames, num_digits, 2), np.float32)
  for n in range(num_digits):
    pos = rng.random(2)
    theta = rng.uniform(0, 2 * np.pi)
    vel = step_length * np.array([np.sin(theta), np.cos(theta)])
    for t in range(num_frames):
      y, x = np.round(pos * lim).astype(np.int32)
      positions[t, n] = (y, x)
      velocities[t, n] = vel
      window = video[t, y:y + DIGIT_SIZE, x:x + DIGIT_SIZE]
      np.maximum(window, digits[ids[n]], out=window)
      pos = pos + vel
      for axis in range(2):
        if pos[axis] < 0:
          pos[axis], vel[axis] = 0.0, -vel[axis]
        elif pos[axis] > 1:
          pos[axis], vel[axis] = 1.0, -vel[axis]
  return {"video": video, "positions": positions, "velocities": velocities, "digit_ids": ids.astype(np.int32)}


def sequence_rng(split: str, seed: int, index: int) -> np.random.Generator:
  """The generator that draws sequence `index` of `split` for `seed` (`make_clips`; evaluation splits are offset
  so that they never repeat a training sequence): sequences are a pure function of (split, seed, index)."""
  return np.random.default_rng([seed + (0 if split == "train" else _EVAL_SEED_OFFSET), int(index)])


def make_clips(spec: preprocessing.ClipSpec,
               *,
               num_examples: Optional[int] = None,
               sequence_length: int = 20,
               num_digits: int = 2,
               step_length: float = 0.1,
               digits_path: Optional[str] = None) -> tf.data.Dataset:
  """Unbatched dataset of {"video": [num_frames, S, S, 3] float32 in [-1, 1], "label": int32 0}.

  `spec` holds the shared arguments (`preprocessing.ClipSpec`); `spec.data_dir` holds the MNIST files of
  `spec.split` (`find_digits_file`) unless `digits_path` names one.
  Each example is a `sequence_length`-frame sequence from which one window of `num_frames` frames (stride
  `frame_stride`) is cut: random start when training, the first frames for evaluation.
  num_examples: None = infinite when training, 10000 for evaluation (the usual test-set size).
  """
  path = digits_path or find_digits_file(spec.data_dir, spec.split)
  digits = load_digits(path)
  if preprocessing.window_span(spec.num_frames, spec.frame_stride) > sequence_length:
    raise ValueError(f"sequence_length={sequence_length} is shorter than a window of {spec.num_frames} frames "
                     f"with stride {spec.frame_stride}; raise sequence_length or lower num_frames.")
  if num_examples is None and not spec.training:
    num_examples = 10000
  indices = tf.data.Dataset.range(num_examples) if num_examples is not None else tf.data.Dataset.counter()
  indices = indices.shard(spec.num_shards, spec.shard_index)

  def _gen(index):
    rng = sequence_rng(spec.split, spec.seed, index)
    video = sequence(digits, rng, sequence_length, spec.image_size, num_digits, step_length)["video"]
    start = preprocessing.window_starts(sequence_length, spec.num_frames, spec.frame_stride, spec.training,
                                        rng)[0]
    return preprocessing.take_window(video, start, spec.num_frames, spec.frame_stride)

  def _map(index):
    video = tf.numpy_function(_gen, [index], tf.uint8, stateful=False)
    video.set_shape([spec.num_frames, spec.image_size, spec.image_size])
    video = tf.repeat(video[..., None], 3, axis=-1)
    return {"video": preprocessing.scale_to_unit_range(video), "label": tf.constant(0, tf.int32)}

  return indices.map(_map, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
