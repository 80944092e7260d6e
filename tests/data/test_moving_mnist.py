"""Moving MNIST (Srivastava et al.) from the shared MNIST files: loading, digits inside the frame, bounces."""

import gzip
import os

import numpy as np
import pytest

from trivd_gan import data
from trivd_gan.data import moving_mnist as mm

MNIST_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "mnist")
if not os.path.isdir(MNIST_DIR):
  MNIST_DIR = "/work/shared/data/mnist"


@pytest.fixture(scope="module")
def train_digits():
  return mm.load_digits(os.path.join(MNIST_DIR, "mnist_5k.csv.gz"))


def test_load_both_formats(train_digits):
  assert train_digits.shape == (5000, 28, 28) and train_digits.dtype == np.uint8
  test = mm.load_digits(os.path.join(MNIST_DIR, "t10k-images-idx3-ubyte.gz"))
  assert test.shape == (10000, 28, 28)
  for digits in (train_digits, test):  # Real digits: dark borders, bright strokes.
    assert digits.max() == 255 and digits[:, 0, :].mean() < 1 and 20 < digits.mean() < 50


def test_bad_files(tmp_path):
  bad = tmp_path / "mnist_5k.csv.gz"
  with gzip.open(bad, "wt") as f:
    f.write("1,2,3\n")
  with pytest.raises(ValueError, match="785 columns"):
    mm.load_digits(str(bad))
  with pytest.raises(ValueError, match="--data_dir"):
    mm.find_digits_file(str(tmp_path / "nope"), "train")
  with pytest.raises(ValueError, match="t10k"):
    mm.find_digits_file(str(tmp_path), "test")


def test_digits_stay_inside_frame(train_digits):
  for seed in range(20):
    out = mm.sequence(train_digits, np.random.default_rng(seed), num_frames=20, num_digits=1)
    digit = train_digits[out["digit_ids"][0]]
    assert out["positions"].min() >= 0 and out["positions"].max() <= 64 - 28
    # Nothing is cut off: every frame holds the whole digit.
    np.testing.assert_array_equal(out["video"].reshape(20, -1).sum(1),
                                  np.full(20,
                                          digit.astype(np.int64).sum()))


def test_frames_are_max_of_placed_digits(train_digits):
  out = mm.sequence(train_digits, np.random.default_rng(1), num_frames=10, num_digits=2)
  for t in range(10):
    canvas = np.zeros((2, 64, 64), np.uint8)
    for n in range(2):
      y, x = out["positions"][t, n]
      canvas[n, y:y + 28, x:x + 28] = train_digits[out["digit_ids"][n]]
    np.testing.assert_array_equal(out["video"][t], canvas.max(0))


def test_digits_bounce_off_edges(train_digits):
  bounces = 0
  for seed in range(30):
    out = mm.sequence(train_digits, np.random.default_rng(seed), num_frames=20, num_digits=2, step_length=0.1)
    pos, vel = out["positions"], out["velocities"]
    np.testing.assert_allclose(np.linalg.norm(vel, axis=-1), 0.1, rtol=1e-5)  # Constant speed.
    for t in range(19):
      flipped = np.sign(vel[t + 1]) == -np.sign(vel[t])
      at_edge = (pos[t + 1] == 0) | (pos[t + 1] == 64 - 28)
      # A velocity component flips exactly when the digit reaches an edge.
      assert np.all(flipped <= at_edge)
      bounces += int(flipped.sum())
      step = np.abs(pos[t + 1] - pos[t])
      assert np.all(step <= np.ceil(0.1 * 36) + 1)
  assert bounces > 10


def test_dataset_shapes_and_deterministic_eval():
  kwargs = dict(data_dir=MNIST_DIR, batch_size=4, num_frames=10, num_examples=8)
  a = [b["video"].numpy() for b in data.make_dataset("moving_mnist", "test", **kwargs)]
  b = [b["video"].numpy() for b in data.make_dataset("moving_mnist", "test", **kwargs)]
  assert len(a) == 2 and a[0].shape == (4, 10, 64, 64, 3)
  np.testing.assert_array_equal(a[0], b[0])
  assert a[0].min() == -1 and a[0].max() <= 1
  np.testing.assert_array_equal(a[0][..., 0], a[0][..., 2])  # Grayscale repeated to RGB.
  train = next(iter(data.make_dataset("moving_mnist", "train", data_dir=MNIST_DIR, batch_size=2)))
  assert train["video"].shape == (2, 16, 64, 64, 3)
  with pytest.raises(ValueError, match="sequence_length"):
    data.make_dataset("moving_mnist", "test", data_dir=MNIST_DIR, batch_size=2, num_frames=21)
