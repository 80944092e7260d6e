"""The generator as a self-contained, TF-Hub style SavedModel: the library part of export/export_generator.py.

`export_generator(generator, output, ...)` saves a built `Generator` (statistics already set, e.g. by
`inference.apply_standing_statistics`) with the signatures below and writes a README.md (and module.md) that
state the model's T_in, T_out and R. Loading needs only TensorFlow:
`tf.saved_model.load(EXPORT_DIR).predict(context, seed, truncation)`; `inference.Predictor(model=EXPORT_DIR)`
wraps it.

Signatures (batch size B free; T_in, T_out and the frame size R are the model's own, e.g. 5, 11 and 64 for
the paper's Kinetics-600 model; paper 3.2, 4.4, appendix E.2):
  predict(context [B, T_in, R, R, 3] float32 in [-1, 1], seed [2] int64, truncation [] float32 >= 0) ->
    {"frames": [B, T_out, R, R, 3] float32 in [-1, 1],
     "motion_field": [B, T_out, R, R, 2] float32 (dy, dx) in pixels, combined over the recurrent levels,
     "motion_level_<i>": [B, T_out, R/8*2^i, R/8*2^i, 2] float32 (dy, dx) per recurrent level i = 0, 1, 2}
  predict_uint8(context [B, T_in, R, R, 3] uint8, seed, truncation) -> {"frames": [B, T_out, R, R, 3] uint8}
Latents are `models.generator.truncated_latents`, motion fields `inference.motion_fields`: the export computes
what `inference.make_predict_fn` computes from a checkpoint.

Paper: Luc et al., Transformation-based Adversarial Video Prediction on Large-Scale Data (2020).
"""

import os

import tensorflow as tf

from trivd_gan import inference
from trivd_gan import log_filters
from trivd_gan.models import generator as generator_lib

MODULE_DOC = "README.md"


class _Holder:  # pylint: disable=too-few-public-methods
  """A plain (non-trackable) reference to the generator."""

  def __init__(self, generator):
    self.generator = generator


class GeneratorModule(tf.Module):
  """tf.Module wrapping a built `Generator` (inference mode) with explicit-TensorSpec signatures."""

  def __init__(self, generator, default_truncation=0.8):
    super().__init__(name="trivd_gan_generator")
    # The generator is held out of the object graph (a Keras model there makes saving and loading trace every
    # layer's call: minutes); its variables are tracked directly, so the SavedModel owns exactly them.
    self._holder = _Holder(generator)
    self._variables = [getattr(v, "value", v) for v in generator.variables]
    # Metadata as non-trainable variables: plain tensor attributes are not saved in a SavedModel.
    meta = lambda value, dtype, name: tf.Variable(value, dtype=dtype, trainable=False, name=name)  # noqa: E731
    self.num_context_frames = meta(generator.num_context_frames, tf.int32, "num_context_frames")
    self.num_predicted_frames = meta(generator.num_predicted_frames, tf.int32, "num_predicted_frames")
    self.resolution = meta(generator.resolution, tf.int32, "resolution")
    self.default_truncation = meta(default_truncation, tf.float32, "default_truncation")
    self.latent_dim = meta(generator.latent_dim, tf.int32, "latent_dim")
    self.recurrent_unit = meta(generator.recurrent_unit, tf.string, "recurrent_unit")
    t_in, res = generator.num_context_frames, generator.resolution
    seed_spec = tf.TensorSpec([2], tf.int64, name="seed")
    trunc_spec = tf.TensorSpec([], tf.float32, name="truncation")
    # Unknown rank for the context: rank and size are checked inside, with messages, instead of a bare
    # "no matching concrete function" error from the signature matcher. autograph=False: nothing here branches
    # on tensors in Python, and converting the generator's code costs ~2 s of every export (as the trainer).
    self.predict = tf.function(self._predict, autograph=False, input_signature=[
        tf.TensorSpec(None, tf.float32, name="context"), seed_spec, trunc_spec])
    self.predict_uint8 = tf.function(self._predict_uint8, autograph=False, input_signature=[
        tf.TensorSpec(None, tf.uint8, name="context"), seed_spec, trunc_spec])
    self._shape_text = f"[B, {t_in}, {res}, {res}, 3]"

  def _check_context(self, context):
    g = self._holder.generator
    t_in, res = g.num_context_frames, g.resolution
    # Padding the shape to 5 entries keeps every check well-defined whatever the rank, so each failing
    # check reports its own message (graph asserts are not short-circuited by control dependencies).
    shape = tf.concat([tf.shape(context), tf.zeros([5], tf.int32)], axis=0)
    checks = [
        tf.debugging.assert_equal(tf.rank(context), 5, message=f"context must have rank 5: {self._shape_text}"),
        tf.debugging.assert_equal(
            shape[1:5], tf.constant([t_in, res, res, 3]),
            message=f"context must be {self._shape_text} (T_in={t_in} context frames of {res}x{res} RGB)"),
        tf.debugging.assert_positive(shape[0], message="context must hold at least one clip (B >= 1)")]
    with tf.control_dependencies(checks):
      return tf.ensure_shape(tf.identity(context), [None, t_in, res, res, 3])

  def _check_truncation(self, truncation):
    return tf.debugging.assert_greater_equal(
        truncation, 0.0, message="truncation must be >= 0 (0: z = 0; 0.8 in the paper; large: no truncation)")

  def _run(self, context, seed, truncation):
    g = self._holder.generator
    batch = tf.shape(context)[0]
    z = generator_lib.truncated_latents(batch, g.latent_dim, truncation, seed)
    frames, weights = g.generate(context, z, training=False)
    combined, levels = inference.motion_fields(g, weights, batch)
    out = {"frames": frames, "motion_field": combined}
    out.update({f"motion_level_{i}": level for i, level in enumerate(levels)})
    return out

  def _predict(self, context, seed, truncation):
    context = self._check_context(context)
    in_range = tf.debugging.assert_less_equal(
        tf.reduce_max(tf.abs(context)), 1.0,
        message="context must be in [-1, 1] (uint8 frames: use predict_uint8 or x / 127.5 - 1)")
    finite = tf.debugging.assert_all_finite(context, message="context must be finite")
    with tf.control_dependencies([in_range, finite, self._check_truncation(truncation)]):
      return self._run(tf.identity(context), seed, truncation)

  def _predict_uint8(self, context, seed, truncation):
    # Calls the float signature's function, so the SavedModel holds one copy of the generator graph.
    out = self.predict(tf.cast(context, tf.float32) / 127.5 - 1.0, seed, truncation)
    frames = tf.cast(tf.clip_by_value(tf.round((out["frames"] + 1.0) * 127.5), 0.0, 255.0), tf.uint8)
    return {"frames": frames}


WEIGHTS = {"ema": "the EMA generator", "raw": "the raw generator (not the EMA of its weights)"}


def module_description(generator, model_dir, truncation, standing_batches, weights="ema"):
  """The TF-Hub style README.md written beside the SavedModel; `weights`: a key of WEIGHTS."""
  t_in, t_out, res = generator.num_context_frames, generator.num_predicted_frames, generator.resolution
  sizes = ", ".join(f"motion_level_{i}: [B, {t_out}, {generator.base_resolution * 2 ** i}, "
                    f"{generator.base_resolution * 2 ** i}, 2]" for i in range(3))
  stats = (f"standing statistics over {standing_batches} batches (paper E.2)" if standing_batches
           else "the moving statistics saved with the checkpoint (no standing statistics pass)")
  output = f"output_mode `{generator.output_mode}`" + (
      f", each step's field pooled by `{generator.chain_pooling}` (chain_pooling_radius "
      f"{generator.chain_pooling_radius})" if generator.chain_pooling_radius else "")
  # A backslash at the end of a line below joins that line with the next one in the written text.
  return f"""# TrIVD-GAN-FP generator (video prediction)

TensorFlow SavedModel of {WEIGHTS[weights]} of a TrIVD-GAN-FP model (Luc et al. 2020, "Transformation-based
Adversarial Video Prediction on Large-Scale Data"), trained with this repository (trivd_gan).
Recurrent unit: `{generator.recurrent_unit}`, channel multiplier {generator.channel_multiplier}, {output}.
Source run: `{model_dir}`. BatchNorm uses {stats}; the generator runs in inference mode.

## Usage (TensorFlow only: no gin, no trivd_gan package)

```python
import tensorflow as tf
m = tf.saved_model.load("EXPORT_DIR")           # or tensorflow_hub.load / keras.layers.TFSMLayer
out = m.predict(context, tf.constant([0, 1], tf.int64), tf.constant({truncation}, tf.float32))
frames = out["frames"]
```

## Signatures

`predict(context, seed, truncation)`:
- `context`: [B, {t_in}, {res}, {res}, 3] float32 in [-1, 1] (RGB frames x / 127.5 - 1), B >= 1.
- `seed`: [2] int64, the stateless seed of the latents z (same seed, same input: same output).
- `truncation`: scalar float32 >= 0: latents are a standard normal truncated to [-t, t] (0.8 in the paper, this
  export's default is {truncation}); 0 gives z = 0.
- returns `frames`: [B, {t_out}, {res}, {res}, 3] float32 in [-1, 1]; \
`motion_field`: [B, {t_out}, {res}, {res}, 2]
  float32 (dy, dx) in output pixels, the expected flows of the warping weights combined over the three recurrent
  levels (paper section 4.4, Figure 3; all zeros if the recurrent unit does not warp); per level {sizes},
  in pixels of that level.

`predict_uint8(context, seed, truncation)`: `context` [B, {t_in}, {res}, {res}, 3] uint8 in [0, 255];
returns `frames` [B, {t_out}, {res}, {res}, 3] uint8.

Inputs are prepared as in training: frames resized so their smallest side is {res} (bilinear), center-cropped to
{res}x{res}. Bad input (wrong rank, size, value range, negative truncation) fails with an InvalidArgumentError
whose message says what is expected; a wrong dtype is refused by the signature.

## Training data

The training data is that of the source run's gin configuration (the paper uses Kinetics-600, 64x64 clips,
5 context and 11 predicted frames; BAIR: 1 and 15). Outputs are samples of a generative model: plausible, not
exact, futures.

## Licence

Code: Apache-2.0 (this repository). The weights inherit the terms of their training data (e.g. Kinetics videos
are YouTube content under their owners' terms); check them before redistribution.
"""


def export_generator(generator, output, truncation=0.8, model_dir="(in-memory generator)", standing_batches=0,
                     weights="ema"):
  """Saves `generator` (built, statistics already set) as a SavedModel in `output`; writes README.md there.

  `weights` ("ema" or "raw") says in README.md which of the run's generators `generator` holds.

  Returns:
    The `GeneratorModule` that was saved.
  """
  if truncation < 0:
    raise ValueError(f"--truncation must be >= 0, got {truncation}.")
  if weights not in WEIGHTS:
    raise ValueError(f"--weights must be one of {sorted(WEIGHTS)}, got {weights!r}.")
  module = GeneratorModule(generator, truncation)
  # The tf.functions themselves, not concrete functions: saving traces them in its own context, so a concrete
  # function taken beforehand is traced a second time (tiny G: export 11 s -> 7 s, load 2.8 s -> 1.8 s).
  signatures = {"serving_default": module.predict, "predict": module.predict,
                "predict_uint8": module.predict_uint8}
  # No custom gradients: the export is for inference, and tracing kernel_warp's gradient at every call site
  # makes saving and loading several times slower.
  # TensorFlow renames the captured variables' inputs of every signature and lists hundreds of them in one
  # INFO line; the names are internal (callers use the signature's own argument names).
  with log_filters.dropped_log_messages("with unsupported characters which will be renamed"):
    tf.saved_model.save(module, output, signatures=signatures,
                        options=tf.saved_model.SaveOptions(experimental_custom_gradients=False))
  text = module_description(generator, model_dir, truncation, standing_batches, weights)
  for name in (MODULE_DOC, "module.md"):
    with tf.io.gfile.GFile(os.path.join(output, name), "w") as f:
      f.write(text)
  return module


def check_output(output, overwrite):
  """Refuses to replace an existing --output unless `overwrite`, and then only an export (saved_model.pb)."""
  if not tf.io.gfile.exists(output) or not tf.io.gfile.listdir(output):
    return
  is_export = tf.io.gfile.exists(os.path.join(output, "saved_model.pb"))
  if not overwrite:
    raise ValueError(f"--output={output!r} already exists and is not empty; pass --overwrite to replace "
                     f"{'that export' if is_export else 'it'}, or choose a new --output.")
  if not is_export:
    raise ValueError(f"--output={output!r} is a non-empty folder without saved_model.pb (not an export): "
                     "--overwrite replaces only exports; choose another --output.")
