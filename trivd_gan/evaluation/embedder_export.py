"""The I3D embedder of FVD / Inception Score (paper 4.1) as a self-contained SavedModel: the library part of
export/export_eval_module.py.

`export_embedder(spec, output)` saves `EmbedderModule`, whose signatures are:
  embed(videos [B, T >= 9, H, W, 3] float32 in [-1, 1]) -> {"logits": [B, C] float32} (C = 400 for Kinetics-400
    weights): frames are resized to 224x224 with TF1 bilinear resizing inside (as the FVD reference does,
    `fvd.i3d_preprocess`);
  fvd(real_logits [N, d], generated_logits [M, d] float32) -> {"fvd": [] float64} (section 4.1;
    `fvd.frechet_distance_from_activations_tf`);
  inception_score(logits [N, C] float32) -> {"inception_score": [] float64} (one split).
So evaluation needs only the export's folder and TensorFlow.
Paper: Luc et al., Transformation-based Adversarial Video Prediction on Large-Scale Data (2020).
"""

import os

import tensorflow as tf

from trivd_gan.evaluation import fvd
from trivd_gan.evaluation import i3d as i3d_lib
from trivd_gan.evaluation import i3d_weights
from trivd_gan.evaluation import metrics


class _Holder:  # pylint: disable=too-few-public-methods
  """A plain (non-trackable) reference, so the Keras model's layers stay out of the SavedModel's object
  graph."""

  def __init__(self, fn):
    self.fn = fn


class EmbedderModule(tf.Module):
  """tf.Module with `embed` (see the module docstring); `name` says where the weights came from."""

  def __init__(self, network, name, variables):
    super().__init__(name="i3d_embedder")
    self._holder = _Holder(network)
    self._variables = [getattr(v, "value", v) for v in variables]
    # A variable: a constant would not be saved.
    self.embedder_name = tf.Variable(name, trainable=False, name="embedder_name")
    self.embed = tf.function(self._embed, input_signature=[tf.TensorSpec(None, tf.float32, name="videos")])
    logits_spec = lambda name: tf.TensorSpec([None, None], tf.float32, name=name)  # noqa: E731
    self.fvd = tf.function(self._fvd,
                           input_signature=[logits_spec("real_logits"), logits_spec("generated_logits")])
    self.inception_score = tf.function(self._inception_score, input_signature=[logits_spec("logits")])

  def _embed(self, videos):
    checks = [tf.debugging.assert_equal(tf.rank(videos), 5, message="videos must be [B, T, H, W, 3] (rank 5)")]
    with tf.control_dependencies(checks):
      shape = tf.shape(videos)
      checks += [
          tf.debugging.assert_equal(shape[4], 3, message="videos must have 3 (RGB) channels"),
          tf.debugging.assert_greater_equal(shape[1], i3d_lib.MIN_FRAMES,
                                            message=f"videos must have T >= {i3d_lib.MIN_FRAMES} frames"),
          tf.debugging.assert_less_equal(tf.reduce_max(tf.abs(videos)), 1.0,
                                         message="videos must be in [-1, 1]")]
    with tf.control_dependencies(checks):
      videos = tf.ensure_shape(tf.identity(videos), [None, None, None, None, 3])
    logits = self._holder.fn(fvd.i3d_preprocess(videos))
    return {"logits": tf.cast(logits, tf.float32)}

  def _fvd(self, real_logits, generated_logits):
    checks = [tf.debugging.assert_greater_equal(tf.shape(x)[0], 2, message=f"{name} must be [N >= 2, d]")
              for x, name in ((real_logits, "real_logits"), (generated_logits, "generated_logits"))]
    checks.append(tf.debugging.assert_equal(tf.shape(real_logits)[1], tf.shape(generated_logits)[1],
                                            message="real_logits and generated_logits must have the same d"))
    with tf.control_dependencies(checks):
      return {"fvd": fvd.frechet_distance_from_activations_tf(real_logits, generated_logits)}

  def _inception_score(self, logits):
    with tf.control_dependencies([tf.debugging.assert_positive(tf.shape(logits)[0], message="logits must be "
                                                               "[N >= 1, C]")]):
      return {"inception_score": metrics.inception_score_tf(logits)}


def export_embedder(spec, output, seed=0):
  """Builds the embedder of `spec` (see `i3d_weights.make_embedder`) and saves it to `output`."""
  embedder = i3d_weights.make_embedder(spec, seed=seed)
  network = embedder.embed.network
  if isinstance(network, i3d_lib.I3D):
    fn, variables = (lambda x: network(x, training=False)), network.variables
  else:  # a loaded hub module's call: its variables live on `fn.module`
    fn, variables = network, list(network.module.variables)
  module = EmbedderModule(fn, embedder.name, variables)
  tf.saved_model.save(module, output, signatures={
      "serving_default": module.embed.get_concrete_function(),
      "embed": module.embed.get_concrete_function(),
      "fvd": module.fvd.get_concrete_function(),
      "inception_score": module.inception_score.get_concrete_function()})
  with tf.io.gfile.GFile(os.path.join(output, "README.md"), "w") as f:
    f.write(f"# I3D embedder ({embedder.name})\n\n`embed(videos [B, T>=9, H, W, 3] float32 in [-1, 1])` -> "
            "`{'logits': [B, C] float32}` pre-softmax logits; TF1 bilinear resize to 224x224 inside (FVD "
            "reference). Load with `tf.saved_model.load(DIR).embed(videos)`. `fvd(real_logits [N, d], "
            "generated_logits [M, d])` -> `{'fvd': float64}` (float64, unbiased covariances, SVD square roots) "
            "and `inception_score(logits [N, C])` -> `{'inception_score': float64}` (one split) complete an "
            "evaluation from this folder alone; compare FVDs only at equal N. Names starting with 'random-' "
            "are random weights: never report their numbers as FVD. Weights: see docs/evaluation.md "
            "(Kinetics-400 I3D, Apache-2.0 kinetics-i3d release).\n")
  return module
