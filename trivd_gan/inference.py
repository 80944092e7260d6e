"""Using a trained TrIVD-GAN-FP generator: load it, set its BatchNorm statistics, predict, read its motion.

One library module for predict, evaluate and the exporter (and for users' own code):
  - loading: `load_generator` (a training run's model_dir: model_config.json + checkpoint) and
    `load_saved_model` (a SavedModel written by export/export_generator.py);
  - standing statistics (paper E.2): `apply_standing_statistics`, fed by `dataset_batches` (a data set's
    training split) or `video_batches` (the user's own videos);
  - latents: `models.generator.truncated_latents`, the one truncated-normal sampler (`Generator.sample_latents`
    uses it too);
  - prediction: `Predictor` (either kind of model, uint8 context in, frames and motion field out), built on
    `make_predict_fn`;
  - motion fields (paper section 4.4, Figure 3): `motion_fields`.

Training writes what this module reads (trivd_gan.training imports it); this module imports neither training
nor any program, so a trained model is usable without the training code's dependencies being loaded.

Paper: Luc et al., Transformation-based Adversarial Video Prediction on Large-Scale Data (2020).
"""

import json
import os
import re
import time

from absl import logging
import numpy as np
import tensorflow as tf

from trivd_gan import compat
from trivd_gan import log_filters
from trivd_gan import progress
from trivd_gan.layers import normalization
from trivd_gan.layers import spectral_norm
from trivd_gan.layers import warping
from trivd_gan.models import generator as generator_lib

# The layout of a training run's model_dir is described in trivd_gan/training/checkpoints.py, which writes it.
MODEL_CONFIG = "model_config.json"


# ----------------------------------------------------------------------------------------------------------
# Loading.


def variables_by_path(model):
  """{variable path without the model's own name, '/' -> '.': variable} of every variable of `model`.

  Checkpoints track models through these dicts: Keras 3 models do not expose all their (nested-list) layers'
  variables to tf.train.Checkpoint, and keys without the model name let G, the EMA G and a fresh Generator
  share one layout.
  """
  out = {}
  for v in model.variables:
    key = ".".join(v.path.split("/")[1:])
    if key in out:
      raise ValueError(f"Two variables of {model.name} share the path {v.path}; name the layers uniquely.")
    out[key] = v
  return out


def latest_checkpoint(model_dir):
  """The newest checkpoint prefix in model_dir, or None."""
  return tf.train.latest_checkpoint(model_dir)


def checkpoint_step(prefix):
  """The step of a checkpoint prefix `.../ckpt-<step>` (-1 if it has no step)."""
  match = re.search(r"ckpt-(\d+)$", prefix)
  return int(match.group(1)) if match else -1


def list_checkpoints(model_dir, every, steps=()):
  """Checkpoint prefixes of model_dir, oldest first: those of `steps`, else all if `every`, else the newest."""
  prefixes = sorted({p[:-len(".index")] for p in tf.io.gfile.glob(os.path.join(model_dir, "ckpt-*.index"))},
                    key=checkpoint_step)
  if not prefixes:
    raise ValueError(f"--model_dir={model_dir} holds no checkpoint; train first (python -m trivd_gan.train).")
  if steps:
    wanted = {int(s) for s in steps}
    missing = wanted - {checkpoint_step(p) for p in prefixes}
    if missing:
      raise ValueError(f"--model_dir={model_dir} has no checkpoint of step(s) {sorted(missing)}; it has "
                       f"{[checkpoint_step(p) for p in prefixes]}.")
    return [p for p in prefixes if checkpoint_step(p) in wanted]
  return prefixes if every else prefixes[-1:]


def load_generator(model_dir, use_ema=True, checkpoint=None, chain_pooling=None):
  """Restores a trained generator from a model_dir written by `training.loop.train`.

  Args:
    model_dir: the training run's --model_dir.
    use_ema: the EMA generator (paper E.2: all evaluation samples use it) or the raw G. Before the EMA start
      step the EMA generator is a copy of G.
    checkpoint: a checkpoint prefix (default: the newest in model_dir).
    chain_pooling: None (the run's own), a `Generator.chain_pooling` to use instead, or "none" (each field as
      G draws it, chain_pooling_radius 0): pooling holds no variables, so the same weights run with any; only
      for a run that pools its fields (chain_pooling_radius > 0).

  Returns:
    A built `Generator` (inference: call with training=False). Its BatchNorm statistics are those saved; call
    `apply_standing_statistics` before evaluating, as the paper does.
  """
  config_path = os.path.join(model_dir, MODEL_CONFIG)
  if not tf.io.gfile.exists(config_path):
    raise ValueError(f"{model_dir} has no {MODEL_CONFIG}; pass the --model_dir of a "
                     "`python -m trivd_gan.train` run.")
  checkpoint = checkpoint or latest_checkpoint(model_dir)
  if checkpoint is None:
    raise ValueError(f"{model_dir} holds no checkpoint yet; train longer (checkpoints are written every "
                     "train.checkpoint_every steps and at the end).")
  with tf.io.gfile.GFile(config_path) as f:
    config = with_chain_pooling(json.load(f)["generator"], chain_pooling, model_dir)
  generator = generator_lib.Generator(**config)
  generator.build_for_shapes(1)
  ckpt = tf.train.Checkpoint(**{("ema_generator" if use_ema else "generator"): variables_by_path(generator)})
  ckpt.restore(checkpoint).assert_existing_objects_matched().expect_partial()
  return generator


def with_chain_pooling(config, chain_pooling, model_dir):
  """A run's generator config (model_config.json) with `chain_pooling` instead of its own (None: unchanged;
  "none": no pooling, chain_pooling_radius 0).

  The option holds no variables, so the same weights run with any pooling; only a run that pools its fields
  (output_mode "warp_chain", chain_pooling_radius > 0) has one to change."""
  if chain_pooling is None:
    return config
  if not config.get("chain_pooling_radius"):
    raise ValueError(f"--chain_pooling={chain_pooling} needs a run whose generator pools its fields "
                     f"(output_mode 'warp_chain' with chain_pooling_radius > 0); {model_dir} has output_mode "
                     f"{config.get('output_mode')!r} and chain_pooling_radius 0.")
  if chain_pooling == "none":  # G's fields drawn as trained on the photometric term (docs/learning.md exp. 21)
    return {**config, "chain_pooling_radius": 0}
  return {**config, "chain_pooling": chain_pooling}


def load_saved_model(path):
  """Loads a SavedModel written by export/export_generator.py (its signatures: that program's docstring).

  Raises:
    ValueError: `path` is not a SavedModel folder.
  """
  if not os.path.isfile(os.path.join(path, "saved_model.pb")):
    raise ValueError(f"--model={path} is not a SavedModel folder (no saved_model.pb); write one with "
                     "export/export_generator.py.")
  # The export leaves custom gradients out on purpose (inference only): no warning per function on load.
  with log_filters.dropped_log_messages("unsaved custom gradients"):
    return tf.saved_model.load(path)


# ----------------------------------------------------------------------------------------------------------
# Standing statistics (paper E.2): before evaluation and export the moving statistics of every BatchNorm of G
# are replaced by the average of the batch moments of `num_batches` forward passes in training mode (100
# batches of 256 samples in the paper), so that the EMA of the weights is not confounded with the BN moving
# averages.


def batch_norms(model):
  """Every `normalization.BatchNorm` inside `model` (including those of conditional batch norms)."""
  return [layer for layer in compat.flatten_layers(model)
          if isinstance(layer, normalization.BatchNorm)]


def spectral_norm_vectors(model):
  """The power-iteration u variables of every spectrally normalized layer inside `model`."""
  return [layer.sn_u for layer in compat.flatten_layers(model)
          if isinstance(layer, spectral_norm._SpectralNormMixin) and getattr(layer, "sn_u", None) is not None]


def apply_standing_statistics(generator, batches, num_batches=100, log_every=10):
  """Sets every BatchNorm's moving statistics to the mean of `num_batches` batches' moments.

  For the n-th pass (n = 0, 1, ...) momentum is set to n / (n + 1), so that after N passes
  moving = (1 / N) sum_n batch_moments_n (a cumulative average). The momentum variables and the spectral-norm
  u vectors are restored afterwards; no trainable weight changes.

  Args:
    generator: a built `Generator`.
    batches: either a callable i -> (context, z) or (context, z, labels), or an iterable of such tuples;
      context [B, Tc, H, W, 3] float32 in [-1, 1], z [B, latent_dim], labels [B] int32 or None.
    num_batches: N (100 in the paper).
    log_every: a progress line (passes done, seconds per pass, ETA) every `log_every` passes and after the
      last; 0 logs nothing. 100 x 256 clips take minutes on a CPU: without it the program looks stuck.

  Returns:
    The number of passes made (num_batches, or fewer if the iterable ran out).
  """
  if num_batches < 1:
    raise ValueError(f"num_batches must be >= 1, got {num_batches}.")
  bns = batch_norms(generator)
  u_vectors = spectral_norm_vectors(generator)
  saved_momentum = [tf.identity(bn.momentum) for bn in bns]
  saved_u = [tf.identity(u) for u in u_vectors]

  @tf.function(reduce_retracing=True, autograph=False)  # the generator needs no autograph: seconds saved
  def forward(context, z, labels):
    generator(context, z, labels, training=True)

  for bn in bns:
    bn.moving_mean.assign(tf.zeros_like(bn.moving_mean))
    bn.moving_variance.assign(tf.zeros_like(bn.moving_variance))
  iterator = None if callable(batches) else iter(batches)
  passes = 0
  start = time.perf_counter()
  try:
    for n in range(num_batches):
      if iterator is None:
        batch = batches(n)
      else:
        try:
          batch = next(iterator)
        except StopIteration:
          break
      context, z, labels = (tuple(batch) + (None,))[:3]
      for bn in bns:
        bn.momentum.assign(n / (n + 1.0))
      forward(context, z, labels)
      passes += 1
      if log_every and (passes % log_every == 0 or passes == num_batches):
        seconds = time.perf_counter() - start
        logging.info("Standing statistics: pass %d/%d, %.2f s per pass, ETA %s.", passes, num_batches,
                     seconds / passes, progress.format_duration(seconds / passes * (num_batches - passes)))
  finally:
    for bn, momentum in zip(bns, saved_momentum):
      bn.momentum.assign(momentum)
    for u, value in zip(u_vectors, saved_u):
      u.assign(value)
  if passes == 0:
    raise ValueError("apply_standing_statistics got no batch; pass a callable or a non-empty iterable.")
  return passes


def dataset_batches(dataset, data_dir, generator, num_batches, batch_size, seed=0):
  """A callable i -> (context, z) for `apply_standing_statistics`: training-split contexts of a data set.

  Args:
    dataset: a `data.SOURCES` name (e.g. "moving_mnist"); data_dir: its folder.
    generator: the built `Generator` (its context length and resolution are used).
    num_batches, batch_size: the batches are read once, up front (the same contexts for every call).
    seed: data order and z; z ~ N(0, I) untruncated, the training distribution.

  Returns:
    batch(i) -> (context [batch_size, Tc, R, R, 3] float32 in [-1, 1], z [batch_size, latent_dim]).
  """
  # Imported here: loading and predicting need no data pipeline (nor its optional dependencies).
  from trivd_gan import data  # pylint: disable=import-outside-toplevel

  ds = data.make_dataset(dataset, split="train", data_dir=data_dir, batch_size=batch_size,
                         num_frames=generator.num_context_frames, image_size=generator.resolution, seed=seed)
  contexts = [b["video"] for b in ds.take(num_batches)]

  def batch(i):
    z = generator_lib.sample_latents(batch_size, generator.latent_dim, seed=tf.constant([seed, i], tf.int64))
    return contexts[i], z

  return batch


def video_batches(generator, data, batch_size, seed=0):
  """A callable i -> (context [batch, T_in, R, R, 3] in [-1, 1], z) of random windows of the videos in `data`.

  `data` is a video file or a folder of videos (the exporter's --standing_stats_data). Windows, crops and z are
  drawn from `seed` alone: the same seed gives the same batches (a reproducible export).
  """
  from trivd_gan.data import preprocessing  # pylint: disable=import-outside-toplevel
  from trivd_gan.data import video_folder  # pylint: disable=import-outside-toplevel

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


# ----------------------------------------------------------------------------------------------------------
# Prediction and motion fields.


def motion_fields(generator, warp_weights, batch_size):
  """Per-level and combined motion fields (section 4.4, Figure 3).

  Each level's expected flow (`warping.expected_flow`: the warping weights read as a distribution over the
  kernel offsets) is combined coarse to fine with `warping.combine_flows` (nearest upsampling, displacements
  multiplied by the factor); the result, at the finest recurrent level (resolution / 2), is upsampled to the
  frame resolution, again multiplying by the factor.

  Args:
    generator: the `Generator` that produced the weights.
    warp_weights: `generate`'s list (coarse to fine) of [B, Tp, h_l, w_l, k^2] or None (a unit that does not
      warp).
    batch_size: B, an int or scalar int32 tensor (shapes the zeros of non-warping units).

  Returns:
    (combined [B, Tp, R, R, 2] float32, levels: list of [B, Tp, h_l, w_l, 2] float32); flows are (dy, dx) in
    pixels of their own resolution, all zeros when the recurrent unit does not warp (ConvGRU, ConvLSTM).
  """
  tp, res = generator.num_predicted_frames, generator.resolution
  levels, size = [], generator.base_resolution
  for unit, weights in zip(generator.units, warp_weights):
    if weights is None:
      levels.append(tf.zeros(tf.stack([batch_size, tp, size, size, 2])))
    else:
      levels.append(tf.cast(warping.expected_flow(weights, getattr(unit, "warp_kernel_size", 3)), tf.float32))
    levels[-1] = tf.ensure_shape(levels[-1], [None, tp, size, size, 2])
    size *= 2
  return warping.frame_flow(levels, res), levels


def make_predict_fn(generator):
  """A tf.function (context uint8 [B, T_in, R, R, 3], seed [2] int64, truncation) -> frames + motion_field."""

  @tf.function(reduce_retracing=True, autograph=False)  # the generator needs no autograph: seconds saved
  def fn(context, seed, truncation):
    context = tf.cast(context, tf.float32) / 127.5 - 1.0
    batch = tf.shape(context)[0]
    z = generator_lib.truncated_latents(batch, generator.latent_dim, truncation, seed)
    frames, weights = generator.generate(context, z, training=False)
    combined, _ = motion_fields(generator, weights, batch)
    return {"frames": frames, "motion_field": combined}

  return fn


class Predictor:
  """One interface over an exported SavedModel (`model`) and a training model_dir (`model_dir`: EMA generator).

  `predict(context_uint8 [B, T_in, R, R, 3], seed [2], truncation)` -> dict with "frames"
  [B, T_out, R, R, 3] float32 in [-1, 1] and "motion_field" [B, T_out, R, R, 2] (dy, dx) in pixels; T_in, T_out
  and R (`resolution`) are the model's. Both kinds give the same output for the same weights, seed and
  truncation (the export runs `truncated_latents` and `motion_fields` too).
  """

  def __init__(self, model=None, model_dir=None):
    if (model is None) == (model_dir is None):
      raise ValueError("pass exactly one of --model (an exported SavedModel) and --model_dir (a training run).")
    if model is not None:
      self._module = load_saved_model(model)
      self.num_context_frames = int(self._module.num_context_frames.numpy())
      self.num_predicted_frames = int(self._module.num_predicted_frames.numpy())
      self.resolution = int(self._module.resolution.numpy())
      self._fn = lambda context, seed, truncation: self._module.predict(
          tf.cast(context, tf.float32) / 127.5 - 1.0, seed, truncation)
    else:
      if not os.path.isdir(model_dir):
        raise FileNotFoundError(f"--model_dir {model_dir!r} does not exist.")
      generator = load_generator(model_dir, use_ema=True)
      self.num_context_frames = generator.num_context_frames
      self.num_predicted_frames = generator.num_predicted_frames
      self.resolution = generator.resolution
      self._fn = make_predict_fn(generator)

  def predict(self, context_uint8, seed, truncation):
    out = self._fn(tf.constant(context_uint8), tf.constant(seed, tf.int64), tf.constant(truncation, tf.float32))
    return {k: v.numpy() for k, v in out.items()}
