"""Tests for trivd_gan/models/discriminators.py: shapes, eq. 15 against NumPy, spectral norm, config."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from trivd_gan.models import discriminators


def _np_sigma(w, u):
  """spectral_norm.inverse_spectral_sigma in NumPy, returning sigma. w [fan_in, units], u [1, units]."""
  v = u @ w.T
  v /= np.linalg.norm(v)
  u_new = v @ w
  u_new /= np.linalg.norm(u_new)
  return float(np.sum((v @ w) * u_new))


def _np_normalized(sn_layer):
  w = sn_layer.kernel.numpy().reshape(-1, sn_layer.units_)
  return w / _np_sigma(w, sn_layer.sn_u.numpy())


def _np_head(h, labels, head, mixed):
  """Projection (Miyato & Koyama) / mixed projection (paper eq. 15) written from the paper, in NumPy."""
  w_lin = _np_normalized(head.linear)  # [C, 1]
  b_lin = head.linear.bias.numpy()  # [1]
  table = _np_normalized(head.embed)  # [num_classes, C]
  batch, num_t, _ = h.shape
  labels = np.zeros(batch, np.int64) if labels is None else labels
  if not mixed:
    out = np.zeros(batch)
    for b in range(batch):
      hb = h[b].sum(axis=0)
      out[b] = hb @ w_lin[:, 0] + b_lin[0] + hb @ table[labels[b]]
    return out
  r_x = np.zeros((batch, num_t))
  r_xy = np.zeros((batch, num_t))
  for b in range(batch):
    for t in range(num_t):
      r_x[b, t] = h[b, t] @ w_lin[:, 0] + b_lin[0]
      r_xy[b, t] = h[b, t] @ table[labels[b]]
  out = np.zeros((batch, batch, num_t))
  for b in range(batch):
    for b2 in range(batch):
      for t in range(num_t):
        out[b, b2, t] = r_x[b, t] + sum(r_xy[b2, t2] for t2 in range(num_t))
  return out


@pytest.mark.parametrize("mixed", [True, False], ids=["mixed_projection", "projection"])
@pytest.mark.parametrize("num_classes", [0, 3])
def test_head_matches_numpy(mixed, num_classes):
  rng = np.random.default_rng(0)
  h = rng.normal(size=(3, 4, 5)).astype(np.float32)
  labels = None if num_classes == 0 else np.array([2, 0, 1])
  head = discriminators.ProjectionHead(num_classes, mixed=mixed)
  head.build(h.shape)
  # Random (non-orthogonal) weights so that sigma != 1 and the bias matters.
  head.linear.kernel.assign(rng.normal(size=head.linear.kernel.shape))
  head.linear.bias.assign(rng.normal(size=head.linear.bias.shape))
  head.embed.kernel.assign(rng.normal(size=head.embed.kernel.shape))
  out = head(h, labels, training=False).numpy()
  expected = _np_head(h.astype(np.float64), labels, head, mixed)
  assert out.shape == ((3, 3, 4) if mixed else (3,))
  np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("mixed", [True, False], ids=["mixed_projection", "projection"])
def test_head_groups_score_each_stacked_batch_apart(mixed):
  # A D update scores its real and generated videos in one batch: eq. 15 must not mix the two (NumPy reference).
  rng = np.random.default_rng(1)
  h = rng.normal(size=(6, 4, 5)).astype(np.float32)
  labels = np.array([2, 0, 1, 1, 2, 0])
  head = discriminators.ProjectionHead(3, mixed=mixed)
  head.build(h.shape)
  head.linear.kernel.assign(rng.normal(size=head.linear.kernel.shape))
  head.embed.kernel.assign(rng.normal(size=head.embed.kernel.shape))
  out = head(h, labels, training=False, groups=2).numpy()
  assert out.shape == ((6, 3, 4) if mixed else (6,))
  for half in (slice(0, 3), slice(3, 6)):
    expected = _np_head(h[half].astype(np.float64), labels[half], head, mixed)
    np.testing.assert_allclose(out[half], expected, rtol=1e-4, atol=1e-4)


def test_unconditional_head_learns_the_dummy_class_embedding():
  head = discriminators.ProjectionHead(0)
  head.build((None, 2, 4))
  assert head.embed.kernel.shape == (1, 4) and head.embed.kernel.trainable
  with pytest.raises(ValueError, match="labels=None"):
    head(tf.zeros([2, 2, 4]), tf.zeros([2], tf.int32))


@pytest.mark.parametrize("cls,kwargs,t_out", [
    (discriminators.FrameDiscriminator, {}, 3),
    (discriminators.VideoDiscriminator, {}, 4),
    (discriminators.VideoDiscriminator, {"temporal_downsample": True}, 1),
])
@pytest.mark.parametrize("head", discriminators.HEADS)
def test_output_shapes(cls, kwargs, t_out, head):
  num_frames = 3 if cls is discriminators.FrameDiscriminator else 4
  d = cls(2, head=head, **kwargs)
  x = tf.random.uniform([2, num_frames, 16, 16, 3], -1, 1)
  assert d.features(x).shape == (2, t_out, 32)
  out = d(x, training=True)
  assert out.shape == ((2, 2, t_out) if head == "mixed_projection" else (2,))
  assert np.all(np.isfinite(out.numpy()))


def test_architecture_is_biggan_with_3d_convs_in_the_first_two_blocks():
  d = discriminators.VideoDiscriminator(1)
  d.build((None, 4, 16, 16, 3))
  assert [b.conv3d for b in d.blocks] == [True, True, False, False, False]
  assert [b.out_channels for b in d.blocks] == [1, 2, 4, 8, 16]
  assert [b.downsample for b in d.blocks] == [True, True, True, True, False]
  assert d.blocks[0].conv1.kernel.shape == (3, 3, 3, 3, 1)
  f = discriminators.FrameDiscriminator(1)
  f.build((None, 2, 16, 16, 3))
  assert not any(b.conv3d for b in f.blocks)


def test_every_weight_is_spectrally_normalized():
  d = discriminators.VideoDiscriminator(1, num_classes=5)
  d.build((None, 4, 16, 16, 3))
  kernels = [w for w in d.trainable_weights if w.path.endswith("kernel")]
  sn_us = [w for w in d.non_trainable_weights if w.path.endswith("sn_u")]
  assert len(kernels) == len(sn_us) > 0
  # Only kernels and biases are trainable.
  assert all(w.path.endswith(("kernel", "bias")) for w in d.trainable_weights)
  assert any("embed" in w.path for w in kernels) and any("linear" in w.path for w in kernels)


def test_frame_discriminator_judges_frames_independently():
  d = discriminators.FrameDiscriminator(1)
  x = tf.random.uniform([2, 3, 16, 16, 3], -1, 1)
  h = d.features(x).numpy()
  h_alone = d.features(x[:, 1:2]).numpy()
  np.testing.assert_allclose(h[:, 1:2], h_alone, rtol=1e-5, atol=1e-5)


def test_training_flag_reaches_the_spectral_norm_layers():
  d = discriminators.FrameDiscriminator(1)
  x = tf.random.uniform([2, 1, 16, 16, 3], -1, 1)
  d.build(x.shape)
  layers = [d.blocks[4].conv1, d.head.embed]
  for layer in layers:
    layer.sn_u.assign(np.random.default_rng(1).normal(size=layer.sn_u.shape))
  before = [layer.sn_u.numpy().copy() for layer in layers]
  d(x, training=False)
  for layer, u in zip(layers, before):
    np.testing.assert_array_equal(layer.sn_u.numpy(), u)
  d(x, training=True)
  for layer, u in zip(layers, before):
    assert not np.allclose(layer.sn_u.numpy(), u)


def test_config_round_trip():
  d = discriminators.VideoDiscriminator(3, temporal_downsample=True, head="projection", num_classes=7,
                                        name="v")
  restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(d))
  assert type(restored) is discriminators.VideoDiscriminator
  assert restored.get_config() == d.get_config()
  f = discriminators.FrameDiscriminator(2)
  assert discriminators.FrameDiscriminator.from_config(f.get_config()).get_config() == f.get_config()


@pytest.mark.parametrize("make,match", [
    (lambda: discriminators.FrameDiscriminator(1, head="linear"), "allowed"),
    (lambda: discriminators.ProjectionHead(-1), "num_classes"),
    (lambda: discriminators.Discriminator(1, temporal_downsample=True), "num_conv3d_blocks"),
    (lambda: discriminators.FrameDiscriminator(1).build((None, 2, 24, 24, 3)), "multiples of 16"),
    (lambda: discriminators.FrameDiscriminator(1).build((None, 2, 8, 8, 3)), "multiples of 16"),
    (lambda: discriminators.VideoDiscriminator(1, temporal_downsample=True).build((None, 6, 16, 16, 3)),
     "multiple of 4"),
])
def test_bad_configuration_raises(make, match):
  with pytest.raises(ValueError, match=match):
    make()
