"""evaluation/heldout.py: per-frame PSNR / SSIM / MSE of a prediction and of the two trivial predictors."""

import numpy as np
import pytest
import tensorflow as tf

from trivd_gan.evaluation import heldout


def test_frame_scores_against_numpy():
  rng = np.random.default_rng(0)
  pred = rng.uniform(-1, 1, (2, 3, 16, 16, 3)).astype(np.float32)
  target = rng.uniform(-1, 1, (2, 3, 16, 16, 3)).astype(np.float32)
  scores = heldout.frame_scores(pred, target)
  a, b = (pred + 1) / 2, (target + 1) / 2
  mse_mean = np.mean((a - b) ** 2, axis=(2, 3, 4))
  np.testing.assert_allclose(scores["psnr"], 10 * np.log10(1 / mse_mean), rtol=1e-4)
  # The literature's per-frame MSE: summed over pixels, averaged over channels ([0, 1] frames).
  np.testing.assert_allclose(scores["mse"], np.sum(np.mean((a - b) ** 2, axis=-1), axis=(2, 3)), rtol=1e-4)
  assert scores["ssim"].shape == (2, 3) and np.all(scores["ssim"] < 0.2)
  same = heldout.frame_scores(target, target)
  np.testing.assert_allclose(same["psnr"], heldout.MAX_PSNR)  # capped, not +inf
  np.testing.assert_allclose(same["ssim"], 1.0, atol=1e-5)
  np.testing.assert_allclose(same["mse"], 0.0)


def test_held_out_scores_and_baselines():
  rng = np.random.default_rng(1)
  context = rng.uniform(-1, 1, (4, 3, 16, 16, 3)).astype(np.float32)
  future = np.repeat(context[:, -1:], 2, axis=1)  # a still scene: copying the last frame is perfect
  scores = heldout.HeldOutScores()
  scores.update(context[:2], future[:2], -future[:2])
  scores.update(context[2:], future[2:], -future[2:])
  result = scores.result()
  assert result["num_clips"] == 4
  assert result["copy_last_frame"]["psnr"] == [heldout.MAX_PSNR] * 2
  assert result["copy_last_frame"]["mean_mse"] == 0.0
  mean_frame = context.mean(axis=1, keepdims=True)
  expected = np.mean(np.sum(np.mean(((mean_frame - future) / 2) ** 2, axis=-1), axis=(2, 3)), axis=0)
  np.testing.assert_allclose(result["context_mean"]["mse"], expected, rtol=1e-4)
  black_mse = np.mean(((future + 1) / 2) ** 2, axis=(2, 3, 4))  # against 0 on [0, 1] frames
  np.testing.assert_allclose(result["black_frame"]["psnr"], np.mean(10 * np.log10(1 / black_mse), axis=0),
                             rtol=1e-4)
  model = heldout.frame_scores(-future, future)
  np.testing.assert_allclose(result["model"]["psnr"], model["psnr"].mean(axis=0), rtol=1e-6)
  np.testing.assert_allclose(result["model"]["mean_ssim"], model["ssim"].mean(), rtol=1e-5)
  with pytest.raises(ValueError, match="no clip"):
    heldout.HeldOutScores().result()


def test_context_mean():
  context = tf.constant(np.arange(2 * 3 * 1 * 1 * 1, dtype=np.float32).reshape(2, 3, 1, 1, 1))
  out = heldout.context_mean(context, 4).numpy()
  assert out.shape == (2, 4, 1, 1, 1)
  np.testing.assert_allclose(out[:, :, 0, 0, 0], [[1.0] * 4, [4.0] * 4])
