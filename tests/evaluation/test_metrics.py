"""Tests for trivd_gan/evaluation/metrics.py against hand computations and NumPy references."""

import numpy as np
import pytest

from trivd_gan.evaluation import metrics


def _is_by_hand(logits):
  p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
  q = p.mean(axis=0)
  return np.exp(np.mean([np.sum(pi * np.log(pi / q)) for pi in p]))


def test_inception_score_hand_computation():
  logits = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0], [2.0, 2.0, 2.0], [5.0, 0.0, 0.0]])
  np.testing.assert_allclose(metrics.inception_score(logits), _is_by_hand(logits), rtol=1e-12)


def test_inception_score_limits():
  # Confident and uniformly spread over C classes -> C; identical predictions -> 1.
  c = 7
  assert metrics.inception_score(np.eye(c) * 100.0) == pytest.approx(c, rel=1e-6)
  assert metrics.inception_score(np.tile([[3.0, 1.0, 0.0]], (5, 1))) == pytest.approx(1.0, abs=1e-12)
  # Large logits do not overflow (log-softmax in float64).
  assert np.isfinite(metrics.inception_score(np.array([[1000.0, 0.0], [0.0, 1000.0]])))


def test_inception_score_accumulator_and_splits():
  rng = np.random.default_rng(0)
  logits = rng.normal(scale=3.0, size=(60, 10))
  acc = metrics.InceptionScoreAccumulator()
  for part in np.split(logits, [5, 31]):
    acc.update(part)
  np.testing.assert_allclose(acc.result(), metrics.inception_score(logits), rtol=1e-10)
  mean, std = metrics.inception_score_splits(logits, num_splits=3)
  scores = [_is_by_hand(part) for part in np.split(logits, 3)]
  np.testing.assert_allclose([mean, std], [np.mean(scores), np.std(scores, ddof=1)], rtol=1e-10)


def _gaussian_window(size=11, sigma=1.5):
  x = np.arange(size) - (size - 1) / 2.0
  g = np.exp(-x ** 2 / (2 * sigma ** 2))
  g /= g.sum()
  return np.outer(g, g)


def _filter_valid(img, window):
  k = window.shape[0]
  h, w = img.shape
  out = np.zeros((h - k + 1, w - k + 1))
  for i in range(k):
    for j in range(k):
      out += window[i, j] * img[i:i + h - k + 1, j:j + w - k + 1]
  return out


def _numpy_ssim(a, b):
  """Wang et al. 2004 SSIM of two [H, W, C] images in [0, 1]: Gaussian 11x11 window, VALID, channel mean."""
  c1, c2 = 0.01 ** 2, 0.03 ** 2
  window = _gaussian_window()
  vals = []
  for ch in range(a.shape[-1]):
    x, y = a[..., ch].astype(np.float64), b[..., ch].astype(np.float64)
    mx, my = _filter_valid(x, window), _filter_valid(y, window)
    sxx = _filter_valid(x * x, window) - mx ** 2
    syy = _filter_valid(y * y, window) - my ** 2
    sxy = _filter_valid(x * y, window) - mx * my
    ssim_map = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (sxx + syy + c2))
    vals.append(ssim_map.mean())
  return np.mean(vals)


def _frames(rng, shape):
  base = rng.uniform(-1, 1, size=shape)
  return base.astype(np.float32)


def test_ssim_and_psnr_per_frame_match_numpy():
  rng = np.random.default_rng(1)
  targets = _frames(rng, (2, 3, 24, 20, 3))
  preds = np.clip(targets + rng.normal(scale=0.3, size=targets.shape), -1, 1).astype(np.float32)
  ssim = metrics.ssim_per_frame(preds, targets).numpy()
  psnr = metrics.psnr_per_frame(preds, targets).numpy()
  assert ssim.shape == psnr.shape == (2, 3)
  a, b = (preds + 1) / 2, (targets + 1) / 2
  for i in range(2):
    for t in range(3):
      np.testing.assert_allclose(ssim[i, t], _numpy_ssim(a[i, t], b[i, t]), atol=1e-4)
      mse = np.mean((a[i, t].astype(np.float64) - b[i, t]) ** 2)
      np.testing.assert_allclose(psnr[i, t], 10 * np.log10(1.0 / mse), rtol=1e-4)
  np.testing.assert_allclose(metrics.ssim_per_frame(targets, targets).numpy(), 1.0, atol=1e-5)
  with pytest.raises(ValueError, match="equal shape"):
    metrics.psnr_per_frame(preds, targets[:, :2])


def test_best_of_l_ssim_picks_highest_mean_sample():
  rng = np.random.default_rng(2)
  l, b, t = 4, 3, 5
  targets = _frames(rng, (b, t, 16, 16, 3))
  noise_scale = np.array([[0.8, 0.1, 0.5], [0.4, 0.9, 0.05], [0.2, 0.6, 0.7], [0.9, 0.3, 0.6]])  # [l, b]
  samples = np.clip(targets[None] + rng.normal(size=(l,) + targets.shape) * noise_scale[:, :, None, None, None,
                                                                                        None], -1, 1)
  samples = samples.astype(np.float32)
  # Sample 0 of context 0 is perfect on the first frame only but bad on average: best is by mean, not max.
  samples[0, 0, 0] = targets[0, 0]
  best, idx = metrics.best_of_l_ssim(samples, targets)
  per = np.array([[[_numpy_ssim((samples[k, i, j] + 1) / 2, (targets[i, j] + 1) / 2) for j in range(t)]
                   for i in range(b)] for k in range(l)])
  expected_idx = per.mean(axis=-1).argmax(axis=0)
  np.testing.assert_array_equal(idx.numpy(), expected_idx)
  np.testing.assert_array_equal(expected_idx, [2, 0, 1])
  np.testing.assert_allclose(best.numpy(), per[expected_idx, np.arange(b)], atol=1e-4)
  with pytest.raises(ValueError, match="samples"):
    metrics.best_of_l_ssim(samples[0], targets)


def test_copy_last_frame():
  context = np.arange(2 * 3 * 4 * 4 * 3, dtype=np.float32).reshape(2, 3, 4, 4, 3)
  pred = metrics.copy_last_frame(context, 11).numpy()
  assert pred.shape == (2, 11, 4, 4, 3)
  for t in range(11):
    np.testing.assert_array_equal(pred[:, t], context[:, -1])
  with pytest.raises(ValueError, match="num_predicted"):
    metrics.copy_last_frame(context, 0)
