"""evaluation/accumulators.py: the streaming per-frame mean, and best-of-l SSIM (C.1) chosen one sample at a
time equals `metrics.best_of_l_ssim` on the stacked samples."""

import numpy as np

from trivd_gan.evaluation import accumulators
from trivd_gan.evaluation import metrics


def test_per_frame_mean_streams():
  acc = accumulators.PerFrameMean()
  data = np.arange(12.0).reshape(6, 2)
  acc.update(data[:4])
  acc.update(data[4:])
  np.testing.assert_allclose(acc.result(), data.mean(axis=0))


def test_streaming_best_of_l_equals_best_of_l_ssim():
  rng = np.random.default_rng(1)
  targets = rng.uniform(-1, 1, [3, 2, 16, 16, 3]).astype(np.float32)
  # Samples are noisy copies of the targets with different noise levels, so the best one differs by context.
  samples = np.stack([np.clip(targets + rng.normal(0, s, targets.shape), -1, 1) for s in (0.8, 0.2, 0.5, 0.2)])
  samples = samples.astype(np.float32)
  expected, _ = metrics.best_of_l_ssim(samples, targets)
  chooser = accumulators.StreamingBestOfL()
  for sample in samples:
    chooser.update(metrics.ssim_per_frame(sample, targets))
  np.testing.assert_allclose(chooser.result(), expected.numpy(), rtol=1e-6)
