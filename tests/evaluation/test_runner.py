"""evaluation/runner.py: one sampling run and the run-independent figures on a tiny generator (a stand-in
embedder instead of I3D), latents by (seed, batch), and generation spread over two replicas."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from trivd_gan.evaluation import metrics
from trivd_gan.evaluation import runner
from trivd_gan.models import generator as generator_lib

ROOT = pathlib.Path(__file__).resolve().parents[2]
TC, TP, RES = 2, 2, 32


class _MeanColourEmbedder:
  """Stands in for I3D: a clip's mean colour per frame, [B, T * 3] (cheap, and differs between clips)."""

  def embed(self, videos):
    return tf.reshape(tf.reduce_mean(videos, axis=[2, 3]), [int(videos.shape[0]), -1])


@pytest.fixture(scope="module")
def sampler():
  g = generator_lib.Generator(channel_multiplier=1, num_context_frames=TC, num_predicted_frames=TP,
                              resolution=RES).build_for_shapes(1)
  return runner.Sampler(g, truncation=None)


def _batches():
  rng = np.random.default_rng(0)
  videos = rng.uniform(-1, 1, [2, 3, TC + TP, RES, RES, 3]).astype(np.float32)
  return [(tf.constant(video), tf.zeros([3], tf.int32)) for video in videos]


def test_latents_are_a_function_of_seed_and_batch(sampler):
  context = _batches()[0][0][:, :TC]
  label = tf.zeros([3], tf.int32)
  a = sampler.generate(context, label, 5, 0)
  assert a.shape == (3, TP, RES, RES, 3)
  np.testing.assert_array_equal(a.numpy(), sampler.generate(context, label, 5, 0).numpy())
  assert np.abs(a.numpy() - sampler.generate(context, label, 6, 0).numpy()).max() > 0
  assert np.abs(a.numpy() - sampler.generate(context, label, 5, 1).numpy()).max() > 0
  assert sampler.labels(label) is None  # an unconditional G (one class) gets no labels


def test_a_run_and_the_run_independent_figures(sampler):
  embed = runner.make_embed_fn(_MeanColourEmbedder(), time_repeat=1)
  batches = _batches()
  fixed = runner.RunIndependentFigures(sampler, embed, real_cached=False, best_of_l=2, seed=0)
  progress_line = runner._Progress("run 1/1", 6)  # pylint: disable=protected-access
  (mean, cov), inception, psnr, ssim = runner.sample_run(sampler, embed, batches, 0, progress_line,
                                                         run_independent=fixed)
  assert mean.shape == (12,) and cov.shape == (12, 12)
  assert inception >= 1.0 - 1e-6 and psnr.shape == (TP,) and ssim.shape == (TP,)
  # The copy-last-frame baseline, averaged over the 6 clips.
  videos = tf.concat([video for video, _ in batches], axis=0)
  copy = metrics.copy_last_frame(videos[:, :TC], TP)
  expected_psnr = metrics.psnr_per_frame(copy, videos[:, TC:]).numpy().mean(0)
  np.testing.assert_allclose(fixed.copy_psnr.result(), expected_psnr, rtol=1e-5)
  real_mean, _ = fixed.real.statistics()
  np.testing.assert_allclose(real_mean, embed(videos).numpy().mean(0), rtol=1e-4, atol=1e-6)
  # Per context the chosen sample has the higher mean-over-frames SSIM of the two, so on average too.
  best = fixed.best.result()
  assert best.shape == (TP,)
  for j in range(2):
    ssim_j = np.concatenate([metrics.ssim_per_frame(
        sampler.generate(video[:, :TC], label, runner.BEST_OF_L_SEED_OFFSET + j, i), video[:, TC:]).numpy()
                             for i, (video, label) in enumerate(batches)])
    assert best.mean() >= ssim_j.mean(1).mean() - 1e-6


def test_embed_repeats_frames_for_short_clips():
  seen = []

  class Recorder:
    def embed(self, videos):
      seen.append(videos.shape)
      return videos

  runner.make_embed_fn(Recorder(), time_repeat=3)(tf.zeros([1, 4, 8, 8, 3]))
  assert seen == [(1, 12, 8, 8, 3)]


# Not a raw string: the backslash-newline below is dropped, so the program runs the `g = ...` line as one line.
_MIRRORED_CHECK = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from trivd_gan.evaluation import runner
from trivd_gan.models.generator import Generator, sample_latents
g = Generator(channel_multiplier=1, num_context_frames=2, num_predicted_frames=2, \
resolution=32).build_for_shapes(1)
s = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice())
ctx = tf.random.uniform([3, 2, 32, 32, 3], -1, 1, seed=1)
z = sample_latents(3, seed=tf.constant([1, 2], tf.int64))
a = runner.make_generate_fn(g, None)(ctx, z, None)
b = runner.make_generate_fn(g, s)(ctx, z, None)  # 3 clips on 2 replicas: padded to 4, cut back to 3
assert s.num_replicas_in_sync == 2 and b.shape == a.shape, (b.shape, a.shape)
assert float(tf.reduce_max(tf.abs(a - b))) < 1e-4
print("OK")
"""


@pytest.mark.slow
def test_mirrored_generation_equals_single_device():
  env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
  result = subprocess.run([sys.executable, "-c", _MIRRORED_CHECK], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
  assert result.returncode == 0 and "OK" in result.stdout, result.stderr[-3000:]
