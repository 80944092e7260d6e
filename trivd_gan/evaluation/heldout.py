"""Per-frame scores of a prediction on held-out clips, beside three trivial predictors.

Video prediction is judged against what a predictor that ignores motion already gets: copying the last
context frame (appendix D.3), the mean of the context frames, and a black frame (on data with a black
background, such as Moving MNIST, erasing the content scores a PSNR that copying cannot reach: a model that
fades its predictions to black is not predicting). Accumulated per predicted frame over any number of batches:

  PSNR  dB, frames mapped to [0, 1] (peak 1); a perfect frame counts as `MAX_PSNR` dB (not +inf).
  SSIM  tf.image.ssim on [0, 1] frames (11x11 Gaussian window).
  MSE   the Moving MNIST literature's per-frame MSE (ConvLSTM, PredRNN, SimVP): the squared error SUMMED over
        the H x W pixels of a frame in [0, 1], averaged over the colour channels (equal for gray clips).
"""

import numpy as np
import tensorflow as tf

from trivd_gan.evaluation import metrics

MAX_PSNR = 100.0
PREDICTORS = ("model", "copy_last_frame", "context_mean", "black_frame")
SCORES = ("psnr", "ssim", "mse")


def context_mean(context, num_predicted):
  """Baseline prediction: the mean of the context frames at every step. [B, Tc, ...] -> [B, Tp, ...]."""
  context = tf.convert_to_tensor(context, tf.float32)
  return tf.repeat(tf.reduce_mean(context, axis=1, keepdims=True), int(num_predicted), axis=1)


def black_frame(future):
  """Baseline prediction: black (-1) everywhere, the shape of `future` [B, Tp, H, W, 3]."""
  return -tf.ones_like(tf.convert_to_tensor(future, tf.float32))


def frame_scores(predictions, targets):
  """{"psnr", "ssim", "mse"}: [B, Tp] float64 NumPy of each predicted frame against its target.

  Args:
    predictions, targets: [B, Tp, H, W, 3] float in [-1, 1].
  """
  predictions = tf.clip_by_value(tf.cast(predictions, tf.float32), -1.0, 1.0)
  targets = tf.cast(targets, tf.float32)
  psnr = tf.minimum(metrics.psnr_per_frame(predictions, targets), MAX_PSNR)
  squared = tf.square((predictions - targets) / 2.0)  # [0, 1] frames
  mse = tf.reduce_sum(tf.reduce_mean(squared, axis=-1), axis=[-2, -1])
  return {"psnr": psnr.numpy().astype(np.float64), "ssim": metrics.ssim_per_frame(predictions, targets)
          .numpy().astype(np.float64), "mse": mse.numpy().astype(np.float64)}


class HeldOutScores:
  """Streaming per-frame means of every score for the model and the three baselines.

  update(context [B, Tc, H, W, 3], future [B, Tp, H, W, 3], predictions [B, Tp, H, W, 3]), all in [-1, 1];
  result() -> {predictor: {score: [Tp] list of floats, f"mean_{score}": float}, "num_clips": int}.
  """

  def __init__(self):
    self._sums = {}
    self._count = 0

  def update(self, context, future, predictions):
    num_predicted = int(future.shape[1])
    candidates = {"model": predictions, "copy_last_frame": metrics.copy_last_frame(context, num_predicted),
                  "context_mean": context_mean(context, num_predicted), "black_frame": black_frame(future)}
    for predictor, prediction in candidates.items():
      for score, values in frame_scores(prediction, future).items():
        key = (predictor, score)
        self._sums[key] = self._sums.get(key, 0.0) + values.sum(axis=0)
    self._count += int(future.shape[0])

  def result(self):
    if not self._count:
      raise ValueError("HeldOutScores got no clip; call update() first.")
    out = {"num_clips": self._count}
    for predictor in PREDICTORS:
      out[predictor] = {}
      for score in SCORES:
        per_frame = self._sums[(predictor, score)] / self._count
        out[predictor][score] = [float(x) for x in per_frame]
        out[predictor][f"mean_{score}"] = float(np.mean(per_frame))
    return out
