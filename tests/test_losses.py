"""Tests for trivd_gan/losses.py: eqs. 13-14 on hand-computed numbers, replica scaling, orthogonal reg."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from trivd_gan import losses


def test_discriminator_hinge_loss_hand_computed():
  # Frame D, mixed projection-like [B=1, B=1, T=2]; video D, projection-like [B=2].
  real = {"frame": tf.constant([[[0.5, 2.0]]]), "clip": tf.constant([-1.0, 0.0])}
  fake = {"frame": tf.constant([[[-0.5, -3.0]]]), "clip": tf.constant([1.0, 0.25])}
  total, per_d = losses.discriminator_hinge_loss(real, fake)
  # frame: fake relu(1 + [-0.5, -3]) = [0.5, 0] -> 0.25; real relu(1 - [0.5, 2]) = [0.5, 0] -> 0.25.
  # clip: fake relu(1 + [1, 0.25]) = [2, 1.25] -> 1.625; real relu(1 - [-1, 0]) = [2, 1] -> 1.5.
  np.testing.assert_allclose(per_d["frame"].numpy(), 0.5)
  np.testing.assert_allclose(per_d["clip"].numpy(), 3.125)
  np.testing.assert_allclose(total.numpy(), 3.625)


def test_generator_hinge_loss_hand_computed():
  fake = {"frame": tf.constant([[[-0.5, -3.0]]]), "clip": tf.constant([1.0, 0.25])}
  total, per_d = losses.generator_hinge_loss(fake)
  np.testing.assert_allclose(per_d["frame"].numpy(), 1.75)
  np.testing.assert_allclose(per_d["clip"].numpy(), -0.625)
  np.testing.assert_allclose(total.numpy(), 1.125)


def test_hinge_loss_averages_over_the_output_dimension():
  rng = np.random.default_rng(0)
  real, fake = rng.normal(size=(3, 3, 4)), rng.normal(size=(3, 3, 4))
  total, _ = losses.discriminator_hinge_loss({"d": tf.constant(real)}, {"d": tf.constant(fake)})
  expected = np.mean(np.maximum(0, 1 + fake)) + np.mean(np.maximum(0, 1 - real))
  np.testing.assert_allclose(total.numpy(), expected, rtol=1e-6)


def test_replica_scaling():
  real = {"d": tf.constant(np.full((2, 2, 3), 0.5, np.float32))}
  fake = {"d": tf.constant(np.full((2, 2, 3), 0.5, np.float32))}
  unscaled, _ = losses.discriminator_hinge_loss(real, fake)
  np.testing.assert_allclose(unscaled.numpy(), 2.0)
  # Per-replica batch 2 of a global batch of 8 (4 replicas): each replica contributes a quarter.
  scaled, per_d = losses.discriminator_hinge_loss(real, fake, global_batch_size=8)
  np.testing.assert_allclose(scaled.numpy(), 0.5)
  np.testing.assert_allclose(per_d["d"].numpy(), 0.5)
  g_scaled, _ = losses.generator_hinge_loss(fake, replica_scale=0.25)
  np.testing.assert_allclose(g_scaled.numpy(), -0.125)
  np.testing.assert_allclose(losses.replica_scale_factor(real["d"], global_batch_size=2).numpy(), 1.0)
  with pytest.raises(ValueError, match="not both"):
    losses.discriminator_hinge_loss(real, fake, global_batch_size=8, replica_scale=0.25)
  with pytest.raises(ValueError, match="positive"):
    losses.generator_hinge_loss(fake, global_batch_size=0)
  with pytest.raises(ValueError, match="same sub-discriminators"):
    losses.discriminator_hinge_loss(real, {"e": fake["d"]})


def _np_ortho(w):
  w = w.reshape(-1, w.shape[-1]).astype(np.float64)
  gram = w.T @ w
  return np.sum((gram * (1 - np.eye(gram.shape[0]))) ** 2)


def test_d_step_loss_runs_the_ensemble_once_on_real_and_generated_videos():
  calls = []

  def ensemble(video, labels, training, seed, groups):
    calls.append((video.shape[0], None if labels is None else labels.numpy().tolist(), groups))
    return {"a": tf.reduce_mean(video, axis=[1, 2, 3, 4]), "b": tf.reduce_mean(video, axis=[2, 3, 4])}

  rng = np.random.default_rng(3)
  real, fake = (rng.uniform(-1, 1, (2, 3, 4, 4, 3)).astype(np.float32) for _ in range(2))
  total, per_d = losses.discriminator_step_loss(ensemble, tf.constant(real), tf.constant(fake),
                                                labels=tf.constant([1, 2]), seed=[1, 2])
  assert calls == [(4, [1, 2, 1, 2], 2)]  # one call, real then generated, labels for both halves
  scores = lambda v: {"a": v.mean(axis=(1, 2, 3, 4)), "b": v.mean(axis=(2, 3, 4))}
  expected, _ = losses.discriminator_hinge_loss(scores(real), scores(fake))
  np.testing.assert_allclose(total.numpy(), expected.numpy(), rtol=1e-6)
  with pytest.raises(ValueError, match="labels for both"):
    losses.discriminator_step_loss(ensemble, tf.constant(real), tf.constant(fake),
                                   fake_labels=tf.constant([1, 2]))


def test_d_step_loss_equals_the_ensemble_run_on_each_batch_apart():
  # Only the mixed projection head (eq. 15) mixes samples, within each half: one 2B call scores as two B calls
  # (a view without random draws; in inference mode, so spectral norm's u does not move between the calls).
  from trivd_gan.models import decompositions  # pylint: disable=import-outside-toplevel
  ensemble = decompositions.DiscriminatorEnsemble("downsampled", 1)
  rng = np.random.default_rng(4)
  real, fake = (tf.constant(rng.uniform(-1, 1, (2, 4, 32, 32, 3)).astype(np.float32)) for _ in range(2))
  total, _ = losses.discriminator_step_loss(ensemble, real, fake, seed=[1, 2], training=False)
  apart, _ = losses.discriminator_hinge_loss(ensemble(real, None, training=False, seed=[1, 2]),
                                             ensemble(fake, None, training=False, seed=[3, 4]))
  np.testing.assert_allclose(total.numpy(), apart.numpy(), rtol=1e-5)


def test_orthogonal_regularization_matches_numpy():
  rng = np.random.default_rng(1)
  conv = keras.Variable(rng.normal(size=(3, 3, 4, 5)), name="kernel")
  dense = keras.Variable(rng.normal(size=(6, 7)), name="kernel")
  bias = keras.Variable(rng.normal(size=(7,)), name="bias")
  embedding = keras.Variable(rng.normal(size=(10, 7)), name="embed_kernel")
  sn_u = keras.Variable(rng.normal(size=(1, 7)), name="sn_u", trainable=False)
  value = losses.orthogonal_regularization([conv, dense, bias, embedding, sn_u], weight=1e-4)
  expected = 1e-4 * (_np_ortho(conv.numpy()) + _np_ortho(dense.numpy()))
  np.testing.assert_allclose(value.numpy(), expected, rtol=1e-5)
  # Kernels of one [fan_in, out] shape are penalized as one stack: each still counts on its own.
  same = [keras.Variable(rng.normal(size=shape), name="kernel") for shape in ((36, 5), (6, 7), (1, 1, 6, 7))]
  value = losses.orthogonal_regularization([conv, dense] + same, weight=1.0)
  expected = sum(_np_ortho(v.numpy()) for v in [conv, dense] + same)
  np.testing.assert_allclose(value.numpy(), expected, rtol=1e-5)
  np.testing.assert_allclose(
      losses.orthogonal_regularization([dense], weight=1e-4, replica_scale=0.5).numpy(),
      0.5e-4 * _np_ortho(dense.numpy()), rtol=1e-5)
  assert [losses.is_orthogonally_regularized(v) for v in (conv, dense, bias, embedding, sn_u)] == [
      True, True, False, False, False]
  np.testing.assert_allclose(losses.orthogonal_regularization([embedding], exclude=()).numpy(),
                             1e-4 * _np_ortho(embedding.numpy()), rtol=1e-5)


def test_orthogonal_regularization_gradient_and_minimum():
  rng = np.random.default_rng(2)
  w = keras.Variable(rng.normal(size=(8, 5)), name="kernel")
  with tf.GradientTape() as tape:
    value = losses.orthogonal_regularization([w], weight=1.0)
  grad = tape.gradient(value, w.value).numpy()
  wn = w.numpy().astype(np.float64)
  # d/dW ||W^T W * M||_F^2 = 4 W (W^T W * M) for the symmetric mask M = 1 - I (BigGAN's update, up to 2).
  np.testing.assert_allclose(grad, 4 * wn @ ((wn.T @ wn) * (1 - np.eye(5))), rtol=1e-4, atol=1e-4)
  # A wide W (fan_in 3 < out 11) is computed from W W^T: the same value and gradient.
  wide = keras.Variable(rng.normal(size=(3, 11)), name="kernel")
  with tf.GradientTape() as tape:
    value = losses.orthogonal_regularization([wide], weight=1.0)
  wn = wide.numpy().astype(np.float64)
  np.testing.assert_allclose(value.numpy(), _np_ortho(wn), rtol=1e-5)
  np.testing.assert_allclose(tape.gradient(value, wide.value).numpy(),
                             4 * wn @ ((wn.T @ wn) * (1 - np.eye(11))), rtol=1e-4, atol=1e-4)
  q = np.linalg.qr(rng.normal(size=(8, 5)))[0] * 3.0  # orthogonal columns, any norms: no penalty
  np.testing.assert_allclose(losses.orthogonal_regularization([keras.Variable(q)]).numpy(), 0.0, atol=1e-8)


def test_reconstruction_loss_is_the_mean_absolute_error():
  rng = np.random.default_rng(1)
  real = rng.uniform(-1, 1, (2, 3, 4, 4, 3)).astype(np.float32)
  fake = rng.uniform(-1, 1, (2, 3, 4, 4, 3)).astype(np.float32)
  np.testing.assert_allclose(losses.reconstruction_loss(real, fake).numpy(), np.mean(np.abs(fake - real)),
                             rtol=1e-6)
  # A replica holding 2 of 8 clips contributes a quarter of its mean.
  np.testing.assert_allclose(losses.reconstruction_loss(real, fake, global_batch_size=8).numpy(),
                             np.mean(np.abs(fake - real)) / 4, rtol=1e-6)
  with pytest.raises(ValueError, match="same shape"):
    losses.reconstruction_loss(real, fake[:, :2])
