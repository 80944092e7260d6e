"""Tests for trivd_gan/evaluation/fvd.py against scipy, closed forms and a NumPy TF1-resize reference."""

import numpy as np
import pytest
import scipy.linalg
import tensorflow as tf

from trivd_gan.evaluation import fvd
from trivd_gan.evaluation import metrics


def _scipy_fd(mu1, cov1, mu2, cov2):
  covmean = scipy.linalg.sqrtm(cov1 @ cov2).real
  return float(np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2 * np.trace(covmean))


def _random_cov(rng, d):
  a = rng.normal(size=(d, 2 * d))
  return a @ a.T / (2 * d) + 0.1 * np.eye(d)


def test_frechet_distance_matches_scipy_sqrtm():
  rng = np.random.default_rng(0)
  d = 20
  mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
  cov1, cov2 = _random_cov(rng, d), _random_cov(rng, d)
  np.testing.assert_allclose(fvd.frechet_distance(mu1, cov1, mu2, cov2), _scipy_fd(mu1, cov1, mu2, cov2),
                             rtol=1e-8)


def test_frechet_distance_diagonal_closed_form():
  rng = np.random.default_rng(1)
  d = 50
  mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
  s1, s2 = rng.uniform(0.1, 3.0, d), rng.uniform(0.1, 3.0, d)
  expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2)
  np.testing.assert_allclose(fvd.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)), expected, rtol=1e-10)


def test_frechet_distance_identical_is_zero_and_rank_deficient_ok():
  rng = np.random.default_rng(2)
  acts = rng.normal(size=(10, 30))  # N < d: singular covariance, like FVD at small N
  mu, cov = fvd.activation_statistics(acts)
  assert abs(fvd.frechet_distance(mu, cov, mu, cov)) < 1e-6
  np.testing.assert_allclose(cov, np.cov(acts, rowvar=False, ddof=1))


def test_frechet_distance_rejects_bad_shapes():
  with pytest.raises(ValueError, match="equal d"):
    fvd.frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


@pytest.mark.parametrize("batches", [[100], [1, 7, 50, 42], [33, 33, 34]])
def test_accumulator_equals_batch_statistics(batches):
  rng = np.random.default_rng(3)
  # A large mean relative to the spread, like I3D logits: checks the shifted sums avoid cancellation.
  acts = rng.normal(loc=1000.0, scale=1.0, size=(sum(batches), 16)) @ rng.normal(size=(16, 16))
  acc = fvd.FrechetAccumulator()
  for part in np.split(acts, np.cumsum(batches)[:-1]):
    acc.update(tf.constant(part))
  mu, cov = acc.statistics()
  ref_mu, ref_cov = fvd.activation_statistics(acts)
  np.testing.assert_allclose(mu, ref_mu, rtol=1e-12)
  np.testing.assert_allclose(cov, ref_cov, rtol=1e-8, atol=1e-9)
  assert acc.count == sum(batches)


def test_accumulator_merge_equals_single_pass():
  rng = np.random.default_rng(4)
  acts = rng.normal(loc=-5.0, size=(90, 8))
  a, b = fvd.FrechetAccumulator(), fvd.FrechetAccumulator()
  a.update(acts[:40])
  b.update(acts[40:])
  mu, cov = a.merge(b).statistics()
  ref_mu, ref_cov = fvd.activation_statistics(acts)
  np.testing.assert_allclose(mu, ref_mu, atol=1e-10)
  np.testing.assert_allclose(cov, ref_cov, atol=1e-10)
  with pytest.raises(ValueError, match="at least 2"):
    fvd.FrechetAccumulator().statistics()


def _numpy_resize_tf1(images, out_h, out_w):
  """TF1 bilinear (align_corners=False, half_pixel_centers=False): src = dst * in / out, clamp to the edge."""
  n, h, w, c = images.shape
  out = np.zeros((n, out_h, out_w, c), np.float64)
  for y in range(out_h):
    sy = y * h / out_h
    y0 = int(np.floor(sy))
    y1, fy = min(y0 + 1, h - 1), sy - y0
    for x in range(out_w):
      sx = x * w / out_w
      x0 = int(np.floor(sx))
      x1, fx = min(x0 + 1, w - 1), sx - x0
      top = images[:, y0, x0] * (1 - fx) + images[:, y0, x1] * fx
      bottom = images[:, y1, x0] * (1 - fx) + images[:, y1, x1] * fx
      out[:, y, x] = top * (1 - fy) + bottom * fy
  return out


def test_resize_matches_numpy_tf1_convention():
  rng = np.random.default_rng(5)
  images = rng.uniform(-1, 1, size=(2, 13, 10, 3))
  got = fvd.resize_bilinear_tf1(images, (31, 24)).numpy()
  np.testing.assert_allclose(got, _numpy_resize_tf1(images, 31, 24), atol=1e-5)
  # The TF2 / half-pixel convention differs: the test would catch a switch to tf.image.resize.
  tf2 = tf.image.resize(images.astype(np.float32), (31, 24), method="bilinear").numpy()
  assert np.abs(tf2 - got).max() > 1e-2


def test_i3d_preprocess_shape_range_and_uint8_equivalence():
  rng = np.random.default_rng(6)
  raw = rng.integers(0, 256, size=(2, 3, 16, 16, 3)).astype(np.uint8)
  # Reference order: resize 0..255 frames, then 2 * x / 255 - 1.
  ref = _numpy_resize_tf1(raw.reshape(6, 16, 16, 3).astype(np.float64), 224, 224) * 2 / 255 - 1
  got = fvd.i3d_preprocess(fvd.uint8_to_model_range(raw)).numpy()
  assert got.shape == (2, 3, 224, 224, 3) and got.dtype == np.float32
  np.testing.assert_allclose(got.reshape(6, 224, 224, 3), ref, atol=1e-5)
  with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[-1, 1\]"):
    fvd.i3d_preprocess(np.full((1, 2, 4, 4, 3), 2.0, np.float32))


def test_stats_cache_roundtrip(tmp_path):
  name = fvd.stats_cache_filename("kinetics600", "test", 50000, "i3d-hub-i3d-kinetics-400_1")
  assert name == "kinetics600_test_n50000_i3d-hub-i3d-kinetics-400-1.npz"
  assert name != fvd.stats_cache_filename("kinetics600", "test", 2048, "i3d-hub-i3d-kinetics-400_1")
  assert fvd.load_real_statistics(str(tmp_path), "bair", "test", 256, "random-i3d400-seed0") is None
  mu, cov = np.arange(3.0), np.eye(3) * 2
  path = fvd.save_real_statistics(str(tmp_path / "cache"), "bair", "test", 256, "random-i3d400-seed0", mu, cov)
  assert path.endswith("bair_test_n256_random-i3d400-seed0.npz")
  got_mu, got_cov = fvd.load_real_statistics(str(tmp_path / "cache"), "bair", "test", 256,
                                             "random-i3d400-seed0")
  np.testing.assert_array_equal(got_mu, mu)
  np.testing.assert_array_equal(got_cov, cov)
  with pytest.raises(ValueError, match="num_samples"):
    fvd.stats_cache_filename("bair", "test", 1, "x")


def test_accumulate_embeddings_takes_exactly_num_samples():
  rng = np.random.default_rng(7)
  videos = rng.uniform(-1, 1, size=(23, 2, 4, 4, 3)).astype(np.float32)
  embed = lambda v: np.asarray(v).reshape(len(v), -1)[:, :5] * 3.0  # noqa: E731
  batches = (videos[i:i + 5] for i in range(0, 23, 5))
  acc, is_acc = fvd.accumulate_embeddings(embed, batches, 17,
                                          [fvd.FrechetAccumulator(), metrics.InceptionScoreAccumulator()])
  assert acc.count == is_acc.count == 17
  ref_mu, ref_cov = fvd.activation_statistics(embed(videos[:17]))
  np.testing.assert_allclose(acc.statistics()[0], ref_mu, atol=1e-12)
  np.testing.assert_allclose(acc.statistics()[1], ref_cov, atol=1e-12)
  np.testing.assert_allclose(is_acc.result(), metrics.inception_score(embed(videos[:17])), rtol=1e-12)
  with pytest.raises(ValueError, match="ran out after 23"):
    fvd.accumulate_embeddings(embed, [videos], 30, [fvd.FrechetAccumulator()])


# The last two: rank-deficient covs.
@pytest.mark.parametrize("n, m, d", [(50, 40, 8), (16, 16, 400), (3, 5, 6)])
def test_tf_twins_match_numpy(n, m, d):
  rng = np.random.default_rng(n + d)
  acts1 = rng.normal(size=(n, d)) * rng.uniform(0.5, 2, d)
  acts2 = rng.normal(0.3, 1.0, size=(m, d))
  expected = fvd.frechet_distance_from_activations(acts1, acts2)
  got = fvd.frechet_distance_from_activations_tf(tf.constant(acts1, tf.float32), tf.constant(acts2, tf.float32))
  assert got.dtype == tf.float64
  # float32 inputs are cast exactly to float64, so only the SVD implementations differ.
  np.testing.assert_allclose(float(got), fvd.frechet_distance_from_activations(
      acts1.astype(np.float32), acts2.astype(np.float32)), rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(float(got), expected, rtol=1e-4)
  logits = rng.normal(size=(n, d)) * 3
  np.testing.assert_allclose(float(metrics.inception_score_tf(tf.constant(logits))),
                             metrics.inception_score(logits), rtol=1e-10)
