"""Synthetic source: determinism by seed and ground-truth motion consistent with the frames."""

import os

import numpy as np
import pytest

from trivd_gan import data
from trivd_gan.data import synthetic


def shifted_pair(a, b, v):
  """Overlapping parts of frames a (time t) and b (t + 1) when content moves by v = (dy, dx)."""
  dy, dx = int(v[0]), int(v[1])
  h, w = a.shape[:2]
  a_part = a[max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
  b_part = b[max(0, dy):h - max(0, -dy), max(0, dx):w - max(0, -dx)]
  return a_part, b_part


def test_deterministic_by_seed_and_index():
  a = synthetic.generate(seed=3, index=5)
  b = synthetic.generate(seed=3, index=5)
  c = synthetic.generate(seed=4, index=5)
  np.testing.assert_array_equal(a["video"], b["video"])
  assert not np.array_equal(a["video"], c["video"])
  assert a["video"].shape == (16, 64, 64, 3) and a["video"].dtype == np.uint8


def test_texture_is_a_sum_of_gratings_drawn_channel_by_channel():
  """`_texture` computes its gratings separably; check it against the direct per-pixel formula, with the
  parameters drawn in the documented order (per channel: frequencies, angles, phases, base, amplitude)."""
  height, width, gratings = 23, 31, 3
  rng = np.random.default_rng(11)
  yy, xx = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
  expected = np.empty((height, width, 3))
  for c in range(3):
    freq = rng.uniform(0.03, 0.2, gratings) * 2 * np.pi
    theta, phase = rng.uniform(0, np.pi, gratings), rng.uniform(0, 2 * np.pi, gratings)
    acc = sum(np.sin(f * (np.cos(t) * xx + np.sin(t) * yy) + p) for f, t, p in zip(freq, theta, phase))
    base, amplitude = rng.uniform(60, 196), rng.uniform(30, 60)
    expected[..., c] = np.clip(base + amplitude * acc / gratings, 0, 255)
  texture = synthetic._texture(np.random.default_rng(11), height, width, num_gratings=gratings)
  assert texture.shape == (height, width, 3) and texture.dtype == np.float32
  np.testing.assert_allclose(texture, expected, atol=1e-3)


@pytest.mark.parametrize("seed", range(6))
def test_global_translation_frames_are_shifted_copies(seed):
  out = synthetic.generate(seed=seed, mode="global_translation", max_speed=3)
  v = out["background_velocity"]
  np.testing.assert_array_equal(out["object_velocities"], np.repeat(v[None], 2, 0))
  video = out["video"]
  for t in range(len(video) - 1):
    a, b = shifted_pair(video[t], video[t + 1], v)
    np.testing.assert_array_equal(a, b)


def test_global_translation_fixed_velocity():
  out = synthetic.generate(seed=0, mode="global_translation", global_velocity=(-2, 1))
  np.testing.assert_array_equal(out["background_velocity"], [-2, 1])
  a, b = shifted_pair(out["video"][4], out["video"][5], (-2, 1))
  np.testing.assert_array_equal(a, b)
  # Moving content: the unshifted frames differ.
  assert not np.array_equal(out["video"][4], out["video"][5])


@pytest.mark.parametrize("seed", range(4))
def test_objects_mode_motion_matches_frames(seed):
  out = synthetic.generate(seed=seed, num_objects=1, num_frames=8)
  video, pos, size = out["video"], out["object_positions"][:, 0], int(out["object_sizes"][0])
  v_obj, v_bg = out["object_velocities"][0], out["background_velocity"]
  np.testing.assert_array_equal(np.diff(pos, axis=0), np.repeat(v_obj[None], 7, 0))
  assert pos.min() >= 0 and (pos + size).max() <= 64  # Objects stay inside the frame.
  inner = slice(size // 4, size - size // 4)  # Inside both square and disk sprites.
  for t in range(7):
    (y0, x0), (y1, x1) = pos[t], pos[t + 1]
    np.testing.assert_array_equal(video[t, y0:y0 + size, x0:x0 + size][inner, inner],
                                  video[t + 1, y1:y1 + size, x1:x1 + size][inner, inner])
    # Background: pixels far from the object in both frames move with the background velocity.
    a, b = shifted_pair(video[t], video[t + 1], v_bg)
    mask = np.ones((64, 64), bool)
    for (y, x) in (pos[t], pos[t + 1]):
      mask[max(0, y - 4):y + size + 4, max(0, x - 4):x + size + 4] = False
    ma, mb = shifted_pair(mask, mask, v_bg)
    keep = ma & mb
    assert keep.sum() > 100
    np.testing.assert_array_equal(a[keep], b[keep])


def test_bad_mode():
  with pytest.raises(ValueError, match="global_translation"):
    synthetic.generate(mode="spin")


def test_dataset_with_motion_and_stride():
  ds = data.make_dataset("synthetic",
                         "test",
                         batch_size=3,
                         num_frames=5,
                         frame_stride=2,
                         mode="global_translation",
                         global_velocity=(1, -1),
                         with_motion=True,
                         num_examples=6)
  batches = list(ds)
  assert len(batches) == 2
  b = batches[0]
  assert b["video"].shape == (3, 5, 64, 64, 3) and b["label"].dtype.name == "int32"
  np.testing.assert_array_equal(b["background_velocity"].numpy(), [[2, -2]] * 3)
  video = (b["video"].numpy()[0] + 1) * 127.5
  x, y = shifted_pair(video[0], video[1], (2, -2))
  np.testing.assert_allclose(x, y, atol=1e-3)
  assert video.min() >= -1e-3 and video.max() <= 255 + 1e-3
  again = next(
      iter(
          data.make_dataset("synthetic",
                            "test",
                            batch_size=3,
                            num_frames=5,
                            frame_stride=2,
                            mode="global_translation",
                            global_velocity=(1, -1),
                            num_examples=6)))
  np.testing.assert_array_equal(again["video"].numpy(), b["video"].numpy())


def test_train_and_eval_streams_differ():
  train = next(iter(data.make_dataset("synthetic", "train", batch_size=2)))["video"].numpy()
  test = next(iter(data.make_dataset("synthetic", "test", batch_size=2)))["video"].numpy()
  assert not np.array_equal(train, test)


def test_the_input_pipeline_runs_on_its_own_threads_without_an_autotuning_thread():
  # Not on TensorFlow's intra-op pool, which `train.intra_op_threads = 1` shrinks to one thread.
  ds = data.make_dataset("synthetic", "train", batch_size=2)
  assert ds.options().threading.private_threadpool_size == (os.cpu_count() or 1)
  # Destroying an iterator waits for tf.data's autotuning thread, which sometimes sleeps through the
  # cancellation until its next optimisation (up to 60 s later): closing a trainer then hung that long.
  assert ds.options().autotune.enabled is False
