"""Exports the EMA generator of a training run as a self-contained SavedModel (TF-Hub style).

  python export/export_generator.py --model_dir=DIR --output=EXPORT_DIR [--truncation=0.8]
      [--standing_stats_batches=N --standing_stats_data=VIDEO_OR_FOLDER] [--overwrite]
  python export/export_generator.py --model_dir=DIR --output=EXPORT_DIR --standing_stats_batches=N \
      --standing_stats_dataset=moving_mnist --data_dir=MNIST_DIR   (contexts from a data set's training split)

Signatures (batch size B free; T_in, T_out and the frame size R are the model's own, e.g. 5, 11 and 64 for
the paper's Kinetics-600 model; paper 3.2, 4.4, appendix E.2):
  predict(context [B, T_in, R, R, 3] float32 in [-1, 1], seed [2] int64, truncation [] float32 >= 0) ->
    {"frames": [B, T_out, R, R, 3] float32 in [-1, 1],
     "motion_field": [B, T_out, R, R, 2] float32 (dy, dx) in pixels, combined over the recurrent levels,
     "motion_level_<i>": [B, T_out, R/8*2^i, R/8*2^i, 2] float32 (dy, dx) per recurrent level i = 0, 1, 2}
  predict_uint8(context [B, T_in, R, R, 3] uint8, seed, truncation) -> {"frames": [B, T_out, R, R, 3] uint8}
The export's README.md states the model's T_in, T_out and R.
Loading needs only TensorFlow: `tf.saved_model.load(EXPORT_DIR).predict(context, seed, truncation)`.
Paper: Luc et al., Transformation-based Adversarial Video Prediction on Large-Scale Data (2020).
"""

import os
import sys

if __package__ in (None, ""):  # run as a script: make the repository importable
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if __name__ == "__main__":  # before TensorFlow is imported
  from trivd_gan import cli_setup  # pylint: disable=g-import-not-at-top
  cli_setup.quiet_tensorflow_logs()

import numpy as np  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position

from trivd_gan import cli_setup  # pylint: disable=wrong-import-position
from trivd_gan import predict as predict_lib  # pylint: disable=wrong-import-position
from trivd_gan.models import generator as generator_lib  # pylint: disable=wrong-import-position

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
    # "no matching concrete function" error from the signature matcher.
    self.predict = tf.function(self._predict, input_signature=[
        tf.TensorSpec(None, tf.float32, name="context"), seed_spec, trunc_spec])
    self.predict_uint8 = tf.function(self._predict_uint8, input_signature=[
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
    combined, levels = predict_lib.motion_fields(g, weights, batch)
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


def module_description(generator, model_dir, truncation, standing_batches):
  """The TF-Hub style README.md written beside the SavedModel."""
  t_in, t_out, res = generator.num_context_frames, generator.num_predicted_frames, generator.resolution
  sizes = ", ".join(f"motion_level_{i}: [B, {t_out}, {generator.base_resolution * 2 ** i}, "
                    f"{generator.base_resolution * 2 ** i}, 2]" for i in range(3))
  stats = (f"standing statistics over {standing_batches} batches (paper E.2)" if standing_batches
           else "the moving statistics saved with the checkpoint (no standing statistics pass)")
  # A backslash at the end of a line below joins that line with the next one in the written text.
  return f"""# TrIVD-GAN-FP generator (video prediction)

TensorFlow SavedModel of the EMA generator of a TrIVD-GAN-FP model (Luc et al. 2020, "Transformation-based
Adversarial Video Prediction on Large-Scale Data"), trained with this repository (trivd_gan).
Recurrent unit: `{generator.recurrent_unit}`, channel multiplier {generator.channel_multiplier}.
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


def export_generator(generator, output, truncation=0.8, model_dir="(in-memory generator)", standing_batches=0):
  """Saves `generator` (built, statistics already set) as a SavedModel in `output`; writes README.md there.

  Returns:
    The `GeneratorModule` that was saved.
  """
  if truncation < 0:
    raise ValueError(f"--truncation must be >= 0, got {truncation}.")
  module = GeneratorModule(generator, truncation)
  signatures = {"serving_default": module.predict.get_concrete_function(),
                "predict": module.predict.get_concrete_function(),
                "predict_uint8": module.predict_uint8.get_concrete_function()}
  # No custom gradients: the export is for inference, and tracing kernel_warp's gradient at every call site
  # makes saving and loading several times slower.
  # TensorFlow renames the captured variables' inputs of every signature and lists hundreds of them in one
  # INFO line; the names are internal (callers use the signature's own argument names).
  with cli_setup.dropped_log_messages("with unsupported characters which will be renamed"):
    tf.saved_model.save(module, output, signatures=signatures,
                        options=tf.saved_model.SaveOptions(experimental_custom_gradients=False))
  text = module_description(generator, model_dir, truncation, standing_batches)
  for name in (MODULE_DOC, "module.md"):
    with tf.io.gfile.GFile(os.path.join(output, name), "w") as f:
      f.write(text)
  return module


def standing_batches_from_videos(generator, data, batch_size, seed=0):
  """A callable i -> (context [batch, T_in, R, R, 3] in [-1, 1], z) of random windows of the videos in `data`.

  Windows, crops and z are drawn from `seed` alone: the same seed gives the same batches (a reproducible
  export).
  """
  from trivd_gan.data import video_folder  # pylint: disable=import-outside-toplevel
  from trivd_gan.data import preprocessing  # pylint: disable=import-outside-toplevel

  paths = []
  if os.path.isfile(data):
    paths = [data]
  elif os.path.isdir(data):
    try:
      paths = video_folder.list_videos(data)[0]
    except ValueError:  # no video in the folder: reported below in terms of this flag
      paths = []
  if not paths:
    raise ValueError(f"--standing_stats_data={data!r} is neither a video file nor a folder of videos.")
  t_in, res = generator.num_context_frames, generator.resolution
  clips = []
  for path in paths:
    frames = video_folder.decode_video(path, image_size=generator.resolution)
    if len(frames) >= t_in:
      clips.append(frames)
  if not clips:
    raise ValueError(f"no video in --standing_stats_data={data!r} has {t_in} frames.")
  rng = np.random.default_rng(seed)

  def batch(i):
    contexts = []
    for _ in range(batch_size):
      frames = clips[rng.integers(len(clips))]
      # A random window and crop as in training (E.2), drawn from `rng` so the export is reproducible by seed.
      start = int(rng.integers(len(frames) - t_in + 1))
      top, left = (int(rng.integers(n - res + 1)) for n in frames.shape[1:3])
      window = frames[start:start + t_in, top:top + res, left:left + res]
      contexts.append(preprocessing.preprocess_clip(tf.constant(window), res, training=False))
    z = generator_lib.truncated_latents(batch_size, generator.latent_dim, 1e4,  # t = 1e4: untruncated
                                        tf.constant([seed, i], tf.int64))
    return tf.stack(contexts), z

  return batch


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


def main(argv):
  from absl import flags  # pylint: disable=import-outside-toplevel
  from absl import logging  # pylint: disable=import-outside-toplevel

  del argv
  flags_ = flags.FLAGS
  try:
    if not flags_.model_dir or not flags_.output:
      raise ValueError("--model_dir and --output are required.")
    if flags_.standing_stats_batches < 0:
      raise ValueError(f"--standing_stats_batches must be >= 0, got {flags_.standing_stats_batches}.")
    if flags_.standing_stats_batches and not (flags_.standing_stats_data or flags_.standing_stats_dataset):
      raise ValueError("--standing_stats_batches needs --standing_stats_data (a video or a folder of videos) "
                       "or --standing_stats_dataset (a data set name, with --data_dir).")
    if flags_.standing_stats_data and flags_.standing_stats_dataset:
      raise ValueError("pass one of --standing_stats_data and --standing_stats_dataset, not both.")
    if not os.path.isdir(flags_.model_dir):
      raise FileNotFoundError(f"--model_dir {flags_.model_dir!r} does not exist.")
    check_output(flags_.output, flags_.overwrite)
    from trivd_gan.training import checkpoints  # pylint: disable=import-outside-toplevel
    generator = checkpoints.load_generator(flags_.model_dir, use_ema=True)
    if flags_.standing_stats_batches:
      from trivd_gan.training import standing_stats  # pylint: disable=import-outside-toplevel
      if flags_.standing_stats_dataset:
        batches = standing_stats.dataset_batches(
            flags_.standing_stats_dataset, flags_.data_dir, generator, flags_.standing_stats_batches,
            flags_.standing_stats_batch_size)
      else:
        batches = standing_batches_from_videos(generator, flags_.standing_stats_data,
                                               flags_.standing_stats_batch_size)
      standing_stats.apply_standing_statistics(generator, batches, flags_.standing_stats_batches)
    if flags_.overwrite and tf.io.gfile.exists(flags_.output):
      tf.io.gfile.rmtree(flags_.output)  # no stale variable shards or assets of the old export stay behind
    export_generator(generator, flags_.output, flags_.truncation, flags_.model_dir,
                     flags_.standing_stats_batches)
  except (ValueError, FileNotFoundError) as e:
    cli_setup.exit_with_error(e)
  logging.info("Exported the generator to %s", flags_.output)


def define_flags():
  from absl import flags  # pylint: disable=import-outside-toplevel
  flags.DEFINE_string("model_dir", None, "Training run folder (model_config.json + checkpoints).")
  flags.DEFINE_string("output", None, "Export folder (SavedModel + README.md + module.md); must be new or "
                      "empty unless --overwrite.")
  flags.DEFINE_bool("overwrite", False, "Replace an existing export in --output.")
  flags.DEFINE_float("truncation", 0.8,
                     "Truncation the description recommends (callers pass their own to predict). 0.8: the "
                     "paper's setting for the samples it shows (appendix D.1, D.3: truncation removes most "
                     "implausible motions and artefacts); an exported model serves predictions to look at. For "
                     "FVD / IS use trivd_gan.evaluate, which samples without truncation.")
  flags.DEFINE_integer("standing_stats_batches", 0,
                       "Batches of standing statistics (E.2: 100); 0 keeps saved ones.")
  flags.DEFINE_string("standing_stats_data", None, "Video file or folder for the standing statistics passes.")
  flags.DEFINE_integer("standing_stats_batch_size", 16, "Clips per standing statistics batch.")
  flags.DEFINE_string("standing_stats_dataset", None, "Instead of --standing_stats_data: contexts from this "
                      "data set's training split (e.g. moving_mnist; the folder is --data_dir).")
  flags.DEFINE_string("data_dir", None, "The folder of --standing_stats_dataset.")


if __name__ == "__main__":
  from absl import app  # pylint: disable=import-outside-toplevel
  define_flags()
  app.run(main)
