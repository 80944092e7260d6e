"""Inception Score, per-frame PSNR / SSIM, BAIR's best-of-l SSIM and the copy-last-frame baseline.

- IS (paper section 4.1): TF-GAN's classifier_score_from_logits on I3D logits, float64
  (docs/evaluation.md): IS = exp(mean_i KL(p_i || q)), q = mean_i p_i.
- PSNR / SSIM per predicted frame (section 4.1); SSIM is tf.image.ssim (11x11 Gaussian window, sigma 1.5,
  k1 = 0.01, k2 = 0.03, VALID filtering, mean over pixels and channels) on frames mapped from [-1, 1] to [0, 1].
- Best-of-l SSIM (appendix C.1, as in SAVP): per context, among l sampled continuations keep the one with the
  highest mean-over-frames SSIM and report its per-frame SSIM.
- Copy-last-frame baseline (appendix D.3: FVD 330 on Kinetics validation).
"""

import numpy as np
import tensorflow as tf


def _softmax_stats(logits):
  logits = np.asarray(logits, np.float64)
  if logits.ndim != 2 or logits.shape[0] < 1:
    raise ValueError(f"Logits must be [N >= 1, num_classes], got shape {logits.shape}.")
  log_p = logits - logits.max(axis=1, keepdims=True)
  log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
  return np.exp(log_p), log_p


def inception_score(logits):
  """IS of [N, C] pre-softmax logits (one split, TF-GAN's convention), float64 -> Python float."""
  p, log_p = _softmax_stats(logits)
  log_q = np.log(p.mean(axis=0))
  kl = np.sum(p * (log_p - log_q), axis=1)
  return float(np.exp(kl.mean()))


def inception_score_tf(logits):
  """TensorFlow twin of `inception_score` (for graphs and SavedModels): [N, C] logits -> [] float64 IS."""
  log_p = tf.nn.log_softmax(tf.cast(logits, tf.float64), axis=1)
  p = tf.exp(log_p)
  log_q = tf.math.log(tf.reduce_mean(p, axis=0))
  return tf.exp(tf.reduce_mean(tf.reduce_sum(p * (log_p - log_q), axis=1)))


def inception_score_splits(logits, num_splits=10):
  """(mean, unbiased std) of the IS over `num_splits` contiguous splits of [N, C] logits (TGANv2 style)."""
  logits = np.asarray(logits, np.float64)
  if num_splits < 1 or logits.shape[0] < num_splits:
    raise ValueError(f"Need 1 <= num_splits <= N, got num_splits={num_splits}, N={logits.shape[0]}.")
  scores = [inception_score(part) for part in np.array_split(logits, num_splits)]
  return float(np.mean(scores)), float(np.std(scores, ddof=1)) if num_splits > 1 else 0.0


class InceptionScoreAccumulator:
  """Streaming IS, equal to `inception_score` over all updates.

  mean_i KL(p_i || q) = mean_i sum_j p_ij log p_ij - sum_j q_j log q_j, so the sums of p and of p log p suffice.
  """

  def __init__(self):
    self.count = 0
    self.sum_p = None
    self.sum_neg_entropy = 0.0

  def update(self, logits):
    p, log_p = _softmax_stats(logits)
    self.sum_p = p.sum(axis=0) if self.sum_p is None else self.sum_p + p.sum(axis=0)
    self.sum_neg_entropy += float(np.sum(p * log_p))
    self.count += p.shape[0]
    return self

  def result(self):
    if self.count == 0:
      raise ValueError("InceptionScoreAccumulator has no samples.")
    q = self.sum_p / self.count
    return float(np.exp(self.sum_neg_entropy / self.count - np.sum(q * np.log(q))))


def _to_unit_range(videos):
  return (tf.cast(videos, tf.float32) + 1.0) / 2.0


def _check_same_shape(a, b, what):
  if a.shape.rank is None or a.shape.rank < 4 or a.shape != b.shape:
    raise ValueError(f"{what} needs predictions and targets of equal shape [..., H, W, 3], got {a.shape} and "
                     f"{b.shape}.")


def psnr_per_frame(predictions, targets):
  """PSNR of each frame, in dB, with frames mapped to [0, 1] (peak 1).

  Args:
    predictions, targets: [..., H, W, 3] float in [-1, 1] (e.g. [B, T, H, W, 3]).

  Returns:
    [...] float32 (e.g. [B, T]); +inf for identical frames.
  """
  a, b = _to_unit_range(predictions), _to_unit_range(targets)
  _check_same_shape(a, b, "psnr_per_frame")
  mse = tf.reduce_mean(tf.square(a - b), axis=[-3, -2, -1])
  return 10.0 * tf.math.log(1.0 / mse) / tf.math.log(10.0)


def ssim_per_frame(predictions, targets):
  """SSIM of each frame (tf.image.ssim, max_val 1, default Gaussian 11x11 window) on [0, 1]-mapped frames.

  Args:
    predictions, targets: [..., H, W, 3] float in [-1, 1] with H, W >= 11.

  Returns:
    [...] float32 (e.g. [B, T]).
  """
  a, b = _to_unit_range(predictions), _to_unit_range(targets)
  _check_same_shape(a, b, "ssim_per_frame")
  return tf.image.ssim(a, b, max_val=1.0)


def best_of_l_ssim(samples, targets):
  """BAIR's best-of-l SSIM (appendix C.1, SAVP protocol).

  Args:
    samples: [l, B, T, H, W, 3] float in [-1, 1], l sampled continuations of each of B contexts.
    targets: [B, T, H, W, 3] float in [-1, 1], the ground-truth continuations.

  Returns:
    (best_ssim, best_index): best_ssim [B, T] float32 is the per-frame SSIM of the sample with the highest
    mean-over-frames SSIM; best_index [B] int64 is that sample's index in [0, l). Average best_ssim over B
    for the per-frame curve of Figure 5.
  """
  samples = tf.convert_to_tensor(samples, tf.float32)
  targets = tf.convert_to_tensor(targets, tf.float32)
  if samples.shape.rank != 6 or samples.shape[1:] != targets.shape:
    raise ValueError(f"best_of_l_ssim expects samples [l, B, T, H, W, 3] and targets [B, T, H, W, 3], got "
                     f"{samples.shape} and {targets.shape}.")
  per_frame = ssim_per_frame(samples, tf.broadcast_to(targets[None], tf.shape(samples)))  # [l, B, T]
  best_index = tf.argmax(tf.reduce_mean(per_frame, axis=-1), axis=0)  # [B]
  best = tf.gather(tf.transpose(per_frame, [1, 0, 2]), best_index, batch_dims=1)  # [B, T]
  return best, best_index


def copy_last_frame(context, num_predicted):
  """Baseline prediction repeating the last context frame (appendix D.3).

  Args:
    context: [B, Tc, H, W, C] conditioning frames.
    num_predicted: Tp, the number of frames to predict (11 on Kinetics, 15 on BAIR).

  Returns:
    [B, Tp, H, W, C], same dtype as context.
  """
  context = tf.convert_to_tensor(context)
  if context.shape.rank != 5 or num_predicted < 1:
    raise ValueError(f"copy_last_frame expects context [B, Tc, H, W, C] and num_predicted >= 1, got "
                     f"{context.shape} and {num_predicted}.")
  return tf.repeat(context[:, -1:], int(num_predicted), axis=1)
