"""standing_stats.apply_standing_statistics against a NumPy average of per-batch moments (paper E.2)."""

import keras
import numpy as np
import tensorflow as tf

from trivd_gan.layers import normalization
from trivd_gan.layers import spectral_norm
from trivd_gan.training import standing_stats


class TinyG(keras.Model):
  """Stands in for a Generator: call(context, z, labels, training); BN on 2 z + 1, then an SN layer."""

  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    self.bn = normalization.BatchNorm(momentum=0.9)
    self.dense = spectral_norm.SNDense(3, name="dense")

  def call(self, context, z, labels=None, training=False):
    return self.dense(self.bn(2.0 * z + 1.0, training=training), training=training)


def _model():
  model = TinyG(name="tiny_g")
  model(None, tf.zeros([2, 4]), training=False)
  return model


def test_matches_numpy_average_and_restores_momentum_and_u():
  model = _model()
  rng = np.random.default_rng(0)
  zs = [rng.normal(size=(5, 4)).astype(np.float32) * (i + 1) for i in range(6)]
  model.bn.moving_mean.assign(np.full([4], 7.0, np.float32))  # must be discarded
  u_before = model.dense.sn_u.numpy().copy()
  weights_before = [w.numpy().copy() for w in model.trainable_variables]

  passes = standing_stats.apply_standing_statistics(model, [(None, z) for z in zs], num_batches=100)

  assert passes == len(zs)
  x = [2.0 * z + 1.0 for z in zs]
  np.testing.assert_allclose(model.bn.moving_mean.numpy(), np.mean([v.mean(0) for v in x], 0), rtol=1e-5,
                             atol=1e-5)
  np.testing.assert_allclose(model.bn.moving_variance.numpy(), np.mean([v.var(0) for v in x], 0), rtol=1e-5,
                             atol=1e-5)
  np.testing.assert_allclose(model.bn.momentum.numpy(), 0.9, rtol=1e-6)
  np.testing.assert_array_equal(model.dense.sn_u.numpy(), u_before)
  for before, after in zip(weights_before, model.trainable_variables):
    np.testing.assert_array_equal(before, after.numpy())


def test_callable_source_and_num_batches():
  model = _model()
  zs = [np.full((3, 4), float(i), np.float32) + np.arange(3, dtype=np.float32)[:, None] for i in range(10)]
  standing_stats.apply_standing_statistics(model, lambda i: (None, zs[i]), num_batches=4)
  np.testing.assert_allclose(model.bn.moving_mean.numpy(), np.mean([2 * z.mean(0) + 1 for z in zs[:4]], 0),
                             rtol=1e-5)


def test_finds_every_batch_norm_of_the_generator():
  from trivd_gan.models import generator  # pylint: disable=g-import-not-at-top
  g = generator.Generator(channel_multiplier=1, recurrent_unit="convgru", num_context_frames=1,
                          num_predicted_frames=1, resolution=32)
  g.build_for_shapes(1)
  bns = standing_stats.batch_norms(g)
  # G's output BN plus the conditional BNs of its GBlocks (two per block, six blocks).
  assert len(bns) >= 13
  assert len(standing_stats.spectral_norm_vectors(g)) > 10


def test_dataset_batches_reads_training_contexts_once():
  from trivd_gan.models import generator as generator_lib  # pylint: disable=import-outside-toplevel
  g = generator_lib.Generator(channel_multiplier=1, num_context_frames=2, num_predicted_frames=2, resolution=32)
  batches = standing_stats.dataset_batches("synthetic", None, g, num_batches=3, batch_size=2, seed=5)
  context, z = batches(1)
  assert context.shape == (2, 2, 32, 32, 3) and z.shape == (2, g.latent_dim)
  assert float(tf.reduce_max(tf.abs(context))) <= 1.0
  again, z_again = batches(1)
  np.testing.assert_array_equal(context.numpy(), again.numpy())  # read once, up front
  np.testing.assert_array_equal(z.numpy(), z_again.numpy())  # z is a function of (seed, i)
  assert not np.array_equal(batches(0)[0].numpy(), context.numpy())


def test_logs_progress_with_an_eta(caplog):
  # 100 passes of 256 clips took minutes with a single log line before them.
  model = _model()
  zs = [np.full((3, 4), float(i), np.float32) for i in range(25)]
  with caplog.at_level("INFO", logger="absl"):  # the absl logger: an earlier test may have raised its level
    standing_stats.apply_standing_statistics(model, lambda i: (None, zs[i]), num_batches=25)
  lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Standing statistics: pass")]
  assert [line.split(",")[0] for line in lines] == ["Standing statistics: pass 10/25",
                                                   "Standing statistics: pass 20/25",
                                                   "Standing statistics: pass 25/25"]
  assert "s per pass, ETA 0h00m" in lines[0] and lines[-1].endswith("ETA 0h00m00s.")
  caplog.clear()
  with caplog.at_level("INFO", logger="absl"):  # the absl logger: an earlier test may have raised its level
    standing_stats.apply_standing_statistics(model, lambda i: (None, zs[i]), num_batches=25, log_every=0)
  assert not [r for r in caplog.records if "Standing statistics" in r.getMessage()]
