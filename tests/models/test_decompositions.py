"""Tests for trivd_gan/models/decompositions.py: views, pixel counts (section 3.1), ensembles, D/G steps.

Run as a script (`python tests/models/test_decompositions.py --distributed-check`) it splits the CPU into
2 logical devices before TensorFlow initializes them and runs every decomposition forward and backward
under MirroredStrategy; `test_every_decomposition_under_mirrored_strategy` does so in a subprocess so
that the other tests keep the default device configuration.
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import tensorflow as tf

if __name__ == "__main__" and "--distributed-check" in sys.argv:
  # Must happen before anything initializes the devices.
  tf.config.set_logical_device_configuration(
      tf.config.list_physical_devices("CPU")[0],
      [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])

import keras  # pylint: disable=g-import-not-at-top,wrong-import-position
import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position

from trivd_gan import losses  # pylint: disable=g-import-not-at-top,wrong-import-position
from trivd_gan.models import decompositions  # pylint: disable=g-import-not-at-top,wrong-import-position
from trivd_gan.models import seeds  # pylint: disable=g-import-not-at-top,wrong-import-position

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Shapes of the views for a [B, 16, 32, 32, 3] video with K = 8, s = 2.
EXPECTED_VIEWS = {
    "clip": {"clip": (16, 32, 32)},
    "downsampled": {"video_downsampled": (16, 16, 16)},
    "cropped": {"video_cropped": (16, 16, 16)},
    "cropped_downsampled": {"video_cropped": (16, 16, 16), "video_downsampled": (16, 16, 16)},
    "mocogan_like_k1": {"frame": (1, 32, 32), "clip": (16, 32, 32)},
    "mocogan_like_k8": {"frame": (8, 32, 32), "clip": (16, 32, 32)},
    "dvd_gan_fp": {"frame": (8, 32, 32), "video_downsampled": (16, 16, 16)},
    "dvd_gan_fp_faster": {"frame_downsampled": (8, 16, 16), "video_cropped": (16, 16, 16)},
    "dvd_gan_fp_stronger": {"frame_downsampled": (8, 16, 16), "video_cropped": (16, 16, 16),
                            "video_downsampled": (16, 16, 16)},
}


def _video(batch=2, num_frames=16, size=32, seed=0):
  return tf.constant(np.random.default_rng(seed).uniform(-1, 1, (batch, num_frames, size, size, 3)),
                     tf.float32)


def test_decompositions_tuple():
  assert decompositions.DECOMPOSITIONS == tuple(EXPECTED_VIEWS)


@pytest.mark.parametrize("name", decompositions.DECOMPOSITIONS)
def test_view_shapes(name):
  views = decompositions.make_views(_video(), name, k=8, s=2, seed=[3, 4])
  assert {v: tuple(x.shape[1:4]) for v, x in views.items()} == EXPECTED_VIEWS[name]
  assert all(x.shape[0] == 2 and x.shape[4] == 3 for x in views.values())


@pytest.mark.parametrize("name", decompositions.DECOMPOSITIONS)
def test_ensemble_outputs(name):
  ensemble = decompositions.DiscriminatorEnsemble(name, 1, num_frames_K=8)
  outputs = ensemble(_video(), training=True, seed=[1, 2])
  expected = {v: (2, 2, shape[0]) for v, shape in EXPECTED_VIEWS[name].items()}
  assert {v: tuple(o.shape) for v, o in outputs.items()} == expected
  # Every sub-discriminator has its own weights, named after its view.
  paths = [w.path for w in ensemble.trainable_weights]
  assert len(paths) == len(set(paths))
  for view in expected:
    assert any(p.startswith(f"{ensemble.name}/{view}/") for p in paths), (view, paths[:3])


def test_sub_discriminator_gradients_compile_under_xla():
  """TPUs and train.jit_compile compile D's forward pass and gradient with XLA: every op of the three
  sub-discriminators of the stronger decomposition and of their gradients needs an XLA kernel, and the compiled
  values equal the uncompiled ones. On fixed views: XLA's stateless random numbers differ from TensorFlow's
  kernels, so the same seed would draw other frames and crops inside a compiled function (the slow test of a
  jit-compiled training step compiles the views too)."""
  keras.utils.set_random_seed(3)
  ensemble = decompositions.DiscriminatorEnsemble("dvd_gan_fp_stronger", 1, num_frames_K=2)
  video = _video(batch=1, num_frames=4)
  ensemble(video, seed=[1, 2])
  views = decompositions.make_views(video, ensemble.decomposition, 2, ensemble.downsample_factor, [1, 2])

  def grads(views):
    with tf.GradientTape() as tape:
      tape.watch(views)
      loss = sum(tf.reduce_sum(d(views[name], training=False) ** 2)
                 for name, d in zip(ensemble.sub_discriminator_names, ensemble.sub_discriminators))
    return tape.gradient(loss, [views] + ensemble.trainable_variables)

  compiled = tf.nest.flatten(tf.function(grads, jit_compile=True, autograph=False)(views))
  for got, want in zip(compiled, tf.nest.flatten(grads(views))):
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-3, atol=1e-4)


def test_projection_head_and_labels():
  ensemble = decompositions.DiscriminatorEnsemble("dvd_gan_fp_stronger", 1, num_frames_K=2, head="projection",
                                                  num_classes=5)
  outputs = ensemble(_video(num_frames=4), tf.constant([4, 1]), seed=0)
  assert {v: tuple(o.shape) for v, o in outputs.items()} == {
      "frame_downsampled": (2,), "video_cropped": (2,), "video_downsampled": (2,)}


def test_temporal_downsample_option():
  ensemble = decompositions.DiscriminatorEnsemble("dvd_gan_fp", 1, num_frames_K=2, temporal_downsample=True)
  outputs = ensemble(_video(num_frames=8), seed=0)
  assert outputs["frame"].shape == (2, 2, 2) and outputs["video_downsampled"].shape == (2, 2, 2)


@pytest.mark.parametrize("t,h,w,k,s", [(16, 64, 64, 8, 2), (30, 128, 64, 4, 4)])
def test_pixels_per_video_matches_the_paper(t, h, w, k, s):
  hs, ws = h // s, w // s
  expected = {
      "clip": t * h * w,
      "downsampled": t * hs * ws,
      "cropped": t * hs * ws,
      "cropped_downsampled": 2 * t * hs * ws,
      "mocogan_like_k1": h * w + t * h * w,
      "mocogan_like_k8": k * h * w + t * h * w,
      "dvd_gan_fp": k * h * w + t * hs * ws,  # section 3.1: K x H x W + T x H/s x W/s
      "dvd_gan_fp_faster": (k + t) * hs * ws,  # section 3.1: (K + T) x H/s x W/s
      "dvd_gan_fp_stronger": (k + t) * hs * ws + t * hs * ws,
  }
  got = {name: decompositions.pixels_per_video(name, t, h, w, k=k, s=s) for name in expected}
  assert got == expected


def test_pixels_per_video_kinetics_numbers():
  assert decompositions.pixels_per_video("dvd_gan_fp", 16, 64, 64) == 8 * 64 * 64 + 16 * 32 * 32 == 49152
  assert decompositions.pixels_per_video("dvd_gan_fp_faster", 16, 64, 64) == 24 * 32 * 32 == 24576


def test_views_can_be_rebuilt_from_their_definition():
  video = _video(batch=3, num_frames=6)
  seed = tf.constant([5, 6], tf.int64)
  views = decompositions.make_views(video, "dvd_gan_fp_stronger", k=3, s=2, seed=seed)
  frame_seed, crop_seed = tf.unstack(seeds.split_seed(seed, 2))
  frames, indices = decompositions.sample_frames(video, 3, frame_seed)
  crops, offsets = decompositions.random_crop(video, 16, 16, crop_seed)
  v, idx, off = video.numpy(), indices.numpy(), offsets.numpy()
  pooled = lambda x: x.reshape(*x.shape[:2], x.shape[2] // 2, 2, x.shape[3] // 2, 2, 3).mean(axis=(3, 5))
  for b in range(3):
    np.testing.assert_allclose(frames.numpy()[b], v[b, idx[b]])
    top, left = off[b]
    np.testing.assert_allclose(crops.numpy()[b], v[b, :, top:top + 16, left:left + 16])
  np.testing.assert_allclose(views["frame_downsampled"].numpy(), pooled(v[np.arange(3)[:, None], idx]),
                             rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(views["video_cropped"].numpy(), crops.numpy())
  np.testing.assert_allclose(views["video_downsampled"].numpy(), pooled(v), rtol=1e-6, atol=1e-6)


def test_frame_sampling_is_random_per_sample_and_seeded():
  video = tf.zeros([64, 16, 1, 1, 1])
  _, idx = decompositions.sample_frames(video, 8, tf.constant([1, 2]))
  idx = idx.numpy()
  assert all(len(set(row)) == 8 and list(row) == sorted(row) for row in idx)
  assert len({tuple(row) for row in idx}) > 32  # independent draws per sample
  assert 0 <= idx.min() and idx.max() <= 15 and len(set(idx.ravel())) == 16
  np.testing.assert_array_equal(decompositions.sample_frames(video, 8, tf.constant([1, 2]))[1], idx)
  assert not np.array_equal(decompositions.sample_frames(video, 8, tf.constant([1, 3]))[1], idx)


def test_crop_positions_are_random_per_sample_and_cover_the_frame():
  video = tf.zeros([256, 1, 8, 8, 1])
  _, offsets = decompositions.random_crop(video, 4, 4, tf.constant([7, 8]))
  offsets = offsets.numpy()
  assert offsets.min() == 0 and offsets.max() == 4  # every position inside the frame, edges included
  assert len({tuple(o) for o in offsets}) == 25


def test_seed_forms():
  video = _video(num_frames=4)
  ensemble = decompositions.DiscriminatorEnsemble("dvd_gan_fp_faster", 1, num_frames_K=2)
  a = ensemble(video, seed=tf.constant([1, 2]))
  b = ensemble(video, seed=[1, 2])
  for v in a:
    np.testing.assert_array_equal(a[v].numpy(), b[v].numpy())
  rng1, rng2 = tf.random.Generator.from_seed(3), tf.random.Generator.from_seed(3)
  c, d = ensemble(video, seed=rng1), ensemble(video, seed=rng2)
  for v in c:
    np.testing.assert_array_equal(c[v].numpy(), d[v].numpy())
  ensemble(video, seed=None)
  ensemble(video, seed=5)
  with pytest.raises(ValueError, match=r"shape \[2\]"):
    seeds.to_seed([1, 2, 3])


def test_config_round_trip():
  ensemble = decompositions.DiscriminatorEnsemble("cropped_downsampled", 4, num_frames_K=3, downsample_factor=4,
                                                  head="projection", num_classes=2, temporal_downsample=True)
  restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(ensemble))
  assert type(restored) is decompositions.DiscriminatorEnsemble
  assert restored.get_config() == ensemble.get_config()


@pytest.mark.parametrize("call,match", [
    (lambda: decompositions.DiscriminatorEnsemble("biggan", 1), "allowed: .*dvd_gan_fp_stronger"),
    (lambda: decompositions.pixels_per_video("mocogan", 16, 64, 64), "allowed"),
    (lambda: decompositions.DiscriminatorEnsemble("dvd_gan_fp", 1, num_frames_K=9).build((None, 8, 32, 32, 3)),
     r"K must be in \[1, 8\]"),
    (lambda: decompositions.make_views(_video(num_frames=4), "dvd_gan_fp", k=5), r"K must be in \[1, 4\]"),
    (lambda: decompositions.sample_frames(_video(num_frames=4), 5, [0, 0]), r"K must be in \[1, 4\]"),
    (lambda: decompositions.random_crop(_video(size=16), 32, 16, [0, 0]), "crops must fit"),
    (lambda: decompositions.pixels_per_video("dvd_gan_fp", 16, 96, 96, s=5), "must divide"),
    (lambda: decompositions.pixels_per_video("dvd_gan_fp_faster", 16, 16, 16), "multiples of 16"),
    (lambda: decompositions.DiscriminatorEnsemble("clip", 1, head="linear"), "allowed"),
    (lambda: decompositions.DiscriminatorEnsemble("clip", 1, downsample_factor=0), "positive integer"),
])
def test_bad_configuration_raises(call, match):
  with pytest.raises(ValueError, match=match):
    call()


def _tiny_generator(num_frames, size):
  """A Dense layer standing in for G: z [B, 4] -> video [B, T, H, W, 3] in [-1, 1]."""
  dense = keras.layers.Dense(num_frames * size * size * 3, name="tiny_g")
  dense.build((None, 4))
  return dense, lambda z: tf.tanh(tf.reshape(dense(z), [-1, num_frames, size, size, 3]))


def _saturate_real_margin(ensemble):
  """Sets every head bias to 10 so that real logits leave the hinge margin (relu(1 - D(x)) = 0).

  Otherwise, at initialization all logits lie in (-1, 1) and the gradient of eq. 13 with respect to the head
  bias is exactly mean(1) - mean(1) = 0, which would hide whether the bias is connected.
  """
  for d in ensemble.sub_discriminators:
    d.head.linear.bias.assign(tf.fill(d.head.linear.bias.shape, 10.0))


@pytest.mark.parametrize("name", ["dvd_gan_fp_stronger", "mocogan_like_k1", "dvd_gan_fp"])
def test_d_step_gradients_reach_every_d_weight_and_no_g_weight(name):
  ensemble = decompositions.DiscriminatorEnsemble(name, 1, num_frames_K=3)
  g, generate = _tiny_generator(4, 32)
  real, z = _video(num_frames=4), tf.random.normal([2, 4])
  ensemble.build(real.shape)
  _saturate_real_margin(ensemble)
  with tf.GradientTape(persistent=True) as tape:
    loss, per_d = losses.discriminator_step_loss(ensemble, real, generate(z), seed=[1, 2])
  assert set(per_d) == set(EXPECTED_VIEWS[name])
  d_grads = tape.gradient(loss, ensemble.trainable_variables)
  assert len(d_grads) == 33 * len(per_d)  # 5 blocks x (3 convs x (kernel, bias)) + head (3 weights)
  for var, grad in zip(ensemble.trainable_variables, d_grads):
    assert grad is not None, var.path
    assert np.all(np.isfinite(grad.numpy())) and np.any(grad.numpy() != 0), var.path
  assert all(grad is None for grad in tape.gradient(loss, g.trainable_variables))
  # The G step (eq. 14) reaches G through D.
  with tf.GradientTape() as tape:
    g_loss, _ = losses.generator_step_loss(ensemble, generate(z), seed=[3, 4])
  g_grads = tape.gradient(g_loss, g.trainable_variables)
  assert all(grad is not None and np.any(grad.numpy() != 0) for grad in g_grads)


def test_every_decomposition_under_mirrored_strategy():
  env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
  proc = subprocess.run([sys.executable, __file__, "--distributed-check"], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=600, check=False)
  assert proc.returncode == 0, proc.stderr[-5000:]
  results = json.loads(proc.stdout.strip().splitlines()[-1])
  assert set(results) == set(decompositions.DECOMPOSITIONS)
  for name, result in results.items():
    assert result["num_replicas"] == 2, name
    assert result["finite"] and result["d_grads_nonzero"] and result["g_grads_nonzero"], (name, result)


def _distributed_check():
  """Forward + backward of every decomposition on 2 logical CPUs; prints a JSON summary on the last line.

  strategy.run is called eagerly: tracing these graphs for 2 replicas costs ~10x more CPU than running them.
  Initializers are seeded: at channel multiplier 1 a block has 1-2 channels, and an unseeded draw can leave
  one all dead on these few frames, so that its kernel gets an exactly zero gradient (seen in CI for
  mocogan_like_k1, whose frame view sees only 2 frames per replica).
  """
  keras.utils.set_random_seed(0)
  strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
  num_frames, size, per_replica, global_batch = 4, 32, 2, 4
  real = np.random.default_rng(0).uniform(-1, 1, (global_batch, num_frames, size, size, 3)).astype(np.float32)
  z = np.random.default_rng(1).normal(size=(global_batch, 4)).astype(np.float32)
  shard = lambda x: strategy.experimental_distribute_values_from_function(
      lambda ctx: x[ctx.replica_id_in_sync_group * per_replica:][:per_replica])
  results = {}
  for name in decompositions.DECOMPOSITIONS:
    with strategy.scope():
      ensemble = decompositions.DiscriminatorEnsemble(name, 1, num_frames_K=2)
      ensemble.build((None, num_frames, size, size, 3))
      _saturate_real_margin(ensemble)
      g, generate = _tiny_generator(num_frames, size)

    def replica_step(real, z, seed):
      ctx = tf.distribute.get_replica_context()
      seed = tf.random.experimental.stateless_fold_in(seed, ctx.replica_id_in_sync_group)
      d_seed, g_seed = tf.unstack(seeds.split_seed(seed, 2))
      with tf.GradientTape() as tape:
        d_loss, _ = losses.discriminator_step_loss(ensemble, real, generate(z), seed=d_seed,
                                                   global_batch_size=global_batch)
      d_grads = tape.gradient(d_loss, ensemble.trainable_variables)
      with tf.GradientTape() as tape:
        g_loss, _ = losses.generator_step_loss(ensemble, generate(z), seed=g_seed,
                                               global_batch_size=global_batch)
      g_grads = tape.gradient(g_loss, g.trainable_variables)
      # Cross-replica sums, as an optimizer would apply them.
      d_grads = ctx.all_reduce("sum", d_grads)
      g_grads = ctx.all_reduce("sum", g_grads)
      return (d_loss, g_loss, tf.stack([tf.reduce_max(tf.abs(x)) for x in d_grads]),
              tf.stack([tf.reduce_max(tf.abs(x)) for x in g_grads]))

    outputs = strategy.run(replica_step, args=(shard(real), shard(z), tf.constant([1, 2], tf.int64)))
    values = [strategy.experimental_local_results(x) for x in outputs]
    arrays = [np.stack([v.numpy() for v in x]) for x in values]
    results[name] = {
        "num_replicas": len(values[0]),
        "finite": bool(all(np.all(np.isfinite(a)) for a in arrays)),
        "d_grads_nonzero": bool(np.all(arrays[2] > 0)),
        "g_grads_nonzero": bool(np.all(arrays[3] > 0)),
        "d_loss": float(strategy.reduce("sum", outputs[0], axis=None).numpy()),
    }
  print(json.dumps(results))


if __name__ == "__main__" and "--distributed-check" in sys.argv:
  _distributed_check()
