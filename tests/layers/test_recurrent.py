"""Tests of trivd_gan/layers/recurrent.py against NumPy references of the paper's equations.

Eqs. 1-5 (ConvGRU), 6-10 and the TSRU_p/TSRU_s replacements (3.2), 16-22 (K-TrajGRU, F.2), F.3 (ConvLSTM), with
the hyper-networks of F.1 and the warping of appendix B. Spectral normalization is recomputed in NumPy.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.layers.np_reference import conv
from tests.layers.np_reference import dense
from tests.layers.np_reference import relu
from tests.layers.np_reference import sigmoid
from tests.layers.np_reference import softmax
from tests.layers.np_reference import warp
from trivd_gan.layers import recurrent
from trivd_gan.layers import spectral_norm

ATOL = 1e-5
B, H, W, C, CX = 2, 8, 8, 4, 6


# ---------------------------------------------------------------- NumPy reference (float64), from the paper.

def cat(*xs):
  return np.concatenate(xs, axis=-1)


def factorized_f(net, inputs):
  """F.1 factorized hyper-network + eq. 12 -> W [B, H, W, k^2]."""
  z = relu(conv(inputs, net.conv_w))
  s, (height, width) = net.pool_size, z.shape[1:3]
  pooled = np.stack([np.stack([z[:, i * height // s:-(-(i + 1) * height // s),
                                 j * width // s:-(-(j + 1) * width // s)].max(axis=(1, 2))
                               for j in range(s)], axis=1) for i in range(s)], axis=1)
  z = relu(dense(pooled.reshape(inputs.shape[0], -1), net.dense_hidden))
  kernels = softmax(dense(z, net.dense_out).reshape(-1, net.kernel_size ** 2, net.num_kernels), axis=1)
  selection = softmax(conv(inputs, net.conv_s), axis=-1)
  return np.einsum("bhwl,bql->bhwq", selection, kernels)  # Eq. 12.


def pixelwise_f(net, inputs):
  z = relu(conv(relu(conv(inputs, net.conv1)), net.conv2))
  return softmax(conv(z, net.conv_out), axis=-1)


def np_convgru(unit, x, h):
  """Eqs. 1-5, rho = ReLU."""
  r = sigmoid(conv(cat(h, x), unit.conv_r))
  c = relu(conv(cat(r * h, x), unit.conv_c))
  u = sigmoid(conv(cat(h, x), unit.conv_u))
  return u * h + (1 - u) * c, None


def np_convlstm(unit, x, state):
  """F.3: state = [h; c], each channels/2; ReLU activation; output [h_t; c_t]."""
  h, cell = np.split(state, 2, axis=-1)
  hx = cat(h, x)
  i, f, o = (sigmoid(conv(hx, layer)) for layer in (unit.conv_i, unit.conv_f, unit.conv_o))
  g = relu(conv(hx, unit.conv_g))
  cell = f * cell + i * g
  return cat(o * relu(cell), cell), None


def np_k_trajgru(unit, x, h):
  """Eqs. 16-22, rho = tanh; eq. 22 mixes the unwarped h_{t-1}."""
  weights = factorized_f(unit.hyper, cat(h, x))  # (16)
  hw = warp(h, weights, 3)  # (17)
  r = sigmoid(conv(cat(hw, x), unit.conv_r))  # (18)
  c = np.tanh(conv(cat(r * hw, x), unit.conv_c))  # (19, 20)
  u = sigmoid(conv(cat(hw, x), unit.conv_u))  # (21)
  return u * h + (1 - u) * c, weights  # (22)


def np_tsru(variant, pixelwise=False):
  def step(unit, x, h):
    f = pixelwise_f if pixelwise else factorized_f
    weights = f(unit.hyper, cat(h, x))  # (6)
    hw = warp(h, weights, 3)  # (7)
    if variant == "p":
      c = relu(conv(cat(h, x), unit.conv_c))  # TSRU_p's replacement for (8).
    else:
      c = relu(conv(cat(hw, x), unit.conv_c))  # (8)
    if variant == "s":
      u = sigmoid(conv(cat(hw, c), unit.conv_u))  # TSRU_s's replacement for (9).
    else:
      u = sigmoid(conv(cat(h, x), unit.conv_u))  # (9)
    return u * hw + (1 - u) * c, weights  # (10)
  return step


REFERENCES = {
    "convgru": np_convgru,
    "convlstm": np_convlstm,
    "k_trajgru": np_k_trajgru,
    "tsru_c": np_tsru("c"),
    "tsru_p": np_tsru("p"),
    "tsru_s": np_tsru("s"),
    "ptsru_s": np_tsru("s", pixelwise=True),
}
WARPING = {"k_trajgru", "tsru_c", "tsru_p", "tsru_s", "ptsru_s"}


def _rand(shape, seed):
  return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _check_against_numpy(unit, name, x, h, training=False):
  if not unit.built:
    unit(x, h)
  # Read everything the reference needs (notably the SN vectors u) before a training call updates u.
  snapshot = {id(v): v.numpy() for v in unit.weights}
  h_t, weights = unit(x, h, training=training)
  current = {id(v): v.numpy() for v in unit.weights}
  for v in unit.weights:
    v.assign(snapshot[id(v)])
  ref_h, ref_w = REFERENCES[name](unit, x.astype(np.float64), h.astype(np.float64))
  for v in unit.weights:
    v.assign(current[id(v)])
  np.testing.assert_allclose(h_t.numpy(), ref_h, atol=ATOL)
  if ref_w is None:
    assert weights is None
  else:
    np.testing.assert_allclose(weights.numpy(), ref_w, atol=ATOL)
    np.testing.assert_allclose(weights.numpy().sum(-1), 1.0, atol=ATOL)


# ---------------------------------------------------------------- Tests.

def test_unit_names():
  assert set(REFERENCES) == set(recurrent.RECURRENT_UNITS)


@pytest.mark.parametrize("name", recurrent.RECURRENT_UNITS)
def test_unit_matches_numpy(name):
  unit = recurrent.make_recurrent_unit(name, C)
  x, h = _rand([B, H, W, CX], 0), _rand([B, H, W, C], 1)
  unit(x, h)  # Build, then give the biases non-zero values so they are checked too.
  for v in unit.trainable_weights:
    if "bias" in v.path:
      v.assign(0.1 * _rand(v.shape, 2))
  _check_against_numpy(unit, name, x, h)
  assert unit.warps == (name in WARPING)


@pytest.mark.parametrize("name", ["convgru", "tsru_p", "ptsru_s"])
def test_unit_matches_numpy_without_spectral_norm(name):
  unit = recurrent.make_recurrent_unit(name, C, spectral_norm=False)
  _check_against_numpy(unit, name, _rand([B, H, W, CX], 3), _rand([B, H, W, C], 4))
  assert not any("sn_u" in v.path for v in unit.weights)


def test_unit_training_call_updates_sn_and_matches_numpy():
  unit = recurrent.make_recurrent_unit("tsru_p", C)
  x, h = _rand([B, H, W, CX], 5), _rand([B, H, W, C], 6)
  unit(x, h)
  before = unit.conv_c.sn_u.numpy()
  _check_against_numpy(unit, "tsru_p", x, h, training=True)
  assert not np.allclose(before, unit.conv_c.sn_u.numpy())


@pytest.mark.parametrize("name", ["tsru_p", "tsru_c"])
def test_gate_kernels_other_than_the_hyper_network_convs_match_numpy(name):
  """kernel_size 5 for the gates, 3x3 hyper-network convs: convolutions that cannot run as one
  (`StateInputConvs` without fusion) give the same unit."""
  unit = recurrent.make_recurrent_unit(name, C, kernel_size=5)
  x, h = _rand([B, H, W, CX], 15), _rand([B, H, W, C], 16)
  unit(x, h)
  assert not unit._input_groups[0].fused
  for v in unit.trainable_weights:
    if "bias" in v.path:
      v.assign(0.1 * _rand(v.shape, 17))
  _check_against_numpy(unit, name, x, h)


def test_state_input_convs_equal_one_convolution_of_the_concatenation():
  """conv([s; x]) = conv(s) + conv(x): the x part computed for two inputs at once, then applied step by step."""
  convs = [spectral_norm.SNConv2D(f, 3, name=f"c{f}") for f in (3, 5)]
  for c in convs:
    c.build((None, H, W, C + CX))
  group = spectral_norm.StateInputConvs(convs, C)
  s, x = tf.constant(_rand([2 * B, H, W, C], 18)), tf.constant(_rand([2 * B, H, W, CX], 19))
  projection = group.project(x)
  got = [group(s[i * B:(i + 1) * B], projection[i * B:(i + 1) * B]) for i in range(2)]
  expected = [c(tf.concat([s, x], axis=-1)) for c in convs]
  for i in range(2):
    for g, e in zip(got[i], expected):
      np.testing.assert_allclose(g.numpy(), e.numpy()[i * B:(i + 1) * B], rtol=1e-5, atol=1e-5)


def test_non_square_and_other_input_width():
  unit = recurrent.make_recurrent_unit("tsru_c", 6)
  _check_against_numpy(unit, "tsru_c", _rand([1, 6, 10, 3], 7), _rand([1, 6, 10, 6], 8))


@pytest.mark.parametrize("name", ["convgru", "tsru_p"])
def test_unroll(name):
  unit = recurrent.make_recurrent_unit(name, C)
  xs, h0 = _rand([B, 3, H, W, CX], 9), _rand([B, H, W, C], 10)
  outputs, weights = recurrent.unroll(unit, xs, h0)
  assert outputs.shape == (B, 3, H, W, C)
  h = h0.astype(np.float64)
  for t in range(3):
    h, w = REFERENCES[name](unit, xs[:, t].astype(np.float64), h)
    np.testing.assert_allclose(outputs[:, t].numpy(), h, atol=ATOL)
    if w is None:
      assert weights is None
    else:
      np.testing.assert_allclose(weights[:, t].numpy(), w, atol=ATOL)


@pytest.mark.parametrize("name", ["convgru", "convlstm", "tsru_p", "tsru_s"])
@pytest.mark.parametrize("training", [False, True])
def test_symbolic_unroll_matches_python_unroll_in_a_graph(name, training):
  """The tf.while_loop over steps 2..T gives the Python unroll's outputs, warp weights and gradients; u moves
  once."""
  keras.utils.set_random_seed(1)
  unit = recurrent.make_recurrent_unit(name, C)
  xs, h0 = tf.constant(_rand([B, 4, H, W, CX], 13)), tf.constant(_rand([B, H, W, C], 14))
  unit(xs[:, 0], h0)
  u0 = [v.numpy() for v in unit.non_trainable_weights]

  def run(symbolic_loop):
    for v, value in zip(unit.non_trainable_weights, u0):
      v.assign(value)

    @tf.function(autograph=False)
    def step(xs, h0):
      with tf.GradientTape() as tape:
        tape.watch([xs, h0])
        outputs, weights = recurrent.unroll(unit, xs, h0, training=training, symbolic_loop=symbolic_loop)
        loss = tf.reduce_sum(tf.square(outputs))
        if weights is not None:
          loss += tf.reduce_sum(weights * tf.range(weights.shape[-1], dtype=tf.float32))
      return outputs, weights, tape.gradient(loss, [xs, h0] + unit.trainable_weights)

    result = step(xs, h0)
    # One power iteration per forward pass: the loop body reuses step 1's kernels, u was updated once.
    ops = [op.type for op in step.get_concrete_function(xs, h0).graph.get_operations()]
    return result, [v.numpy() for v in unit.non_trainable_weights], ops

  (outputs, weights, grads), u_symbolic, ops = run(True)
  (outputs_ref, weights_ref, grads_ref), u_python, ops_ref = run(False)
  assert "While" in ops or "StatelessWhile" in ops
  assert ops.count("AssignVariableOp") == ops_ref.count("AssignVariableOp")
  assert len(ops) < len(ops_ref)
  np.testing.assert_allclose(outputs.numpy(), outputs_ref.numpy(), rtol=1e-5, atol=1e-6)
  if weights_ref is None:
    assert weights is None
  else:
    np.testing.assert_allclose(weights.numpy(), weights_ref.numpy(), rtol=1e-5, atol=1e-6)
  for g, g_ref in zip(grads, grads_ref):
    np.testing.assert_allclose(g.numpy(), g_ref.numpy(), rtol=1e-4, atol=1e-5)
  for u, u_ref, u_first in zip(u_symbolic, u_python, u0):
    np.testing.assert_allclose(u, u_ref, rtol=1e-6)
    assert training == (not np.allclose(u, u_first))


def test_unroll_needs_static_time():
  unit = recurrent.make_recurrent_unit("convgru", C)
  with pytest.raises(ValueError, match="B, T, H, W, Cx"):
    recurrent.unroll(unit, _rand([B, H, W, CX], 0), _rand([B, H, W, C], 0))
  with pytest.raises(ValueError, match="num_steps=2 disagrees"):
    recurrent.unroll(unit, _rand([B, 3, H, W, CX], 0), _rand([B, H, W, C], 0), num_steps=2)


@pytest.mark.parametrize("name", ["tsru_p", "convlstm"])
@pytest.mark.parametrize("symbolic_loop", [False, True])
def test_unroll_of_one_input_for_every_step_equals_the_repeated_input(name, symbolic_loop):
  """[B, H, W, Cx] inputs with num_steps (G's first stage) = the input repeated T times: values, gradients."""
  unit = recurrent.make_recurrent_unit(name, C)
  x, h0 = tf.constant(_rand([B, H, W, CX], 20)), tf.constant(_rand([B, H, W, C], 21))

  @tf.function(autograph=False)
  def run(x, h0, constant):
    with tf.GradientTape() as tape:
      tape.watch(x)
      inputs = x if constant else tf.repeat(x[:, None], 4, axis=1)
      outputs, _ = recurrent.unroll(unit, inputs, h0, symbolic_loop=symbolic_loop, num_steps=4)
      loss = tf.reduce_sum(tf.square(outputs))
    return outputs, tape.gradient(loss, [x] + unit.trainable_weights)

  (outputs, grads), (outputs_ref, grads_ref) = run(x, h0, True), run(x, h0, False)
  assert outputs.shape == (B, 4, H, W, C)
  np.testing.assert_allclose(outputs.numpy(), outputs_ref.numpy(), rtol=1e-5, atol=1e-5)
  for g, g_ref in zip(grads, grads_ref):
    np.testing.assert_allclose(g.numpy(), g_ref.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", recurrent.RECURRENT_UNITS)
def test_gradients_reach_every_weight(name):
  # Seeded initialization: with an unseeded one, the hyper-network's ReLU units were occasionally all dead
  # on these tiny inputs (zero gradient for conv_w, seen once in a fresh-clone run): the draw, not a bug.
  keras.utils.set_random_seed(0)
  unit = recurrent.make_recurrent_unit(name, C)
  x, h = tf.constant(_rand([B, H, W, CX], 11)), tf.constant(_rand([B, H, W, C], 12))
  unit(x, h)
  with tf.GradientTape() as tape:
    tape.watch([x, h])
    h_t, w = unit(x, h, training=True)
    loss = tf.reduce_sum(h_t * _rand(h_t.shape, 13))
    if w is not None:
      loss += tf.reduce_sum(w * _rand(w.shape, 14))
  variables = unit.trainable_weights
  assert variables
  grads = tape.gradient(loss, variables + [x, h])
  for v, g in zip(variables + ["x", "h"], grads):
    assert g is not None and float(tf.reduce_max(tf.abs(g))) > 0, getattr(v, "path", v)
  assert all("sn_u" not in v.path for v in variables)


def test_serialization_round_trip():
  unit = recurrent.make_recurrent_unit("tsru_s", C, warp_kernel_size=3, num_kernels=5, name="rnn")
  x, h = _rand([B, H, W, CX], 15), _rand([B, H, W, C], 16)
  expected, expected_w = unit(x, h)
  clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(unit))
  assert type(clone) is type(unit)
  assert clone.get_config() == unit.get_config()
  clone(x, h)
  clone.set_weights(unit.get_weights())
  got, got_w = clone(x, h)
  np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=0)
  np.testing.assert_allclose(got_w.numpy(), expected_w.numpy(), atol=0)
  assert clone.hyper.num_kernels == 5


@pytest.mark.parametrize("name", recurrent.RECURRENT_UNITS)
def test_get_config_rebuilds_same_unit(name):
  unit = recurrent.make_recurrent_unit(name, C)
  clone = type(unit).from_config(unit.get_config())
  assert clone.get_config() == unit.get_config() and clone.warps == unit.warps


def test_bad_arguments():
  with pytest.raises(ValueError, match="allowed names: convgru, convlstm, k_trajgru"):
    recurrent.make_recurrent_unit("trajgru", C)
  with pytest.raises(ValueError, match="even int >= 2"):
    recurrent.make_recurrent_unit("convlstm", 5)
  with pytest.raises(ValueError, match="even int >= 2"):
    recurrent.make_recurrent_unit("convlstm", 0)
  with pytest.raises(ValueError, match="int >= 1"):
    recurrent.make_recurrent_unit("convgru", 0)
  with pytest.raises(ValueError, match="odd"):
    recurrent.make_recurrent_unit("tsru_p", C, kernel_size=2)
  with pytest.raises(ValueError, match="odd"):
    recurrent.make_recurrent_unit("tsru_p", C, warp_kernel_size=4)
  with pytest.raises(ValueError, match="activation must be one of"):
    recurrent.make_recurrent_unit("convgru", C, activation="gelu")
  with pytest.raises(ValueError, match="fixes"):
    recurrent.make_recurrent_unit("tsru_p", C, variant="s")
  with pytest.raises(ValueError, match="variant must be"):
    recurrent.TSRU(C, variant="x")
  with pytest.raises(ValueError, match="only used by factorized"):
    recurrent.make_recurrent_unit("ptsru_s", C, num_kernels=4)
  with pytest.raises(ValueError, match="h_prev must have 4 channels"):
    recurrent.make_recurrent_unit("convgru", C)(_rand([1, 4, 4, 2], 0), _rand([1, 4, 4, 3], 0))
  # Hyper-networks halve [h; x]'s channels: a 1-channel state with an empty input cannot be halved.
  with pytest.raises(ValueError, match=">= 2 input channels"):
    recurrent.make_recurrent_unit("tsru_p", 1)(np.zeros([1, 4, 4, 0], np.float32), _rand([1, 4, 4, 1], 0))


def test_unroll_under_xla_compiles_its_gradient():
  """Under XLA (jit_compile, as on TPUs) `unroll` unrolls in Python: XLA cannot compile the gradient of the
  tf.while_loop over time. Outputs and gradients equal the eager unroll's."""
  keras.utils.set_random_seed(1)
  unit = recurrent.make_recurrent_unit("tsru_p", C)
  xs, h0 = tf.constant(_rand([B, 3, H, W, CX], 15)), tf.constant(_rand([B, H, W, C], 16))
  unit(xs[:, 0], h0)

  def step(xs, h0):
    with tf.GradientTape() as tape:
      tape.watch([xs, h0])
      outputs, _ = recurrent.unroll(unit, xs, h0)
      loss = tf.reduce_sum(tf.square(outputs))
    return outputs, tape.gradient(loss, [xs, h0] + unit.trainable_weights)

  outputs, grads = tf.function(step, jit_compile=True, autograph=False)(xs, h0)
  outputs_ref, grads_ref = step(xs, h0)
  np.testing.assert_allclose(outputs.numpy(), outputs_ref.numpy(), rtol=1e-4, atol=1e-5)
  for g, g_ref in zip(grads, grads_ref):
    np.testing.assert_allclose(g.numpy(), g_ref.numpy(), rtol=1e-3, atol=1e-4)
