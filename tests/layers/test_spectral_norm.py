"""Spectral normalization: NumPy power iteration, gradient through sigma, u updated only in training."""

import numpy as np
import pytest
import tensorflow as tf

from trivd_gan.layers import spectral_norm


def numpy_sigma(w, u):
  """One power iteration written from Miyato et al. (2018), algorithm 1, for W [fan_in, units]."""
  v = u @ w.T
  v = v / np.linalg.norm(v)
  u_new = v @ w
  u_new = u_new / np.linalg.norm(u_new)
  return float((v @ w @ u_new.T).squeeze()), u_new


@pytest.mark.parametrize("layer_fn,input_shape", [
    (lambda: spectral_norm.SNDense(7), (2, 5)),
    (lambda: spectral_norm.SNConv2D(6, 3), (2, 8, 8, 4)),
    (lambda: spectral_norm.SNConv3D(5, 3), (1, 4, 6, 6, 3)),
])
def test_forward_uses_w_over_sigma_from_one_power_iteration(layer_fn, input_shape):
  layer = layer_fn()
  x = tf.random.stateless_normal(input_shape, seed=[1, 2])
  layer(x)
  w = layer.kernel.numpy().reshape(-1, layer.units_).astype(np.float64)
  u = layer.sn_u.numpy().astype(np.float64)
  sigma, u_new = numpy_sigma(w, u)
  np.testing.assert_allclose(layer.normalized_kernel(training=False).numpy(),
                             layer.kernel.numpy() / sigma, rtol=1e-5)
  # Inference leaves u alone; training advances it by one power iteration.
  np.testing.assert_allclose(layer.sn_u.numpy(), u, rtol=0, atol=0)
  layer(x, training=True)
  np.testing.assert_allclose(layer.sn_u.numpy(), u_new, rtol=1e-5, atol=1e-6)


def test_converges_to_largest_singular_value_and_kernel_is_untouched():
  layer = spectral_norm.SNDense(16)
  layer(tf.zeros([1, 32]))
  layer.kernel.assign(layer.kernel * 3.0)
  raw = layer.kernel.numpy().copy()
  for _ in range(50):
    layer(tf.zeros([1, 32]), training=True)
  np.testing.assert_array_equal(layer.kernel.numpy(), raw)  # unlike keras.layers.SpectralNormalization
  top = np.linalg.svd(layer.normalized_kernel().numpy(), compute_uv=False)[0]
  assert abs(top - 1.0) < 1e-4


def test_gradient_flows_through_sigma():
  layer = spectral_norm.SNDense(3, use_bias=False)
  x = tf.constant([[1.0, 2.0, -1.0, 0.5]])
  layer(x)
  with tf.GradientTape() as tape:
    y = tf.reduce_sum(layer(x) ** 2)
  grad = tape.gradient(y, layer.kernel).numpy()
  # NumPy reference: with u and v constants of the power iteration, sigma = v W u_new^T and
  # d(W / sigma) contributes -<G, W> / sigma^2 * v^T u_new, where G = dL/d(W / sigma).
  u = layer.sn_u.numpy().astype(np.float64)
  w0 = layer.kernel.numpy().astype(np.float64)
  xn = x.numpy().astype(np.float64)
  # The analytic gradient treats u and v as constants: sigma = v W u^T, which is what the layer does.
  sig, _ = numpy_sigma(w0, u)
  v = u @ w0.T
  v /= np.linalg.norm(v)
  un = v @ w0
  un /= np.linalg.norm(un)
  g_out = 2 * (xn.T @ (xn @ (w0 / sig)))  # dL/dW_normalized
  expected = g_out / sig - np.sum(g_out * w0) / sig ** 2 * (v.T @ un)
  np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-5)
  # Without the sigma term the gradient would differ: the test can tell the two apart.
  assert np.abs(expected - g_out / sig).max() > 1e-3


def test_orthogonal_initialization():
  layer = spectral_norm.SNDense(8)
  layer(tf.zeros([1, 8]))
  w = layer.kernel.numpy()
  np.testing.assert_allclose(w.T @ w, np.eye(8), atol=1e-5)


def test_config_round_trip():
  layer = spectral_norm.SNConv2D(4, (3, 1), strides=2, padding="valid", use_bias=False)
  clone = spectral_norm.SNConv2D.from_config(layer.get_config())
  assert clone.kernel_size == (3, 1) and clone.strides == (2, 2) and not clone.use_bias
  y = clone(tf.zeros([1, 9, 9, 2]))
  assert tuple(y.shape) == clone.compute_output_shape((1, 9, 9, 2)) == (1, 4, 5, 4)


def test_bad_arguments():
  with pytest.raises(ValueError, match="padding"):
    spectral_norm.SNConv2D(4, padding="reflect")
  with pytest.raises(ValueError, match="filters"):
    spectral_norm.SNConv3D(0)


def test_kernels_shared_over_calls_run_one_power_iteration_per_block():
  """Inside the block (a recurrent unit's unroll): one power iteration and one u update per forward pass."""
  layer = spectral_norm.SNConv2D(4, 3)
  x = tf.random.stateless_normal((2, 6, 6, 3), seed=[3, 4])
  layer.build(x.shape)
  w = layer.kernel.numpy().reshape(-1, 4).astype(np.float64)
  u0 = layer.sn_u.numpy().astype(np.float64)
  sigma1, u1 = numpy_sigma(w, u0)
  with spectral_norm.kernels_shared_over_calls():
    outputs = [layer(x, training=True).numpy() for _ in range(3)]
  np.testing.assert_allclose(layer.sn_u.numpy(), u1, rtol=1e-5, atol=1e-6)  # updated once, not 3 times
  for out in outputs:  # every call used the W / sigma of the block's first power iteration
    np.testing.assert_allclose(out, outputs[0])
  expected = tf.nn.conv2d(x, (w / sigma1).reshape(3, 3, 3, 4).astype(np.float32), 1, "SAME").numpy()
  np.testing.assert_allclose(outputs[0], expected, rtol=1e-4, atol=1e-5)
  # Outside a block every call iterates again: u moves on.
  layer(x, training=True)
  _, u2 = numpy_sigma(w, u1)
  np.testing.assert_allclose(layer.sn_u.numpy(), u2, rtol=1e-5, atol=1e-6)
  # In inference u never changes, so sharing gives exactly the unshared outputs.
  with spectral_norm.kernels_shared_over_calls():
    shared = layer(x).numpy()
  np.testing.assert_array_equal(shared, layer(x).numpy())


def test_kernels_shared_over_calls_never_cross_graphs():
  """A kernel normalized in one graph is not reused by another (it would be an out-of-graph tensor there)."""
  layer = spectral_norm.SNDense(3)
  x = tf.ones([2, 4])
  layer.build(x.shape)
  with spectral_norm.kernels_shared_over_calls():
    eager = layer(x, training=False)
    traced = tf.function(lambda v: layer(v, training=False) * 2.0)(x)
  np.testing.assert_allclose(traced.numpy(), 2.0 * eager.numpy(), rtol=1e-6)
