"""Batch norm (per-time-step moments, moving/standing statistics) and conditional batch norm vs NumPy."""

import numpy as np
import pytest
import tensorflow as tf

from trivd_gan.layers import normalization


def test_training_uses_batch_moments_and_updates_moving_stats():
  x = np.random.RandomState(0).randn(4, 5, 6, 3).astype(np.float32) * 2 + 1
  bn = normalization.BatchNorm(momentum=0.9, epsilon=1e-4)
  y = bn(tf.constant(x), training=True).numpy()
  mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
  np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-4), rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(bn.moving_mean.numpy(), 0.1 * mean, rtol=1e-5)
  np.testing.assert_allclose(bn.moving_variance.numpy(), 0.9 + 0.1 * var, rtol=1e-5)
  # Inference uses the moving statistics.
  y_inf = bn(tf.constant(x), training=False).numpy()
  np.testing.assert_allclose(y_inf, (x - 0.1 * mean) / np.sqrt(0.9 + 0.1 * var + 1e-4), rtol=1e-4, atol=1e-4)


def test_per_time_step_statistics():
  x = np.random.RandomState(1).randn(3, 4, 5, 5, 2).astype(np.float32)
  x += np.arange(4, dtype=np.float32)[None, :, None, None, None] * 10  # each time step its own mean
  bn = normalization.BatchNorm(per_time_step=True, scale=False, center=False)
  y = bn(tf.constant(x), training=True).numpy()
  mean = x.mean(axis=(0, 2, 3), keepdims=True)
  var = x.var(axis=(0, 2, 3), keepdims=True)
  np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-4), rtol=1e-4, atol=1e-4)
  assert bn.moving_mean.shape == (4, 2)


def test_momentum_n_over_n_plus_one_gives_cumulative_average():
  bn = normalization.BatchNorm()
  batches = [np.random.RandomState(i).randn(8, 3).astype(np.float32) * (i + 1) for i in range(5)]
  bn(tf.constant(batches[0]))
  bn.moving_mean.assign(tf.zeros_like(bn.moving_mean))
  bn.moving_variance.assign(tf.zeros_like(bn.moving_variance))
  for n, b in enumerate(batches):
    bn.momentum.assign(n / (n + 1))
    bn(tf.constant(b), training=True)
  np.testing.assert_allclose(bn.moving_mean.numpy(), np.mean([b.mean(0) for b in batches], 0), rtol=1e-5)
  np.testing.assert_allclose(bn.moving_variance.numpy(), np.mean([b.var(0) for b in batches], 0), rtol=1e-5)


def test_conditional_batch_norm_matches_numpy():
  rs = np.random.RandomState(2)
  x = rs.randn(2, 3, 4, 4, 5).astype(np.float32)
  cond = rs.randn(2, 6).astype(np.float32)
  cbn = normalization.ConditionalBatchNorm(per_time_step=True)
  y = cbn(tf.constant(x), tf.constant(cond), training=True).numpy()
  gain = cond @ cbn.gain.normalized_kernel().numpy() + cbn.gain.bias.numpy()
  bias = cond @ cbn.bias.normalized_kernel().numpy() + cbn.bias.bias.numpy()
  mean = x.mean(axis=(0, 2, 3), keepdims=True)
  var = x.var(axis=(0, 2, 3), keepdims=True)
  expected = ((x - mean) / np.sqrt(var + 1e-4) * (1 + gain[:, None, None, None, :]) +
              bias[:, None, None, None, :])
  np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


def test_bad_arguments():
  with pytest.raises(ValueError, match="momentum"):
    normalization.BatchNorm(momentum=1.0)
  with pytest.raises(ValueError, match="per_time_step"):
    normalization.BatchNorm(per_time_step=True)(tf.zeros([2, 3]))


def test_one_replica_computes_plain_moments_without_all_reduces():
  bn = normalization.BatchNorm()
  x = tf.random.stateless_normal([4, 3, 3, 5], seed=[1, 2])
  bn.build(x.shape)
  graph = tf.function(lambda v: bn(v, training=True)).get_concrete_function(x).graph
  # The synchronized path's op: the all-reduced sums divided by the all-reduced count.
  assert "DivNoNan" not in {op.type for op in graph.get_operations()}
  np.testing.assert_allclose(bn(x, training=True).numpy().mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
