"""Streaming accumulators of the evaluation (NumPy): O(T) memory whatever the number of clips.

`PerFrameMean` averages per-frame PSNR / SSIM over clips; `StreamingBestOfL` chooses BAIR's best-of-l sample
(paper C.1) one sample at a time. (FVD's and the Inception Score's accumulators live in `fvd.py` and
`metrics.py`.)
"""

import numpy as np


class PerFrameMean:
  """Running mean over clips of per-frame values [B, T] -> [T] (float64), O(T) memory."""

  def __init__(self):
    self.sum, self.count = None, 0

  def update(self, values):
    values = np.asarray(values, np.float64)
    self.sum = values.sum(axis=0) if self.sum is None else self.sum + values.sum(axis=0)
    self.count += values.shape[0]

  def result(self):
    if not self.count:
      raise ValueError("PerFrameMean has no samples.")
    return self.sum / self.count


class StreamingBestOfL:
  """Best-of-l SSIM (C.1) over samples fed one at a time: equals `metrics.best_of_l_ssim` on the stacked samples
  (first maximum of the mean-over-frames SSIM wins), without holding l videos."""

  def __init__(self):
    self.best_mean, self.best = None, None

  def update(self, ssim):
    """ssim: [B, T] per-frame SSIM of one more sample per context."""
    ssim = np.asarray(ssim, np.float64)
    mean = ssim.mean(axis=1)
    if self.best is None:
      self.best_mean, self.best = mean, ssim.copy()
      return
    better = mean > self.best_mean
    self.best_mean = np.where(better, mean, self.best_mean)
    self.best = np.where(better[:, None], ssim, self.best)

  def result(self):
    """[B, T] the per-frame SSIM of each context's best sample."""
    return self.best
