"""diagnostics.py: the context-swap probe, context sensitivity and encoder gradients on tiny models."""

import numpy as np
import pytest
import tensorflow as tf

from trivd_gan import diagnostics
from trivd_gan.models import decompositions
from trivd_gan.models import generator

TC, TP = 2, 2


def tiny_generator():
  g = generator.Generator(channel_multiplier=1, recurrent_unit="tsru_p", num_context_frames=TC,
                          num_predicted_frames=TP, resolution=32)
  return g.build_for_shapes(1)


def moving_clips(batch=4, seed=0):
  """[B, TC + TP, 32, 32, 3] in [-1, 1]: a random texture per clip, translating 2 px right per frame."""
  rng = np.random.default_rng(seed)
  frames = []
  for texture in rng.uniform(-1, 1, (batch, 32, 32, 3)).astype(np.float32):
    frames.append([np.roll(texture, 2 * t, axis=1) for t in range(TC + TP)])
  return tf.constant(np.array(frames))


def test_swap_futures():
  video = moving_clips(batch=3)
  swapped = diagnostics.swap_futures(video, TC).numpy()
  np.testing.assert_array_equal(swapped[:, :TC], video.numpy()[:, :TC])
  np.testing.assert_array_equal(swapped[:, TC:], np.roll(video.numpy()[:, TC:], -1, axis=0))
  with pytest.raises(ValueError, match=">= 2 clips"):
    diagnostics.swap_futures(video[:1], TC)
  with pytest.raises(ValueError, match="num_context"):
    diagnostics.swap_futures(video, TC + TP)


def test_context_swap_probe_with_a_continuity_judge():
  # A "discriminator" that scores continuity at the context/future boundary: real clips always win.
  def continuity(video, labels=None, training=False, seed=None):
    del labels, training, seed
    jump = tf.reduce_mean(tf.abs(video[:, TC] - tf.roll(video[:, TC - 1], 2, axis=2)), axis=[1, 2, 3])
    return {"continuity": -jump, "constant": tf.zeros([tf.shape(video)[0], 3, 2])}

  out = diagnostics.context_swap_probe(continuity, moving_clips(), TC)
  assert out["continuity"]["accuracy"] == 1.0 and out["continuity"]["margin"] > 0.1
  # A judge that sees nothing scores ties: chance accuracy, no margin.
  assert out["constant"]["accuracy"] == 0.5 and out["constant"]["margin"] == 0.0


def test_context_swap_probe_runs_a_real_ensemble():
  d = decompositions.DiscriminatorEnsemble("dvd_gan_fp_faster", 1, num_frames_K=2)
  out = diagnostics.context_swap_probe(d, moving_clips(), TC, seed=3)
  assert set(out) == set(decompositions.sub_discriminator_names("dvd_gan_fp_faster"))
  for values in out.values():
    assert 0.0 <= values["accuracy"] <= 1.0
    np.testing.assert_allclose(values["margin"], values["real"] - values["swapped"], atol=1e-5)


def test_context_sensitivity_is_zero_when_the_encoder_is_cut_off():
  g = tiny_generator()
  video = moving_clips()
  out = diagnostics.context_sensitivity(g, video)
  assert len(out["frames_context"]) == TP and len(out["states_context"]) == 3
  assert all(len(level) == 1 + TP for level in out["states_context"] + out["states_z"])
  assert min(out["frames_context"]) > 0 and min(out["frames_z"]) > 0
  # z does not reach h_0 (the encoder's state): its relative change there is exactly 0.
  assert all(level[0] == 0.0 for level in out["states_z"])
  # A large negative bias on the encoder's compression convs: every initial state is relu(...) = 0, the
  # context no longer reaches G and every context measure drops to 0.
  for conv in g.encoder.compress:
    conv.bias.assign(tf.fill(conv.bias.shape, -1e4))
  cut = diagnostics.context_sensitivity(g, video)
  np.testing.assert_allclose(cut["frames_context"], 0.0, atol=1e-6)
  np.testing.assert_allclose(cut["frames_context_ratio"], 0.0, atol=1e-5)
  np.testing.assert_allclose(np.array(cut["states_context"]), 0.0, atol=1e-5)
  np.testing.assert_allclose(cut["real_future_difference"], out["real_future_difference"])


def test_gradient_norms_reach_the_encoder():
  g = tiny_generator()
  d = decompositions.DiscriminatorEnsemble("dvd_gan_fp_faster", 1, num_frames_K=2)
  video = moving_clips()
  out = diagnostics.gradient_norms(g, d, video)
  assert out["encoder"] > 0 and out["rest"] > 0
  assert out["encoder_relative"] > 0 and out["rest_relative"] > 0
  with_l1 = diagnostics.gradient_norms(g, d, video, reconstruction_weight=10.0)
  assert with_l1["encoder"] != pytest.approx(out["encoder"])


def test_per_clip_scores_take_the_mixed_projection_diagonal():
  o = np.arange(2 * 2 * 3, dtype=np.float32).reshape(2, 2, 3)  # [B, B, T]
  scores = diagnostics.per_clip_scores({"mixed": tf.constant(o), "projection": tf.constant([1.0, -1.0])})
  np.testing.assert_allclose(scores["mixed"], [o[0, 0].mean(), o[1, 1].mean()])
  np.testing.assert_allclose(scores["projection"], [1.0, -1.0])


def test_warp_saturation_tells_dead_one_hot_fields_from_live_ones():
  g = tiny_generator()
  video = moving_clips()
  live = diagnostics.warp_saturation(g, video[:, :TC])
  assert len(live) == 3
  for level in live:  # at initialization W is near uniform (1/9) and differs from clip to clip
    assert 1.0 / 9 <= level["mean_max_weight"] < 0.5 and level["fraction_one_hot"] == 0.0
    assert level["clip_spread"] > 0.01
  # A huge bias on the kernel logits of offset 0 (the top-left neighbour; index q * N + l): every kernel and so
  # every W is one-hot on that offset, for every clip and position: a saturated, dead hyper-network.
  for unit in g.units:
    bias = np.zeros(unit.hyper.dense_out.bias.shape, np.float32)
    bias[:unit.hyper.num_kernels] = 1e4
    unit.hyper.dense_out.bias.assign(bias)
  dead = diagnostics.warp_saturation(g, video[:, :TC])
  for level in dead:
    assert level["mean_max_weight"] == pytest.approx(1.0) and level["fraction_one_hot"] == 1.0
    assert level["mean_flow_norm"] == pytest.approx(np.sqrt(2.0), abs=1e-5)
    assert level["clip_spread"] < 1e-6
  convgru = generator.Generator(channel_multiplier=1, recurrent_unit="convgru", num_context_frames=TC,
                                num_predicted_frames=TP, resolution=32).build_for_shapes(1)
  assert diagnostics.warp_saturation(convgru, video[:, :TC]) == [None, None, None]
  with pytest.raises(ValueError, match=">= 2 clips"):
    diagnostics.warp_saturation(g, video[:1, :TC])


def _moving_squares(velocities, size=32, frames=4):
  """[B, frames, size, size, 3] in [-1, 1]: a bright 5x5 square on black moving by velocities[b] per frame."""
  video = -np.ones((len(velocities), frames, size, size, 3), np.float32)
  for b, (vy, vx) in enumerate(velocities):
    for t in range(frames):
      video[b, t, 12 + vy * t:17 + vy * t, 12 + vx * t:17 + vx * t] = 1.0
  return video


def test_ink_motion_correlates_fields_with_the_objects_motion_and_ignores_a_shared_offset():
  velocities = np.array([[1, 2], [-2, 0], [0, -1], [2, -2], [-1, 1]])
  video = _moving_squares(velocities)
  fields = np.zeros((5, 32, 32, 2)) + velocities[:, None, None, :] * 0.5 + np.array([3.0, -4.0])
  out = diagnostics.ink_motion(fields, video, num_context=3)
  assert out["correlation_dy"] == pytest.approx(1.0) and out["correlation_dx"] == pytest.approx(1.0)
  np.testing.assert_allclose(out["mean_field"], velocities.mean(0) * 0.5 + [3.0, -4.0])
  np.testing.assert_allclose(out["centroid_velocity_std"], velocities.std(0))
  backwards = diagnostics.ink_motion(-fields, video, num_context=3)
  assert backwards["correlation_dy"] == pytest.approx(-1.0)
  assert backwards["correlation_dx"] == pytest.approx(-1.0)
  # The same field for every clip (a dead hyper-network) carries nothing: correlation 0.
  constant = diagnostics.ink_motion(np.ones((5, 32, 32, 2)), video, num_context=3)
  assert constant["correlation_dy"] == 0.0 and constant["correlation_dx"] == 0.0
  # Only the object's pixels count: a field that is right on the square and wrong elsewhere scores 1.
  mixed = -fields.copy()
  ink = video[:, 3].mean(-1) > 0
  mixed[ink] = fields[ink]
  assert diagnostics.ink_motion(mixed, video, num_context=3)["correlation_dx"] == pytest.approx(1.0)
  with pytest.raises(ValueError, match=">= 3 clips"):
    diagnostics.ink_motion(fields[:2], video[:2], num_context=3)


def test_ink_mass_sums_brightness_above_black_per_frame():
  frames = -np.ones((2, 3, 4, 4, 3), np.float32)
  frames[0, 0, :2, :2] = 1.0   # 4 white pixels x 3 channels: ink 12
  frames[1, 0, 0, 0] = 0.0     # 1 mid-grey pixel: ink 1.5
  frames[0, 2] = 3.0           # out of range: clipped to white, 16 x 3 = 48
  np.testing.assert_allclose(diagnostics.ink_mass(frames), [13.5, 0.0, 48.0])
  with pytest.raises(ValueError, match="frames"):
    diagnostics.ink_mass(frames[0])


def test_copy_mask_on_content_averages_where_the_moved_frames_have_content():
  """A NumPy reference: one bright 2x2 block per moved frame, the mask 0.9 on it and 0.5 elsewhere, G's pixels
  -0.6 on it; the warps keep all the ink at frame 1 and half of it (one block where the real has two) at 2."""
  b, tp, s = 2, 2, 8
  moved = -np.ones([b, tp, s, s, 3])
  moved[:, :, 2:4, 2:4] = 1.0
  mask = np.full([b, tp, s, s, 1], 0.5)
  mask[:, :, 2:4, 2:4] = 0.9
  mask[1, 1, 2:4, 2:4] = 0.7  # clip 2 lets its block fade at frame 2
  pixels = np.zeros([b, tp, s, s, 3])
  pixels[:, :, 2:4, 2:4] = -0.6
  real = moved.copy()
  real[:, 1, 5:7, 5:7] = 1.0  # a second block in the real frame 2
  report = diagnostics.copy_mask_on_content(mask, pixels, moved, real)
  np.testing.assert_allclose(report["mask_on_content"], [0.9, 0.8])
  np.testing.assert_allclose(report["mask_elsewhere"], [0.5, 0.5])
  np.testing.assert_allclose(report["pixels_on_content"], [-0.6, -0.6])
  np.testing.assert_allclose(report["moved_ink"], [1.0, 0.5])
  with pytest.raises(ValueError, match=r"mask \[B, Tp, H, W, 1\]"):
    diagnostics.copy_mask_on_content(pixels, pixels, moved, real)
