"""Generator and encoder (appendix A): shapes and gradients for every unit, distribution, SavedModel,
goldens."""

import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.layers import np_reference
from trivd_gan.layers import blocks
from trivd_gan.layers import recurrent
from trivd_gan.layers import warping
from trivd_gan.models import encoder
from trivd_gan.models import generator
from trivd_gan.models import param_counts

ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY = dict(channel_multiplier=1, num_context_frames=2, num_predicted_frames=3, resolution=32)


def _inputs(batch=2, tc=2, size=32, seed=0):
  context = tf.random.stateless_uniform([batch, tc, size, size, 3], seed=[seed, 1], minval=-1, maxval=1)
  return context, tf.random.stateless_normal([batch, 128], seed=[seed, 2])


@pytest.mark.parametrize("unit", recurrent.RECURRENT_UNITS)
def test_forward_backward_for_every_unit(unit):
  """Every unit eagerly; G's gradient traced in a graph (TSRU_p) is checked under MirroredStrategy below."""
  g = generator.Generator(recurrent_unit=unit, **TINY)
  context, z = _inputs()

  with tf.GradientTape() as tape:
    frames, warps = g.generate(context, z, training=True)
    loss = tf.reduce_mean(frames)
  grads = tape.gradient(loss, g.trainable_variables)
  assert frames.shape == (2, 3, 32, 32, 3)
  assert float(tf.reduce_max(tf.abs(frames))) <= 1.0
  missing = [v.path for v, gr in zip(g.trainable_variables, grads) if gr is None]
  assert not missing, f"no gradient reaches {missing}"
  if g.units[0].warps:
    assert [w.shape for w in warps] == [(2, 3, 4, 4, 9), (2, 3, 8, 8, 9), (2, 3, 16, 16, 9)]
    np.testing.assert_allclose(tf.reduce_sum(warps[0], -1).numpy(), 1.0, rtol=1e-5)
  else:
    assert warps == [None, None, None]


def test_generator_gradient_compiles_under_xla():
  """TPUs and train.jit_compile compile G's whole forward pass and gradient with XLA (TSRU_p, the paper's unit):
  every op needs an XLA kernel, also for its gradient (a resize's gradient has none: main's XLA path was
  broken for four commits while only a slow test compiled G). The compiled values equal the uncompiled ones."""
  keras.utils.set_random_seed(2)
  g = generator.Generator(recurrent_unit="tsru_p", **{**TINY, "num_predicted_frames": 2})  # 2 steps: quicker
  context, z = _inputs(batch=1)
  g(context, z)

  def grads(context):
    with tf.GradientTape() as tape:
      tape.watch(context)
      loss = tf.reduce_sum(g(context, z, training=False) ** 2)
    return tape.gradient(loss, [context] + g.trainable_variables)

  compiled = tf.function(grads, jit_compile=True, autograph=False)(context)
  for got, want in zip(compiled, grads(context)):
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-3, atol=1e-4)


def test_context_changes_the_prediction_and_z_changes_it_too():
  # Seeded: an unseeded draw can leave every ReLU of a 1-channel encoder state dead (no context reaches G).
  keras.utils.set_random_seed(0)
  g = generator.Generator(recurrent_unit="tsru_p", **TINY)
  context, z = _inputs()
  base = g(context, z).numpy()
  other_context, other_z = _inputs(seed=5)
  assert np.abs(g(other_context, z).numpy() - base).max() > 1e-4
  assert np.abs(g(context, other_z).numpy() - base).max() > 1e-4
  # Inference is deterministic (batch norm uses the moving statistics, spectral norm's u stays put).
  np.testing.assert_array_equal(g(context, z).numpy(), base)


def test_encoder_states_fold_time_into_channels():
  enc = encoder.ContextEncoder(2, state_channels=(16, 8, 4), num_context_frames=3)
  states = enc(tf.zeros([2, 3, 32, 32, 3]))
  assert [s.shape for s in states] == [(2, 4, 4, 16), (2, 8, 8, 8), (2, 16, 16, 4)]
  # Compression convs see Tc x C channels: 3 frames x (8, 4, 2) encoder channels.
  assert [c.kernel.shape[2] for c in enc.compress] == [24, 12, 6]
  assert all(float(tf.reduce_min(s)) >= 0 for s in states)  # ReLU (F.3)
  with pytest.raises(ValueError, match="3 context frames"):
    enc(tf.zeros([2, 2, 32, 32, 3]))


def _np_local_correlation(current, previous, radius):
  """The cost volume from its definition: cosine of f_t(y, x) and f_{t-1}(y - dy, x - dx), 0 outside."""
  unit = lambda f: f / np.maximum(np.linalg.norm(f, axis=-1, keepdims=True), 1e-6)
  current, previous = unit(current.astype(np.float64)), unit(previous.astype(np.float64))
  b, h, w, _ = current.shape
  out = np.zeros([b, h, w, (2 * radius + 1) ** 2])
  for y in range(h):
    for x in range(w):
      q = 0
      for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
          if 0 <= y - dy < h and 0 <= x - dx < w:
            out[:, y, x, q] = np.sum(current[:, y, x] * previous[:, y - dy, x - dx], axis=-1)
          q += 1
  return out


@pytest.mark.parametrize("radius", [0, 1, 2])
def test_local_correlation_matches_numpy(radius):
  rng = np.random.default_rng(radius)
  current, previous = rng.normal(size=(2, 5, 6, 4)), rng.normal(size=(2, 5, 6, 4))
  np.testing.assert_allclose(encoder.local_correlation(current, previous, radius).numpy(),
                             _np_local_correlation(current, previous, radius), atol=1e-5)
  with pytest.raises(ValueError, match="radius"):
    encoder.local_correlation(current, previous, -1)


def test_local_correlation_peaks_at_the_content_displacement():
  """Content moved by (dy, dx) = (1, -1) from t-1 to t: the (1, -1) channel is 1 away from the borders."""
  previous = np.random.default_rng(0).normal(size=(1, 8, 8, 16)).astype(np.float32)
  current = np.roll(previous, shift=(1, -1), axis=(1, 2))
  volume = encoder.local_correlation(current, previous).numpy()[0, 2:-2, 2:-2]
  assert np.all(np.argmax(volume, axis=-1) == (1 + 1) * 3 + (-1 + 1))
  np.testing.assert_allclose(volume[..., 6], 1.0, rtol=1e-5)


def test_encoder_correlation_adds_the_pairs_cost_volumes_to_each_compression():
  plain = encoder.ContextEncoder(2, state_channels=(16, 8, 4), num_context_frames=3)
  enc = encoder.ContextEncoder(2, state_channels=(16, 8, 4), num_context_frames=3, correlation=True)
  context = tf.random.stateless_uniform([2, 3, 32, 32, 3], seed=[1, 2], minval=-1, maxval=1)
  states = enc(context)
  plain(context)
  assert [s.shape for s in states] == [s.shape for s in plain(context)]
  # 2 pairs of frames x 9 displacements more input channels than the paper's compression.
  assert [c.kernel.shape[2] for c in enc.compress] == [24 + 18, 12 + 18, 6 + 18]
  # The state is the compression of [features folded over time; the pairs' volumes] (NumPy volumes).
  features = blocks.fold_time(context)
  level_features = []
  for block in enc.frame_blocks:
    features = block(features)
    level_features.append(blocks.unfold_time(features, 3).numpy())
  f = level_features[-1]  # the coarsest level feeds the first state
  folded = np.transpose(f, [0, 2, 3, 1, 4]).reshape(f.shape[0], f.shape[2], f.shape[3], -1)
  volumes = [_np_local_correlation(f[:, t], f[:, t - 1], 1) for t in (1, 2)]
  inputs = np.concatenate([folded] + volumes, axis=-1).astype(np.float32)
  np.testing.assert_allclose(states[0].numpy(), tf.nn.relu(enc.compress[0](inputs)).numpy(), atol=1e-5)
  config = generator.Generator(encoder_correlation=True, **TINY).get_config()
  assert config["encoder_correlation"] and generator.Generator(**config).encoder.correlation


def test_truncated_latents():
  z = generator.sample_latents(4096, truncation=0.8, seed=[1, 2]).numpy()
  assert np.abs(z).max() <= 0.8 and z.shape == (4096, 128)
  # Standard normal truncated to [-0.8, 0.8]: std = sqrt(1 - 2 a phi(a) / (2 Phi(a) - 1)) at a = 0.8.
  from scipy import stats  # pylint: disable=g-import-not-at-top
  assert abs(z.std() - stats.truncnorm(-0.8, 0.8).std()) < 0.01 and abs(z.mean()) < 0.01
  np.testing.assert_array_equal(generator.sample_latents(3, truncation=0, seed=[1, 2]), np.zeros([3, 128]))
  untruncated = generator.sample_latents(4096, seed=[1, 2]).numpy()
  assert abs(untruncated.std() - 1) < 0.02
  with pytest.raises(ValueError, match="truncation"):
    generator.sample_latents(2, truncation=-1.0)


@pytest.mark.parametrize("kwargs,match", [
    (dict(recurrent_unit="lstm"), "allowed: convgru"),
    (dict(num_predicted_frames=0), "num_predicted_frames must be >= 1"),
    (dict(num_context_frames=0), "num_context_frames must be >= 1"),
    (dict(resolution=48), "multiple of 32"),
])
def test_bad_arguments(kwargs, match):
  with pytest.raises(ValueError, match=match):
    generator.Generator(**{**TINY, **kwargs})


def test_wrong_context_shape_is_a_clear_error():
  g = generator.Generator(recurrent_unit="convgru", **TINY)
  with pytest.raises(ValueError, match=r"context must be \[B, 2, 32, 32, 3\]"):
    g.generate(tf.zeros([1, 4, 32, 32, 3]), tf.zeros([1, 128]))


def test_savedmodel_round_trip(tmp_path):
  g = generator.Generator(recurrent_unit="tsru_p", **TINY).build_for_shapes()
  context, z = _inputs()
  module = tf.Module()
  module.generator = g
  module.predict = tf.function(lambda c, zz: g(c, zz, training=False), input_signature=[
      tf.TensorSpec([None, 2, 32, 32, 3], tf.float32), tf.TensorSpec([None, 128], tf.float32)])
  tf.saved_model.save(module, str(tmp_path))
  loaded = tf.saved_model.load(str(tmp_path))
  np.testing.assert_allclose(loaded.predict(context, z).numpy(), g(context, z).numpy(), atol=1e-6)


def test_shape_build_equals_call_build():
  a = generator.Generator(recurrent_unit="k_trajgru", **TINY).build_for_shapes()
  b = generator.Generator(recurrent_unit="k_trajgru", **TINY)
  b(*_inputs())
  def layout(model):
    return [(v.path.split("/", 1)[1], tuple(v.shape)) for v in model.weights]
  assert layout(a) == layout(b)


# Goldens of `python -m trivd_gan.param_counts` (trainable parameters of G, encoder included).
GOLDEN_COUNTS = {
    (48, "convgru"): 29_634_611, (48, "convlstm"): 24_408_467, (48, "k_trajgru"): 36_379_745,
    (48, "tsru_c"): 32_895_425, (48, "tsru_p"): 32_895_425, (48, "tsru_s"): 32_895_425,
    (48, "ptsru_s"): 31_431_566,
    (120, "convgru"): 156_961_211, (120, "tsru_p"): 176_725_001,
}


@pytest.mark.parametrize("multiplier,unit", sorted(GOLDEN_COUNTS))
def test_parameter_count_goldens(multiplier, unit):
  counts = param_counts.generator_parameter_counts(multiplier, unit)
  assert counts["generator"] == GOLDEN_COUNTS[multiplier, unit]


def test_mirrored_strategy_two_logical_cpus():
  """G runs forward/backward under MirroredStrategy; batch statistics are cross-replica (synchronized)."""
  env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
  result = subprocess.run([sys.executable, str(ROOT / "tests/models/mirrored_generator_check.py")], env=env,
                          capture_output=True, text=True, timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  report = json.loads(result.stdout.strip().splitlines()[-1])
  # Two replicas with half the batch each give what one device gives on the whole batch: only true when
  # the batch-norm moments are reduced across replicas.
  assert report["max_output_difference"] < 1e-4
  assert report["replica_moving_mean_difference"] == 0.0
  assert report["moving_mean_vs_single_device"] < 1e-6
  assert all(n > 0 for n in report["grad_norms"])
  # The traced gradient (tsru_p, as the trainer traces it) reaches every variable; frames are in [-1, 1].
  assert report["variables_without_gradient"] == []
  assert report["output_shape"] == [4, 2, 32, 32, 3] and report["max_abs_output"] <= 1.0


def test_mixed_bfloat16_forward_keeps_statistics_in_float32():
  keras.mixed_precision.set_global_policy("mixed_bfloat16")
  try:
    g = generator.Generator(recurrent_unit="tsru_p", **TINY)
    frames = g(*_inputs(), training=True)
  finally:
    keras.mixed_precision.set_global_policy("float32")
  assert frames.dtype == tf.float32 and frames.shape == (2, 3, 32, 32, 3)
  assert g.output_bn.moving_mean.dtype == "float32" and g.units[0].conv_u.sn_u.dtype == "float32"
  assert np.isfinite(frames.numpy()).all()


def _composite_twin(pixels_generator, mask_logit, output_mode="composite"):
  """A "composite" generator with the weights of a "pixels" one and a constant mask logit: the mask channel of
  the output convolution has a zero kernel and bias `mask_logit` (and a zero spectral-norm u entry, so sigma
  is unchanged)."""
  twin = generator.Generator(recurrent_unit="tsru_p", output_mode=output_mode, **TINY).build_for_shapes()
  assert len(twin.weights) == len(pixels_generator.weights)
  for target, source in zip(twin.weights, pixels_generator.weights):
    value = source.numpy()
    if target.shape != source.shape:  # output_conv kernel [3, 3, C, 4], bias [4], sn_u [1, 4]
      pad = np.full(value.shape[:-1] + (1,), mask_logit if target.path.endswith("bias") else 0.0, value.dtype)
      value = np.concatenate([value, pad], axis=-1)
    target.assign(value)
  return twin


def test_composite_output_mixes_the_last_context_frame_with_generated_pixels():
  """frame_t = m * x_last + (1 - m) * tanh(pixels), against the "pixels" model's frames, for three masks."""
  g = generator.Generator(recurrent_unit="tsru_p", **TINY).build_for_shapes()
  context, z = _inputs()
  pixels = g(context, z).numpy()
  last = context[:, -1:].numpy()
  for logit in (-40.0, 0.0, 40.0):
    m = 1.0 / (1.0 + np.exp(-logit))
    frames = _composite_twin(g, logit)(context, z).numpy()
    np.testing.assert_allclose(frames, m * np.broadcast_to(last, pixels.shape) + (1 - m) * pixels, atol=1e-5)
  with pytest.raises(ValueError, match="Unknown output_mode 'mask'"):
    generator.Generator(output_mode="mask", **TINY)
  assert generator.Generator(output_mode="composite", **TINY).get_config()["output_mode"] == "composite"


def _np_frame_flows(weights, resolution=32):
  """[B, Tp, R, R, 2] (NumPy): the expected flows of each level combined coarse to fine (nearest upsampling,
  x2 per level), upsampled to frame resolution and scaled to frame pixels (section 4.4)."""
  combined = None
  for w in weights:  # coarse to fine, [B, Tp, h, w, 2]
    flow = warping.expected_flow(w).numpy()
    if combined is not None:
      combined = 2.0 * np.repeat(np.repeat(combined, 2, axis=2), 2, axis=3) + flow
    else:
      combined = flow
  factor = resolution // combined.shape[2]
  return factor * np.repeat(np.repeat(combined, factor, axis=2), factor, axis=3)


def test_warp_output_moves_the_last_context_frame_by_the_summed_motion_fields():
  """With the mask at 1, "warp" frame t is x_last moved by the sum of G's combined motion fields of steps 1..t
  (expected flows combined coarse to fine by nearest upsampling, at frame resolution), bilinear (NumPy)."""
  g = generator.Generator(recurrent_unit="tsru_p", **TINY).build_for_shapes()
  context, z = _inputs()
  frames, weights = _composite_twin(g, 40.0, output_mode="warp").generate(context, z)
  displacement = np.cumsum(_np_frame_flows(weights), axis=1).reshape(-1, 32, 32, 2)
  last = np.repeat(context[:, -1:].numpy(), 3, axis=1).reshape(-1, 32, 32, 3)
  expected = np_reference.backward_warp(last, displacement).reshape(frames.shape)
  np.testing.assert_allclose(frames.numpy(), expected, atol=1e-4)
  assert np.abs(displacement).max() > 0.01  # the fields are not trivially zero
  with pytest.raises(ValueError, match="'convgru' does not warp"):
    generator.Generator(recurrent_unit="convgru", output_mode="warp", **TINY)


def test_warp_chain_output_moves_each_predicted_frame_from_the_previous_one():
  """"warp_chain": frame_t = m * warp(frame_{t-1}, f_t) + (1 - m) * tanh(pixels_t), frame_0 = x_last, with f_t
  step t's combined motion field (NumPy chain of bilinear backward warps), for a mask of 1 and of 1/2."""
  g = generator.Generator(recurrent_unit="tsru_p", **TINY).build_for_shapes()
  context, z = _inputs()
  pixels = g(context, z).numpy()
  for logit in (40.0, 0.0):
    m = 1.0 / (1.0 + np.exp(-logit))
    frames, weights = _composite_twin(g, logit, output_mode="warp_chain").generate(context, z)
    flows = _np_frame_flows(weights)
    frame, expected = context[:, -1].numpy(), []
    for t in range(pixels.shape[1]):
      frame = m * np_reference.backward_warp(frame, flows[:, t]) + (1 - m) * pixels[:, t]
      expected.append(frame)
    np.testing.assert_allclose(frames.numpy(), np.stack(expected, axis=1), atol=1e-4)
  assert np.abs(flows).max() > 0.01  # the fields are not trivially zero
  # With non-zero fields the chain differs from "warp" (fields summed at fixed pixels) after the first step.
  summed = _composite_twin(g, 40.0, output_mode="warp").generate(context, z)[0].numpy()
  chained = _composite_twin(g, 40.0, output_mode="warp_chain").generate(context, z)[0].numpy()
  np.testing.assert_allclose(chained[:, 0], summed[:, 0], atol=1e-5)
  assert np.abs(chained[:, 1:] - summed[:, 1:]).max() > 1e-4
  with pytest.raises(ValueError, match="'convgru' does not warp"):
    generator.Generator(recurrent_unit="convgru", output_mode="warp_chain", **TINY)


def test_warp_chain_parts_are_the_terms_of_the_frames():
  """`warp_chain_parts` (mask, pixels, the chain with m = 1) recompose `generate`'s frames by the NumPy chain
  frame_t = m_t * warp(frame_{t-1}, f_t) + (1 - m_t) * pixels_t, with a mask that varies over pixels."""
  g = generator.Generator(recurrent_unit="tsru_p", output_mode="warp_chain", **TINY).build_for_shapes()
  context, z = _inputs()
  frames, weights = g.generate(context, z)
  mask, pixels, moved = (t.numpy() for t in g.warp_chain_parts(context, z))
  assert mask.shape == (2, 3, 32, 32, 1) and pixels.shape == moved.shape == (2, 3, 32, 32, 3)
  assert 0.0 < mask.min() and mask.max() < 1.0 and mask.std() > 1e-3
  flows = _np_frame_flows(weights)
  frame, kept, expected, expected_moved = context[:, -1].numpy(), context[:, -1].numpy(), [], []
  for t in range(3):
    frame = mask[:, t] * np_reference.backward_warp(frame, flows[:, t]) + (1 - mask[:, t]) * pixels[:, t]
    kept = np_reference.backward_warp(kept, flows[:, t])
    expected.append(frame)
    expected_moved.append(kept)
  np.testing.assert_allclose(frames.numpy(), np.stack(expected, axis=1), atol=1e-4)
  np.testing.assert_allclose(moved, np.stack(expected_moved, axis=1), atol=1e-4)
  # `generate(return_mask=True)` (the trainer's copy-mask term) hands back the same mask with the same frames;
  # "pixels" has no mask.
  same_frames, _, same_mask = g.generate(context, z, return_mask=True)
  np.testing.assert_allclose(same_mask.numpy(), mask, atol=1e-6)
  np.testing.assert_allclose(same_frames.numpy(), frames.numpy(), atol=1e-6)
  assert generator.Generator(**TINY).build_for_shapes().generate(context, z, return_mask=True)[2] is None
  with pytest.raises(ValueError, match="needs output_mode 'warp_chain'; this generator's is 'pixels'"):
    generator.Generator(**TINY).build_for_shapes().warp_chain_parts(context, z)


def test_warp_logit_scale_reaches_every_hyper_network_softmax():
  g = generator.Generator(warp_logit_scale=1.0, **TINY).build_for_shapes()
  assert all(unit.hyper.logit_scale == 1.0 for unit in g.units)
  assert all(unit.get_config()["hyper_logit_scale"] == 1.0 for unit in g.units)
  assert generator.Generator(**g.get_config()).warp_logit_scale == 1.0
  assert all(unit.hyper.logit_scale is None for unit in generator.Generator(**TINY).units)  # the paper's
  # Every warping weight stays below the bound of tau = 1 (factorized: W mixes kernels that each obey it).
  _, weights = g.generate(*_inputs())
  assert max(float(tf.reduce_max(w)) for w in weights) <= 1.0 / (1.0 + 8.0 * np.exp(-9.0 / np.sqrt(8.0))) + 1e-6
  with pytest.raises(ValueError, match="needs a unit that warps"):
    generator.Generator(recurrent_unit="convgru", warp_logit_scale=1.0, **TINY)
  with pytest.raises(ValueError, match="a value > 0"):
    generator.Generator(warp_logit_scale=-1.0, **TINY)


def test_warp_spectral_norm_off_removes_it_from_the_hyper_networks_only():
  g = generator.Generator(warp_spectral_norm=False, **TINY).build_for_shapes()
  for unit in g.units:
    assert not any("sn_u" in v.path for v in unit.hyper.weights)
    assert any("sn_u" in v.path for v in unit.conv_c.weights)  # the gates keep the paper's normalization
    assert unit.get_config()["hyper_spectral_norm"] is False
  assert any("sn_u" in v.path for v in g.encoder.weights)
  paper = generator.Generator(**TINY).build_for_shapes()
  assert all(any("sn_u" in v.path for v in unit.hyper.weights) for unit in paper.units)
  # Without normalization the hyper-networks have no u vectors: 3 units x 4 layers fewer weights.
  assert len(paper.weights) - len(g.weights) == 12
  config = g.get_config()
  assert config["warp_spectral_norm"] is False and not generator.Generator(**config).warp_spectral_norm
  with pytest.raises(ValueError, match="'convgru' has none"):
    generator.Generator(recurrent_unit="convgru", warp_spectral_norm=False, **TINY)


def test_chain_pooling_radius_is_a_warp_chain_option():
  g = generator.Generator(output_mode="warp_chain", chain_pooling_radius=3, **TINY).build_for_shapes()
  assert generator.Generator(**g.get_config()).chain_pooling_radius == 3
  frames, _ = g.generate(*_inputs())
  unpooled = generator.Generator(**{**g.get_config(), "chain_pooling_radius": 0}).build_for_shapes()
  unpooled.set_weights(g.get_weights())
  assert not np.allclose(frames.numpy(), unpooled.generate(*_inputs())[0].numpy(), atol=1e-6)
  with pytest.raises(ValueError, match="chain_pooling_radius"):
    generator.Generator(output_mode="warp", chain_pooling_radius=3, **TINY)
  with pytest.raises(ValueError, match="chain_pooling_radius"):
    generator.Generator(output_mode="warp_chain", chain_pooling_radius=-1, **TINY)


def test_object_chain_pooling_is_an_option_that_changes_the_frames():
  g = generator.Generator(output_mode="warp_chain", chain_pooling_radius=3, chain_pooling="object",
                          **TINY).build_for_shapes()
  assert generator.Generator(**g.get_config()).chain_pooling == "object"
  frames, _ = g.generate(*_inputs())
  window = generator.Generator(**{**g.get_config(), "chain_pooling": "window"}).build_for_shapes()
  window.set_weights(g.get_weights())
  assert np.isfinite(frames.numpy()).all()
  assert not np.allclose(frames.numpy(), window.generate(*_inputs())[0].numpy(), atol=1e-6)
  with pytest.raises(ValueError, match="Unknown chain_pooling 'objects'"):
    generator.Generator(output_mode="warp_chain", chain_pooling_radius=3, chain_pooling="objects", **TINY)
