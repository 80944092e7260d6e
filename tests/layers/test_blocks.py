"""BigGAN G and D residual blocks: shapes, NumPy references of the G and D blocks, serialization."""

import numpy as np
import pytest
import tensorflow as tf
from scipy import signal

from trivd_gan.layers import blocks
from tests.layers.np_reference import conv as np_conv
from tests.layers.np_reference import dense as np_dense
from tests.layers.np_reference import relu


def test_gblock_shapes_and_gradients():
  block = blocks.GBlock(6, upsample=True)
  x = tf.random.stateless_normal([2, 3, 4, 4, 8], seed=[0, 1])
  cond = tf.random.stateless_normal([2, 16], seed=[0, 2])
  with tf.GradientTape() as tape:
    y = block(x, cond, training=True)
    loss = tf.reduce_sum(y ** 2)
  assert y.shape == (2, 3, 8, 8, 6)
  grads = tape.gradient(loss, block.trainable_variables)
  assert all(g is not None and float(tf.reduce_sum(tf.abs(g))) > 0 for g in grads)
  # Identity shortcut when the shape is unchanged.
  same = blocks.GBlock(8)
  same(x, cond)
  assert not same.learnable_shortcut


def _np_gblock(block, x, cond):
  """BigGAN's G block (appendix A, E.2) in float64, written out: CBN -> ReLU -> [nearest x2] -> conv3x3 ->
  CBN -> ReLU -> conv3x3, plus [nearest x2] -> conv1x1; batch statistics per time step, u read now."""
  frames = x.shape[1]

  def cbn(h, layer):
    mean, var = h.mean(axis=(0, 2, 3), keepdims=True), h.var(axis=(0, 2, 3), keepdims=True)
    gain = 1.0 + np_dense(cond, layer.gain)[:, None, None, None, :]
    return (h - mean) / np.sqrt(var + layer.epsilon) * gain + np_dense(cond, layer.bias)[:, None, None, None, :]

  def up(h):
    return np.repeat(np.repeat(h, 2, axis=1), 2, axis=2) if block.upsample else h

  fold = lambda h: h.reshape((-1,) + h.shape[2:])
  unfold = lambda h: h.reshape((-1, frames) + h.shape[1:])
  h = unfold(np_conv(up(fold(relu(cbn(x, block.bn1)))), block.conv1))
  h = np_conv(fold(relu(cbn(h, block.bn2))), block.conv2)
  shortcut = np_conv(up(fold(x)), block.conv_sc) if block.learnable_shortcut else fold(x)
  return unfold(h + shortcut)


@pytest.mark.parametrize("upsample,out_channels", [(True, 3), (False, 5), (False, 3)])
def test_gblock_matches_numpy(upsample, out_channels):
  """In training (batch statistics): the value, and the input gradient against central differences."""
  block = blocks.GBlock(out_channels, upsample=upsample)
  rng = np.random.default_rng(3)
  x = rng.normal(size=[2, 3, 4, 5, 5]) * 2.0 + 0.5
  cond = rng.normal(size=[2, 6])
  block.build(x.shape, cond.shape)
  for v in block.weights:  # nonzero biases, so that a misplaced bias would show
    if v.path.endswith("/bias"):
      v.assign(rng.normal(size=v.shape) * 0.3)
  # The reference reads every u now: the call in training advances them.
  expected = _np_gblock(block, x, cond)
  r = rng.normal(size=expected.shape)
  probes, eps = [tuple(rng.integers(0, n) for n in x.shape) for _ in range(4)], 1e-5
  numeric = []
  for i in probes:
    dx = np.zeros_like(x)
    dx[i] = eps
    numeric.append(((_np_gblock(block, x + dx, cond) - _np_gblock(block, x - dx, cond)) * r).sum() / (2 * eps))
  x_t = tf.constant(x, tf.float32)
  with tf.GradientTape() as tape:
    tape.watch(x_t)
    y = block(x_t, tf.constant(cond, tf.float32), training=True)
  np.testing.assert_allclose(y.numpy(), expected, rtol=1e-4, atol=1e-4)
  grad = tape.gradient(y, x_t, output_gradients=tf.constant(r, tf.float32)).numpy()
  np.testing.assert_allclose([grad[i] for i in probes], numeric, rtol=1e-3, atol=1e-3)


def test_gblock_gradient_compiles_under_xla():
  """TPUs and train.jit_compile compile G's gradient with XLA: every op of the block and of its gradient needs
  an XLA kernel (a resize's gradient has none), and the compiled values equal the uncompiled ones."""
  block = blocks.GBlock(4, upsample=True)
  x = tf.random.stateless_normal([2, 3, 4, 4, 8], seed=[0, 3])
  cond = tf.random.stateless_normal([2, 16], seed=[0, 4])
  block(x, cond)

  def grads(x):
    with tf.GradientTape() as tape:
      tape.watch(x)
      loss = tf.reduce_sum(block(x, cond) ** 2)
    return tape.gradient(loss, [x] + block.trainable_variables)

  for got, want in zip(tf.function(grads, jit_compile=True)(x), grads(x)):
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-4)


def _conv_same(x, w):
  """NumPy 'SAME' 2D convolution (cross-correlation) of [H, W, Cin] with [k, k, Cin, Cout]."""
  k = w.shape[0]
  p = k // 2
  xp = np.pad(x, ((p, p), (p, p), (0, 0)))
  out = np.zeros(x.shape[:2] + (w.shape[-1],))
  for i in range(x.shape[0]):
    for j in range(x.shape[1]):
      out[i, j] = np.tensordot(xp[i:i + k, j:j + k], w, axes=3)
  return out


def _pool(x):
  return x.reshape(x.shape[0] // 2, 2, x.shape[1] // 2, 2, -1).mean(axis=(1, 3))


@pytest.mark.parametrize("preactivation", [True, False])
def test_dblock_matches_numpy(preactivation):
  x = np.random.RandomState(3).randn(1, 6, 6, 3).astype(np.float32)
  block = blocks.DBlock(4, downsample=True, preactivation=preactivation)
  y = block(tf.constant(x))[0].numpy()
  relu = lambda a: np.maximum(a, 0)
  w1, b1 = block.conv1.normalized_kernel().numpy(), block.conv1.bias.numpy()
  w2, b2 = block.conv2.normalized_kernel().numpy(), block.conv2.bias.numpy()
  ws, bs = block.conv_sc.normalized_kernel().numpy(), block.conv_sc.bias.numpy()
  h = relu(x[0]) if preactivation else x[0]
  h = _conv_same(relu(_conv_same(h, w1) + b1), w2) + b2
  if preactivation:
    sc = _pool(_conv_same(x[0], ws) + bs)
  else:
    sc = _conv_same(_pool(x[0]), ws) + bs
  np.testing.assert_allclose(y, _pool(h) + sc, rtol=1e-4, atol=1e-4)


def test_dblock_3d_shapes():
  x = tf.zeros([2, 4, 8, 8, 3])
  assert blocks.DBlock(5, conv3d=True)(x).shape == (2, 4, 4, 4, 5)
  assert blocks.DBlock(5, conv3d=True, temporal_downsample=True)(x).shape == (2, 2, 4, 4, 5)
  with pytest.raises(ValueError, match="conv3d"):
    blocks.DBlock(5, temporal_downsample=True)


def test_dblock_compute_output_shape_matches_call():
  cases = [(dict(), [2, 8, 8, 3]), (dict(downsample=False), [2, 8, 8, 3]), (dict(conv3d=True), [2, 4, 8, 8, 3]),
           (dict(conv3d=True, temporal_downsample=True), [2, 4, 8, 8, 3])]
  for kwargs, shape in cases:
    block = blocks.DBlock(5, **kwargs)
    assert block.compute_output_shape(tuple(shape)) == tuple(block(tf.zeros(shape)).shape), kwargs
  assert blocks.DBlock(5).compute_output_shape((None, 8, 8, 3)) == (None, 4, 4, 5)


def test_d_stack_widths():
  stack = blocks.d_stack(2, num_conv3d_blocks=2)
  assert [b.out_channels for b in stack] == [2, 4, 8, 16, 32]
  assert [b.conv3d for b in stack] == [True, True, False, False, False]
  assert [b.downsample for b in stack] == [True, True, True, True, False]
  assert not stack[0].preactivation and stack[1].preactivation
  with pytest.raises(ValueError, match="channel_multiplier"):
    blocks.d_stack(0)


def test_serialization_round_trip():
  block = blocks.GBlock(4, upsample=True, name="g")
  clone = blocks.GBlock.from_config(block.get_config())
  assert clone.out_channels == 4 and clone.upsample
  d = blocks.DBlock.from_config(blocks.DBlock(3, conv3d=True).get_config())
  assert d.conv3d


def test_time_folding_and_upsampling_match_numpy_with_static_and_unknown_shapes():
  x = np.random.default_rng(0).normal(size=[2, 3, 4, 5, 6]).astype(np.float32)
  frames = x.reshape([6, 4, 5, 6])

  def all_three(x, frames):
    return blocks.fold_time(x), blocks.unfold_time(frames, 3), blocks.upsample_nearest(frames)

  expected = (frames, x, np.repeat(np.repeat(frames, 2, axis=1), 2, axis=2))
  static = tf.function(all_three).get_concrete_function(tf.constant(x), tf.constant(frames))
  dynamic = tf.function(all_three).get_concrete_function(tf.TensorSpec([None] * 5), tf.TensorSpec([None] * 4))
  for fn in (static, dynamic):
    for got, want in zip(fn(tf.constant(x), tf.constant(frames)), expected):
      np.testing.assert_array_equal(got.numpy(), want)
  # Known sizes: reshapes to constant shapes, no shape computed in the graph.
  assert "Shape" not in {op.type for op in static.graph.get_operations()}
