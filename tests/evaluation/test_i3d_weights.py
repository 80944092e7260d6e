"""Tests for trivd_gan/evaluation/i3d_weights.py: path resolution, TF-Hub-style modules, make_embedder."""

import os

import numpy as np
import pytest
import tensorflow as tf

from trivd_gan.evaluation import fvd
from trivd_gan.evaluation import i3d
from trivd_gan.evaluation import i3d_weights


class _TinyHubModule(tf.Module):
  """Stands in for deepmind/i3d-kinetics-400/1: signature default, [B, T, 224, 224, 3] -> {default: [B, C]}."""

  def __init__(self):
    super().__init__()
    self.w = tf.Variable(tf.random.stateless_normal([3, 400], seed=[0, 1]))

  @tf.function(input_signature=[tf.TensorSpec([None, None, 224, 224, 3], tf.float32)])
  def default(self, rgb_input):
    return {"default": tf.reduce_mean(rgb_input, axis=[1, 2, 3]) @ self.w}


def _save_tiny_module(folder):
  module = _TinyHubModule()
  tf.saved_model.save(module, folder, signatures={"default": module.default})
  return module


def test_missing_or_wrong_path_explains_where_weights_come_from(tmp_path):
  for bad in ["", str(tmp_path / "nope"), str(tmp_path)]:
    with pytest.raises(ValueError, match=r"kinetics-i3d.*data/checkpoints.*deepmind/i3d-kinetics-400/1"):
      i3d_weights.make_embedder(bad)


def test_resolve_weights_path_variants(tmp_path):
  ckpt_dir = tmp_path / "rgb_scratch"
  ckpt_dir.mkdir()
  prefix = str(ckpt_dir / "model.ckpt")
  tf.raw_ops.SaveV2(prefix=prefix, tensor_names=["x"], shape_and_slices=[""], tensors=[tf.zeros([1])])
  assert i3d_weights.resolve_weights_path(prefix) == ("checkpoint", prefix)
  assert i3d_weights.resolve_weights_path(prefix + ".index") == ("checkpoint", prefix)
  assert i3d_weights.resolve_weights_path(str(ckpt_dir)) == ("checkpoint", prefix)
  hub_dir = str(tmp_path / "hub")
  _save_tiny_module(hub_dir)
  assert i3d_weights.resolve_weights_path(hub_dir) == ("hub", hub_dir)
  # A checkpoint without the I3D logits is not mistaken for I3D weights.
  with pytest.raises(ValueError, match="not an I3D checkpoint"):
    i3d_weights.make_embedder(prefix)


def test_hub_style_saved_model_is_recognized_and_called(tmp_path):
  folder = str(tmp_path / "i3d-kinetics-400_1")
  module = _save_tiny_module(folder)
  assert os.path.exists(os.path.join(folder, "saved_model.pb"))
  name, embed = i3d_weights.make_embedder(folder, batch_size=2)
  assert name == "i3d-hub-i3d-kinetics-400_1" and not i3d_weights.is_random_embedder(name)
  videos = tf.random.stateless_uniform([3, 9, 32, 32, 3], seed=[5, 6], minval=-1.0, maxval=1.0)
  logits = embed(videos)
  assert logits.shape == (3, 400) and logits.dtype == np.float64
  expected = module.default(fvd.i3d_preprocess(videos))["default"].numpy()
  np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)


def test_tf1_hub_format_with_empty_tags_is_loaded(tmp_path):
  """TF1 Hub modules are TF1 SavedModels whose graph has the empty tag set:
  tf.saved_model.load(dir, tags=[])."""
  folder = str(tmp_path / "tf1_module")
  w = np.random.default_rng(0).normal(size=(3, 400)).astype(np.float32)
  with tf.Graph().as_default():
    x = tf.compat.v1.placeholder(tf.float32, [None, None, 224, 224, 3], name="rgb_input")
    y = tf.matmul(tf.reduce_mean(x, axis=[1, 2, 3]), tf.compat.v1.get_variable("w", initializer=w))
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      builder = tf.compat.v1.saved_model.Builder(folder)
      signature = tf.compat.v1.saved_model.predict_signature_def({"rgb_input": x}, {"default": y})
      builder.add_meta_graph_and_variables(sess, tags=[], signature_def_map={"default": signature})
      builder.save()
  name, embed = i3d_weights.make_embedder(folder)
  assert name == "i3d-hub-tf1_module"
  videos = tf.random.stateless_uniform([2, 9, 16, 16, 3], seed=[3, 3], minval=-1.0, maxval=1.0)
  expected = tf.reduce_mean(fvd.i3d_preprocess(videos), axis=[1, 2, 3]).numpy() @ w
  np.testing.assert_allclose(embed(videos), expected, rtol=1e-5, atol=1e-5)


def test_hub_equivalent_of_checkpoint_gives_same_logits(tmp_path):
  """A checkpoint and a SavedModel wrapping the same weights embed videos identically."""
  model = i3d.randomize_weights(i3d.I3D(400), seed=7)
  prefix = str(tmp_path / "rgb_imagenet" / "model.ckpt")
  names = sorted(model.checkpoint_variables())
  tf.raw_ops.SaveV2(prefix=prefix, tensor_names=["RGB/inception_i3d/" + n for n in names],
                    shape_and_slices=[""] * len(names),
                    tensors=[model.checkpoint_variables()[n] for n in names])

  wrapper = tf.Module()
  wrapper.model = model
  wrapper.default = tf.function(lambda rgb_input: {"default": model(rgb_input, training=False)},
                                input_signature=[tf.TensorSpec([None, None, 224, 224, 3], tf.float32)])
  hub_dir = str(tmp_path / "hub")
  tf.saved_model.save(wrapper, hub_dir, signatures={"default": wrapper.default})

  ckpt_name, ckpt_embed = i3d_weights.make_embedder(prefix)
  hub_name, hub_embed = i3d_weights.make_embedder(hub_dir)
  assert ckpt_name == "i3d400-ckpt-rgb_imagenet" and hub_name == "i3d-hub-hub"
  videos = tf.random.stateless_uniform([1, 9, 48, 40, 3], seed=[8, 9], minval=-1.0, maxval=1.0)
  a, b = ckpt_embed(videos), hub_embed(videos)
  assert np.abs(a).max() > 0.1
  np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(a).max())


def test_random_embedder_is_labelled_and_deterministic():
  embedder = i3d_weights.make_embedder("random:3", batch_size=1)
  name, embed = embedder
  assert name == "random-i3d400-seed3" and i3d_weights.is_random_embedder(name)
  videos = tf.random.stateless_uniform([2, 9, 24, 24, 3], seed=[1, 2], minval=-1.0, maxval=1.0)
  logits = embed(videos)  # two chunks of one clip
  assert logits.shape == (2, 400) and logits.dtype == np.float64
  direct = embed.network(fvd.i3d_preprocess(videos)).numpy()
  np.testing.assert_allclose(logits, direct, rtol=1e-5, atol=1e-5 * np.abs(direct).max())
  # The same seed gives the same weights in a fresh embedder.
  fresh = i3d_weights.make_embedder("random:3").embed.network
  for a, b in zip(fresh.weights, embed.network.weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  with pytest.raises(ValueError, match="T>=9"):
    embed(videos[:, :8])
  with pytest.raises(ValueError, match="random:<int seed>"):
    i3d_weights.make_embedder("random:abc")
