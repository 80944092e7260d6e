"""Frechet Video Distance pieces: I3D preprocessing, streaming statistics, the Frechet distance, a stats cache.

FVD (Unterthiner et al. 2018; paper section 4.1, appendix C.1, E.2) is the Frechet distance between Gaussians
fitted to I3D Kinetics-400 logits of real and generated videos. Formulas follow
docs/evaluation.md (TF-GAN's frechet_classifier_distance_from_activations): float64,
unbiased covariances, SVD-based symmetric square roots.

Typical use (N up to 50,000 never holds all videos or activations in memory):

  name, embed = i3d_weights.make_embedder(path)
  acc = FrechetAccumulator()
  for videos in batches:           # [B, T, H, W, 3] float32 in [-1, 1]
    acc.update(embed(videos))
  mu, cov = acc.statistics()
  fvd = frechet_distance(mu, cov, mu_real, cov_real)
"""

import os
import re

import numpy as np
import tensorflow as tf

I3D_SIZE = 224
SQRT_EIGEN_EPSILON = 1e-10


def uint8_to_model_range(videos):
  """0..255 videos (any dtype) -> float32 in [-1, 1], the reference's 2 * x / 255 - 1."""
  return tf.cast(videos, tf.float32) * (2.0 / 255.0) - 1.0


def resize_bilinear_tf1(images, size):
  """TF1 bilinear resize: align_corners=False, no half-pixel centers (src = dst * in / out).

  Args:
    images: [N, H, W, C] float.
    size: (out_h, out_w).

  Returns:
    [N, out_h, out_w, C] float32.
  """
  return tf.raw_ops.ResizeBilinear(images=tf.cast(images, tf.float32), size=tf.constant(size, tf.int32),
                                   align_corners=False, half_pixel_centers=False)


def i3d_preprocess(videos, size=I3D_SIZE):
  """Model videos -> I3D input, as the FVD reference prepares them.

  The reference resizes 0..255 frames and then maps them with 2 * x / 255 - 1. Bilinear weights sum to one,
  so resizing already-scaled [-1, 1] videos gives the same values (up to float rounding) without going through
  0..255; no uint8 quantization is applied (use `uint8_to_model_range` on 0..255 data).

  Args:
    videos: [B, T, H, W, 3] float in [-1, 1] (the generator's tanh range, appendix E.2).
    size: output side, 224 for I3D.

  Returns:
    [B, T, size, size, 3] float32 in [-1, 1]. Fails (InvalidArgumentError) outside [-1.001, 1.001], as the
    reference asserts.
  """
  videos = tf.convert_to_tensor(videos, tf.float32)
  if videos.shape.rank != 5:
    raise ValueError(f"i3d_preprocess expects videos [B, T, H, W, 3], got shape {videos.shape}.")
  with tf.control_dependencies([
      tf.debugging.assert_less_equal(tf.reduce_max(tf.abs(videos)), 1.001,
                                     message="I3D input must be in [-1, 1] (convert 0..255 data with "
                                     "uint8_to_model_range)")]):
    shape = tf.shape(videos)
    frames = tf.reshape(videos, tf.concat([[-1], shape[2:]], axis=0))
  resized = resize_bilinear_tf1(frames, (size, size))
  return tf.reshape(resized, tf.stack([shape[0], shape[1], size, size, shape[4]]))


def symmetric_matrix_square_root(mat, eps=SQRT_EIGEN_EPSILON):
  """SVD square root of a symmetric PSD matrix: u diag(sqrt(s)) v^T, keeping s < eps unrooted (TF-GAN)."""
  mat = np.asarray(mat, np.float64)
  u, s, vh = np.linalg.svd(mat)
  si = np.where(s < eps, s, np.sqrt(s))
  return (u * si) @ vh


def trace_sqrt_product(sigma, sigma_v):
  """tr(sqrt(sigma @ sigma_v)) computed as tr(sqrt(sqrt(sigma) @ sigma_v @ sqrt(sigma)))."""
  sqrt_sigma = symmetric_matrix_square_root(sigma)
  product = sqrt_sigma @ np.asarray(sigma_v, np.float64) @ sqrt_sigma
  return float(np.trace(symmetric_matrix_square_root(product)))


def frechet_distance(mu1, cov1, mu2, cov2):
  """Frechet distance between N(mu1, cov1) and N(mu2, cov2), float64.

  FD = tr(cov1) + tr(cov2) - 2 tr(sqrt(sqrt(cov1) cov2 sqrt(cov1))) + ||mu1 - mu2||^2.

  Args:
    mu1, mu2: [d] means. cov1, cov2: [d, d] covariances.

  Returns:
    Python float.
  """
  mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
  cov1, cov2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
  if mu1.shape != mu2.shape or cov1.shape != cov2.shape or cov1.shape != mu1.shape * 2:
    raise ValueError(f"frechet_distance needs mu [d] and cov [d, d] of equal d, got {mu1.shape}, {cov1.shape}, "
                     f"{mu2.shape}, {cov2.shape}.")
  trace = np.trace(cov1) + np.trace(cov2) - 2.0 * trace_sqrt_product(cov1, cov2)
  return float(trace + np.sum((mu1 - mu2) ** 2))


def activation_statistics(activations):
  """[N, d] activations -> (mean [d], unbiased covariance [d, d]), float64."""
  acts = np.asarray(activations, np.float64)
  if acts.ndim != 2 or acts.shape[0] < 2:
    raise ValueError(f"Activations must be [N >= 2, d], got shape {acts.shape}.")
  return acts.mean(axis=0), np.cov(acts, rowvar=False, ddof=1)


def frechet_distance_from_activations(acts1, acts2):
  """FD between the Gaussians fitted (unbiased) to two [N, d] activation sets."""
  return frechet_distance(*activation_statistics(acts1), *activation_statistics(acts2))


def frechet_distance_from_activations_tf(acts1, acts2, eps=SQRT_EIGEN_EPSILON):
  """TensorFlow twin of `frechet_distance_from_activations` (for graphs and SavedModels), float64 throughout.

  Args:
    acts1: [N, d], acts2: [M, d] activations (N, M >= 2), any float dtype.
    eps: singular values below it are kept unrooted in the SVD square roots (TF-GAN).

  Returns:
    [] float64 Frechet distance between the Gaussians fitted with unbiased covariances.
  """
  def stats(acts):
    acts = tf.cast(acts, tf.float64)
    n = tf.cast(tf.shape(acts)[0], tf.float64)
    mu = tf.reduce_mean(acts, axis=0)
    centred = acts - mu
    return mu, tf.matmul(centred, centred, transpose_a=True) / (n - 1.0)

  def sqrtm(mat):
    s, u, v = tf.linalg.svd(mat)
    s = tf.where(s < eps, s, tf.sqrt(s))
    return tf.matmul(u * s, v, transpose_b=True)

  (mu1, cov1), (mu2, cov2) = stats(acts1), stats(acts2)
  sqrt_cov1 = sqrtm(cov1)
  trace_sqrt = tf.linalg.trace(sqrtm(sqrt_cov1 @ cov2 @ sqrt_cov1))
  return (tf.linalg.trace(cov1) + tf.linalg.trace(cov2) - 2.0 * trace_sqrt
          + tf.reduce_sum(tf.square(mu1 - mu2)))


class FrechetAccumulator:
  """Streaming mean / unbiased covariance of activations, float64.

  Keeps the count, sum of (x - shift) and sum of (x - shift)(x - shift)^T, where `shift` is the first batch's
  mean: sums of shifted values avoid the cancellation of E[x x^T] - mu mu^T when |mu| >> std. Memory is O(d^2)
  whatever the number of samples. Accumulators over disjoint data combine with `merge`.
  """

  def __init__(self, dim=None):
    self.dim = dim
    self.count = 0
    self.shift = None
    self.sum = None
    self.sum_outer = None

  def _init(self, dim, shift):
    self.dim = dim
    self.shift = np.asarray(shift, np.float64)
    self.sum = np.zeros([dim], np.float64)
    self.sum_outer = np.zeros([dim, dim], np.float64)

  def update(self, activations):
    """Adds [n, d] activations (NumPy or tensor, any float dtype)."""
    acts = np.asarray(activations, np.float64)
    if acts.ndim != 2 or (self.dim is not None and acts.shape[1] != self.dim):
      raise ValueError(f"FrechetAccumulator.update expects [n, {self.dim or 'd'}] activations, got "
                       f"{acts.shape}.")
    if acts.shape[0] == 0:
      return self
    if self.sum is None:
      self._init(acts.shape[1], acts.mean(axis=0))
    centered = acts - self.shift
    self.count += acts.shape[0]
    self.sum += centered.sum(axis=0)
    self.sum_outer += centered.T @ centered
    return self

  def merge(self, other):
    """Adds the samples summarized by another accumulator."""
    if other.count == 0:
      return self
    if self.sum is None:
      self._init(other.dim, other.shift)
    if other.dim != self.dim:
      raise ValueError(f"Cannot merge accumulators of dimension {self.dim} and {other.dim}.")
    delta = other.shift - self.shift  # re-center other's sums on self.shift
    n = other.count
    self.sum_outer += (other.sum_outer + np.outer(other.sum, delta) + np.outer(delta, other.sum)
                       + n * np.outer(delta, delta))
    self.sum += other.sum + n * delta
    self.count += n
    return self

  def statistics(self):
    """(mean [d], unbiased covariance [d, d]) float64; needs at least two samples."""
    if self.count < 2:
      raise ValueError(f"FrechetAccumulator needs at least 2 samples, has {self.count}.")
    mean_c = self.sum / self.count
    cov = (self.sum_outer - self.count * np.outer(mean_c, mean_c)) / (self.count - 1)
    return mean_c + self.shift, (cov + cov.T) / 2.0


def stats_cache_filename(dataset, split, num_samples, embedder_name):
  """File name for cached real statistics, e.g. 'kinetics600_test_n50000_i3d-hub-i3d-kinetics-400_1.npz'."""
  parts = [str(dataset), str(split), f"n{int(num_samples)}", str(embedder_name)]
  if not all(parts) or int(num_samples) < 2:
    raise ValueError(f"Statistics cache keys must be non-empty and num_samples >= 2, got {parts}.")
  return "_".join(re.sub(r"[^A-Za-z0-9.-]+", "-", p) for p in parts) + ".npz"


def save_statistics(path, mu, cov, **metadata):
  """Writes mean / covariance (float64) and string metadata to an .npz file (parent folders created)."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  meta = {f"meta_{k}": np.asarray(str(v)) for k, v in metadata.items()}
  tmp = path + ".tmp.npz"
  np.savez(tmp, mu=np.asarray(mu, np.float64), cov=np.asarray(cov, np.float64), **meta)
  os.replace(tmp, path)  # never leave a half-written cache behind
  return path


def load_statistics(path):
  """Reads (mu, cov, metadata dict) written by `save_statistics`."""
  with np.load(path) as data:
    meta = {k[len("meta_"):]: str(data[k]) for k in data.files if k.startswith("meta_")}
    return data["mu"], data["cov"], meta


def save_real_statistics(cache_dir, dataset, split, num_samples, embedder_name, mu, cov):
  """Saves real-data statistics under `stats_cache_filename(...)` in cache_dir; returns the path."""
  path = os.path.join(cache_dir, stats_cache_filename(dataset, split, num_samples, embedder_name))
  return save_statistics(path, mu, cov, dataset=dataset, split=split, num_samples=int(num_samples),
                         embedder=embedder_name)


def load_real_statistics(cache_dir, dataset, split, num_samples, embedder_name):
  """(mu, cov) from the cache, or None when absent. Raises ValueError if the stored keys disagree."""
  path = os.path.join(cache_dir, stats_cache_filename(dataset, split, num_samples, embedder_name))
  if not os.path.exists(path):
    return None
  mu, cov, meta = load_statistics(path)
  expected = {"dataset": str(dataset), "split": str(split), "num_samples": str(int(num_samples)),
              "embedder": str(embedder_name)}
  if any(meta.get(k) != v for k, v in expected.items()):
    raise ValueError(f"Statistics cache {path} holds {meta}, expected {expected}: delete the file.")
  return mu, cov


def accumulate_embeddings(embed, batches, num_samples, accumulators):
  """Embeds exactly `num_samples` videos from `batches` and feeds the logits to every accumulator.

  Args:
    embed: callable [B, T, H, W, 3] float in [-1, 1] -> [B, d] logits (e.g. `make_embedder(spec).embed`).
    batches: iterable of [B, T, H, W, 3] video batches (tensors or arrays); the last one used is truncated.
    num_samples: how many videos to embed (FVD is only comparable at equal counts).
    accumulators: objects with `update([n, d])`, e.g. `FrechetAccumulator()` and
      `metrics.InceptionScoreAccumulator()`.

  Returns:
    The accumulators. Raises ValueError when `batches` runs out before `num_samples`.
  """
  seen = 0
  for videos in batches:
    if seen >= num_samples:
      break
    videos = videos[:num_samples - seen]
    logits = np.asarray(embed(videos))
    for acc in accumulators:
      acc.update(logits)
    seen += logits.shape[0]
  if seen < num_samples:
    raise ValueError(f"The video batches ran out after {seen} of the {num_samples} requested samples: use a "
                     "smaller num_samples or a repeating dataset.")
  return accumulators
