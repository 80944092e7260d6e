"""Tests of trivd_gan/layers/warping.py against NumPy references from the paper (appendix B, F.1, 4.4)."""

import numpy as np
import pytest
import tensorflow as tf

from tests.layers import np_reference
from tests.layers.np_reference import conv as np_conv
from tests.layers.np_reference import dense as np_dense
from tests.layers.np_reference import relu
from tests.layers.np_reference import softmax
from tests.layers.np_reference import warp as np_warp
from trivd_gan.layers import warping

ATOL = 1e-5


# ---------------------------------------------------------------- NumPy reference (float64), from the paper.

def np_factorized_weights(selection, kernels):
  """Eq. 12: W[i, j, q] = sum_l S[i, j, l] w[q, l]."""
  out = np.zeros(selection.shape[:3] + (kernels.shape[1],))
  for l in range(selection.shape[-1]):
    out += selection[..., l:l + 1] * kernels[:, None, None, :, l]
  return out


def np_warp_softmax(z, axis, logit_scale):
  """The paper's softmax (logit_scale None) or the softmax of tau-scaled standardized logits."""
  if logit_scale is None:
    return softmax(z, axis=axis)
  standardized = (z - z.mean(axis=axis, keepdims=True)) / np.sqrt(z.var(axis=axis, keepdims=True) + 1e-6)
  return softmax(logit_scale * standardized, axis=axis)


def np_adaptive_max_pool(x, s):
  height, width = x.shape[1:3]
  out = np.zeros((x.shape[0], s, s, x.shape[-1]))
  for i in range(s):
    for j in range(s):
      r0, r1 = (i * height) // s, int(np.ceil((i + 1) * height / s))
      c0, c1 = (j * width) // s, int(np.ceil((j + 1) * width / s))
      out[:, i, j] = x[:, r0:r1, c0:c1].max(axis=(1, 2))
  return out


def np_factorized_network(net, inputs):
  """F.1: (W, w, S) of FactorizedWarpingNetwork."""
  k2, n = net.kernel_size ** 2, net.num_kernels
  z = np_adaptive_max_pool(relu(np_conv(inputs, net.conv_w)), net.pool_size).reshape(inputs.shape[0], -1)
  z = np_dense(relu(np_dense(z, net.dense_hidden)), net.dense_out).reshape(-1, k2, n)
  kernels = np_warp_softmax(z, 1, net.logit_scale)
  selection = np_warp_softmax(np_conv(inputs, net.conv_s), -1, net.logit_scale)
  return np_factorized_weights(selection, kernels), kernels, selection


def np_pixelwise_network(net, inputs):
  z = relu(np_conv(inputs, net.conv1))
  z = relu(np_conv(z, net.conv2))
  return np_warp_softmax(np_conv(z, net.conv_out), -1, net.logit_scale)


# ---------------------------------------------------------------- Tests.

def _rand(shape, seed):
  return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_kernel_warp_matches_numpy(k):
  h, w = _rand([2, 5, 6, 3], 0), _rand([2, 5, 6, k * k], 1)
  out = warping.kernel_warp(h, w, k).numpy()
  np.testing.assert_allclose(out, np_warp(h.astype(np.float64), w.astype(np.float64), k), atol=ATOL)


def test_kernel_warp_gradient_matches_autodiff():
  # The custom (memory-lean) gradient must equal plain autodiff of the forward pass.
  h, w, g = tf.constant(_rand([2, 5, 6, 3], 0)), tf.constant(_rand([2, 5, 6, 9], 1)), _rand([2, 5, 6, 3], 2)
  with tf.GradientTape(persistent=True) as tape:
    tape.watch([h, w])
    custom = tf.reduce_sum(warping.kernel_warp(h, w, 3) * g)
    plain = tf.reduce_sum(warping._warp_forward(h, w, 3) * g)
  for a, b in zip(tape.gradient(custom, [h, w]), tape.gradient(plain, [h, w])):
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=ATOL)


@pytest.mark.parametrize("m,n", [(0, 0), (0, 2), (1, 1), (2, 1)])
def test_kernel_warp_one_hot_is_shift(m, n):
  h = _rand([1, 6, 7, 2], 3)
  w = np.zeros([1, 6, 7, 9], np.float32)
  w[..., m * 3 + n] = 1.0
  out = warping.kernel_warp(h, w, 3).numpy()
  # out[i, j] = h[i + m - 1, j + n - 1], zero outside.
  hp = np.pad(h, [(0, 0), (1, 1), (1, 1), (0, 0)])
  np.testing.assert_allclose(out, hp[:, m:m + 6, n:n + 7], atol=0)


def test_kernel_warp_builds_no_patch_tensor():
  """Neither the forward nor the backward graph holds a tensor with k^2 * C values per position."""
  b, hh, ww, c, k = 2, 8, 8, 16, 3

  @tf.function
  def step(h, w):
    with tf.GradientTape() as tape:
      tape.watch([h, w])
      out = warping.kernel_warp(h, w, k)
    return tape.gradient(tf.reduce_sum(out * out), [h, w])

  graph = step.get_concrete_function(tf.TensorSpec([b, hh, ww, c]), tf.TensorSpec([b, hh, ww, k * k])).graph
  limit = b * (hh + k - 1) * (ww + k - 1) * c  # The zero-padded h is the largest tensor allowed.
  sizes = []
  for op in graph.get_operations():
    assert "Patches" not in op.type, op.type
    for t in op.outputs:
      if t.shape.is_fully_defined():
        sizes.append(t.shape.num_elements())
  assert max(sizes) <= limit < k * k * b * hh * ww * c


def test_kernel_warp_bad_arguments():
  with pytest.raises(ValueError, match="odd"):
    warping.kernel_warp(_rand([1, 4, 4, 2], 0), _rand([1, 4, 4, 4], 0), 2)
  with pytest.raises(ValueError, match="k\\^2 = 9"):
    warping.kernel_warp(_rand([1, 4, 4, 2], 0), _rand([1, 4, 4, 4], 0), 3)


def test_factorized_weights_matches_numpy():
  s, w = _rand([2, 3, 4, 5], 0), _rand([2, 9, 5], 1)
  np.testing.assert_allclose(warping.factorized_weights(s, w).numpy(),
                             np_factorized_weights(s.astype(np.float64), w.astype(np.float64)), atol=ATOL)
  with pytest.raises(ValueError, match="agree on N"):
    warping.factorized_weights(s, _rand([2, 9, 4], 1))


@pytest.mark.parametrize("size,spectral_norm,logit_scale", [(8, True, None), (6, True, None), (8, False, None),
                                                            (8, False, 1.5)])
def test_factorized_network_matches_numpy(size, spectral_norm, logit_scale):
  x = _rand([2, size, size, 6], 4)
  net = warping.FactorizedWarpingNetwork(spectral_norm=spectral_norm, logit_scale=logit_scale)
  weights = net(x).numpy()
  kernels, selection = (t.numpy() for t in net.factors(x))
  ref_weights, ref_kernels, ref_selection = np_factorized_network(net, x.astype(np.float64))
  assert net.conv_w.filters == 3 and net.dense_hidden.units == 3 and net.dense_out.units == 81
  np.testing.assert_allclose(kernels, ref_kernels, atol=ATOL)
  np.testing.assert_allclose(selection, ref_selection, atol=ATOL)
  np.testing.assert_allclose(weights, ref_weights, atol=ATOL)
  np.testing.assert_allclose(weights.sum(-1), 1.0, atol=ATOL)  # A distribution over offsets.
  np.testing.assert_allclose(kernels.sum(1), 1.0, atol=ATOL)


@pytest.mark.parametrize("logit_scale", [None, 0.7])
def test_pixelwise_network_matches_numpy(logit_scale):
  x = _rand([2, 5, 7, 6], 5)
  net = warping.PixelwiseWarpingNetwork(logit_scale=logit_scale)
  out = net(x).numpy()
  np.testing.assert_allclose(out, np_pixelwise_network(net, x.astype(np.float64)), atol=ATOL)
  assert out.shape == (2, 5, 7, 9)


@pytest.mark.parametrize("cls", [warping.FactorizedWarpingNetwork, warping.PixelwiseWarpingNetwork])
def test_hyper_network_needs_two_input_channels(cls):
  with pytest.raises(ValueError, match=">= 2 input channels"):
    cls()(_rand([1, 4, 4, 1], 0))


def test_network_config_round_trip():
  net = warping.FactorizedWarpingNetwork(kernel_size=5, num_kernels=4, spectral_norm=False, logit_scale=2)
  clone = warping.FactorizedWarpingNetwork.from_config(net.get_config())
  assert (clone.kernel_size, clone.num_kernels, clone.spectral_norm, clone.logit_scale) == (5, 4, False, 2.0)
  pixelwise = warping.PixelwiseWarpingNetwork()
  assert warping.PixelwiseWarpingNetwork.from_config(pixelwise.get_config()).logit_scale is None
  with pytest.raises(ValueError, match="logit_scale must be None"):
    warping.PixelwiseWarpingNetwork(logit_scale=0.0)


def test_warp_softmax_with_a_logit_scale_never_saturates():
  """Runaway logits make the paper's softmax one-hot with a vanishing gradient; standardized logits times tau
  keep every weight below 1 / (1 + 8 exp(-tau * 9 / sqrt(8))) and the gradient alive, whatever their size."""
  z = tf.constant(_rand([64, 9], 6) * 1e3)
  paper = warping.warp_softmax(z, -1)
  assert float(tf.reduce_mean(tf.reduce_max(paper, -1))) > 0.99  # one-hot but for near ties
  for tau in (0.5, 1.0, 2.0):
    with tf.GradientTape() as tape:
      tape.watch(z)
      weights = warping.warp_softmax(z, -1, tau)
      loss = tf.reduce_sum(weights * tf.constant(_rand([64, 9], 7)))
    bound = 1.0 / (1.0 + 8.0 * np.exp(-tau * 9.0 / np.sqrt(8.0)))
    assert float(tf.reduce_max(weights)) <= bound + 1e-6
    np.testing.assert_allclose(tf.reduce_sum(weights, -1), 1.0, atol=1e-5)
    assert float(tf.reduce_max(tf.abs(tape.gradient(loss, z)))) > 1e-6  # alive, scaled by 1 / std(z) ~ 1e-3
  # The bound is reached by one large logit among eight equal ones.
  one_high = tf.constant([[5.0] + [0.0] * 8])
  np.testing.assert_allclose(warping.warp_softmax(one_high, -1, 1.0)[0, 0],
                             1.0 / (1.0 + 8.0 * np.exp(-9.0 / np.sqrt(8.0))), rtol=1e-4)


@pytest.mark.parametrize("dy,dx", [(0, 1), (1, 0), (-1, 1), (1, -1), (0, 0)])
def test_expected_flow_of_translation(dy, dx):
  """Content moving by (dy, dx) pixels gives flow (dy, dx): tied to what kernel_warp actually does."""
  h_prev = _rand([1, 6, 6, 2], 6)
  h_next = np.roll(h_prev, (dy, dx), axis=(1, 2))  # Content translated down by dy, right by dx.
  # The one-hot weights that reproduce this translation: read from (i - dy, j - dx), i.e. m = 1 - dy.
  w = np.zeros([1, 6, 6, 9], np.float32)
  w[..., (1 - dy) * 3 + (1 - dx)] = 1.0
  warped = warping.kernel_warp(h_prev, w, 3).numpy()
  np.testing.assert_allclose(warped[:, 1:-1, 1:-1], h_next[:, 1:-1, 1:-1], atol=0)
  flow = warping.expected_flow(w, 3).numpy()
  np.testing.assert_allclose(flow[..., 0], dy, atol=0)
  np.testing.assert_allclose(flow[..., 1], dx, atol=0)


def test_expected_flow_is_an_expectation():
  w = np.zeros([1, 1, 1, 9], np.float32)
  w[..., 5] = 0.5  # Reads from (0, +1): content moved left, dx = -1.
  w[..., 4] = 0.25  # Identity.
  w[..., 1] = 0.25  # Reads from (-1, 0): content moved down, dy = +1.
  np.testing.assert_allclose(warping.expected_flow(w).numpy()[0, 0, 0], [0.25, -0.5], atol=1e-7)


def test_combine_flows_constant():
  coarse = np.tile(np.array([1.0, -2.0], np.float32), [2, 4, 4, 1])
  mid = np.tile(np.array([0.5, 0.5], np.float32), [2, 8, 8, 1])
  fine = np.zeros([2, 16, 16, 2], np.float32)
  for method in ("nearest", "bilinear"):
    out = warping.combine_flows([coarse, mid], method).numpy()
    np.testing.assert_allclose(out, np.tile([2.5, -3.5], [2, 8, 8, 1]), atol=1e-6)
    out = warping.combine_flows([coarse, mid, fine], method).numpy()
    np.testing.assert_allclose(out, np.tile([5.0, -7.0], [2, 16, 16, 1]), atol=1e-6)


def test_combine_flows_nearest_matches_numpy():
  coarse, fine = _rand([1, 3, 3, 2], 7), _rand([1, 6, 6, 2], 8)
  ref = 2 * np.repeat(np.repeat(coarse, 2, axis=1), 2, axis=2) + fine
  np.testing.assert_allclose(warping.combine_flows([coarse, fine]).numpy(), ref, atol=1e-6)


def test_combine_flows_bad_arguments():
  with pytest.raises(ValueError, match="integer multiple"):
    warping.combine_flows([_rand([1, 4, 4, 2], 0), _rand([1, 6, 6, 2], 0)])
  with pytest.raises(ValueError, match="nearest"):
    warping.combine_flows([_rand([1, 4, 4, 2], 0)], method="cubic")
  with pytest.raises(ValueError, match="non-empty"):
    warping.combine_flows([])


def test_backward_warp_matches_numpy_and_moves_content_along_the_flow():
  rng = np.random.default_rng(0)
  images = rng.random((2, 6, 7, 3)).astype(np.float32)
  flow = rng.uniform(-2.5, 2.5, size=(2, 6, 7, 2)).astype(np.float32)
  np.testing.assert_allclose(warping.backward_warp(images, flow).numpy(),
                             np_reference.backward_warp(images, flow), atol=1e-5)
  # A flow of (0, +1): content moves one pixel right (the convention of expected_flow); the border repeats.
  right = np.zeros_like(flow)
  right[..., 1] = 1.0
  moved = warping.backward_warp(images, right).numpy()
  np.testing.assert_allclose(moved[:, :, 1:], images[:, :, :-1], atol=1e-6)
  np.testing.assert_allclose(moved[:, :, 0], images[:, :, 0], atol=1e-6)
  # Differentiable in the flow (through the bilinear weights).
  flow_var = tf.Variable(flow)
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(warping.backward_warp(images, flow_var))
  assert float(tf.reduce_sum(tf.abs(tape.gradient(loss, flow_var)))) > 0


def test_kernel_warp_with_unknown_sizes_equals_static_and_static_slices_need_no_shape_ops():
  h, w, g = _rand([2, 5, 6, 3], 0), _rand([2, 5, 6, 9], 1), _rand([2, 5, 6, 3], 2)

  def value_and_grads(h, w):
    with tf.GradientTape() as tape:
      tape.watch([h, w])
      out = warping.kernel_warp(h, w, 3)
      loss = tf.reduce_sum(out * g)
    return [out] + tape.gradient(loss, [h, w])

  static = tf.function(value_and_grads).get_concrete_function(tf.constant(h), tf.constant(w))
  dynamic = tf.function(value_and_grads).get_concrete_function(
      tf.TensorSpec([None, None, None, 3]), tf.TensorSpec([None, None, None, 9]))
  for a, b in zip(static(tf.constant(h), tf.constant(w)), dynamic(tf.constant(h), tf.constant(w))):
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=ATOL)
  # Static shapes: every offset's slice has constant bounds (no shape read in the graph, no bound arithmetic).
  assert "Shape" not in {op.type for op in static.graph.get_operations()}
  assert "Shape" in {op.type for op in dynamic.graph.get_operations()}
  assert len(static.graph.get_operations()) < 0.7 * len(dynamic.graph.get_operations())
