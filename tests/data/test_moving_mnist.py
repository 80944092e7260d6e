"""Moving MNIST (Srivastava et al.): loading both file formats, digits inside the frame, bounces.

MNIST-format files (IDX3 and CSV) of synthetic digit-like strokes are written here, so these tests need no
data outside the repository; one test checks the real MNIST files of the shared data folder when present.
"""

import gzip
import os

import numpy as np
import pytest

from trivd_gan import data
from trivd_gan.data import moving_mnist as mm
from tests import data_paths


def fake_digits(count, seed):
  """[count, 28, 28] uint8 digit-like images: a bright ring and a stroke on a black border (like MNIST)."""
  rng = np.random.default_rng(seed)
  y, x = np.mgrid[:28, :28].astype(np.float32)
  digits = np.zeros((count, 28, 28), np.uint8)
  for i in range(count):
    cy, cx, ry, rx = rng.uniform(12, 16), rng.uniform(12, 16), rng.uniform(4, 8), rng.uniform(3, 6)
    ring = np.abs(np.hypot((y - cy) / ry, (x - cx) / rx) - 1.0) * min(ry, rx)
    stroke = np.abs(x - cx - (y - cy) * rng.uniform(-0.5, 0.5)) + np.maximum(np.abs(y - cy) - 9, 0) * 4
    ink = np.clip(1.5 - np.minimum(ring, stroke), 0.0, 1.0)
    ink[:3], ink[-3:], ink[:, :3], ink[:, -3:] = 0, 0, 0, 0
    digits[i] = np.round(255 * ink).astype(np.uint8)
  return digits


def write_idx3_gz(path, digits):
  header = np.array([2051, len(digits), 28, 28], ">u4").tobytes()
  with gzip.open(path, "wb") as f:
    f.write(header + digits.tobytes())


def write_csv_gz(path, digits):
  rows = np.concatenate([digits.reshape(len(digits), -1), np.arange(len(digits))[:, None] % 10], axis=1)
  with gzip.open(path, "wt") as f:
    np.savetxt(f, rows, fmt="%d", delimiter=",")


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
  """A folder with mnist_5k.csv.gz (200 training digits) and t10k-images-idx3-ubyte.gz (100 test digits)."""
  root = tmp_path_factory.mktemp("mnist")
  write_csv_gz(str(root / "mnist_5k.csv.gz"), fake_digits(200, seed=0))
  write_idx3_gz(str(root / "t10k-images-idx3-ubyte.gz"), fake_digits(100, seed=1))
  return str(root)


@pytest.fixture(scope="module")
def train_digits(mnist_dir):
  return mm.load_digits(os.path.join(mnist_dir, "mnist_5k.csv.gz"))


def test_load_both_formats(mnist_dir, train_digits):
  np.testing.assert_array_equal(train_digits, fake_digits(200, seed=0))
  test = mm.load_digits(os.path.join(mnist_dir, "t10k-images-idx3-ubyte.gz"))
  np.testing.assert_array_equal(test, fake_digits(100, seed=1))
  for digits in (train_digits, test):  # Digit-like: dark borders, bright strokes.
    assert digits.max() == 255 and digits[:, 0, :].mean() < 1 and 20 < digits.mean() < 50


def test_shared_mnist_files():
  mnist = data_paths.shared_data("mnist")  # the real digits (not in the repository)
  train = mm.load_digits(os.path.join(mnist, "mnist_5k.csv.gz"))
  test = mm.load_digits(os.path.join(mnist, "t10k-images-idx3-ubyte.gz"))
  assert train.shape == (5000, 28, 28) and train.dtype == np.uint8 and test.shape == (10000, 28, 28)
  for digits in (train, test):  # Real digits: dark borders, bright strokes.
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


def test_dataset_shapes_and_deterministic_eval(mnist_dir):
  kwargs = dict(data_dir=mnist_dir, batch_size=4, num_frames=10, num_examples=8)
  a = [b["video"].numpy() for b in data.make_dataset("moving_mnist", "test", **kwargs)]
  b = [b["video"].numpy() for b in data.make_dataset("moving_mnist", "test", **kwargs)]
  assert len(a) == 2 and a[0].shape == (4, 10, 64, 64, 3)
  np.testing.assert_array_equal(a[0], b[0])
  assert a[0].min() == -1 and a[0].max() <= 1
  np.testing.assert_array_equal(a[0][..., 0], a[0][..., 2])  # Grayscale repeated to RGB.
  train = next(iter(data.make_dataset("moving_mnist", "train", data_dir=mnist_dir, batch_size=2)))
  assert train["video"].shape == (2, 16, 64, 64, 3)
  with pytest.raises(ValueError, match="sequence_length"):
    data.make_dataset("moving_mnist", "test", data_dir=mnist_dir, batch_size=2, num_frames=21)
