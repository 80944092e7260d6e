"""I3D weights: official kinetics-i3d TF1 checkpoints, a local TF-Hub module, or seeded random weights.

Where real weights come from (nothing is downloaded by this code; see docs/evaluation.md):
- kinetics-i3d checkpoints: github.com/deepmind/kinetics-i3d, folder data/checkpoints/:
  `rgb_imagenet/model.ckpt`, `rgb_scratch/model.ckpt` (Kinetics-400, variables under `RGB/inception_i3d/`) and
  `rgb_scratch_kin600/model.ckpt` (Kinetics-600: no prefix, batch-norm tensors [1, 1, 1, 1, C], `/Momentum`
  optimizer slots, which are ignored). Pass the checkpoint prefix (`.../model.ckpt`), its `.index` file, or
  the folder holding it.
- TF-Hub module deepmind/i3d-kinetics-400/1 (what the FVD reference uses; its weights differ slightly from
  the checkpoints): pass the folder of an extracted local copy (it holds `saved_model.pb`).

`make_embedder(spec)` turns a spec (one of the paths above, or "random" / "random:<seed>") into an
`Embedder(name, embed)`: `embed` maps model videos [B, T, H, W, 3] float32 in [-1, 1] (T >= 9, any H, W) to
logits [B, num_classes] float64 NumPy; `name` keys cached real statistics and says where the weights came
from (names of random embedders start with "random-": never report their numbers as FVD).
"""

import os
import re
from typing import Callable, NamedTuple

import numpy as np
import tensorflow as tf
from absl import logging

from trivd_gan.evaluation import i3d as i3d_lib

WEIGHTS_HELP = (
    "I3D weights come from the kinetics-i3d repository's data/checkpoints (github.com/deepmind/kinetics-i3d: "
    "rgb_imagenet/model.ckpt, rgb_scratch/model.ckpt or rgb_scratch_kin600/model.ckpt; pass the checkpoint "
    "prefix, its .index file or its folder) or from a local copy of the TF-Hub module "
    "deepmind/i3d-kinetics-400/1 (pass the folder holding saved_model.pb). Use 'random' only for tests.")

_KIN400_PREFIX = "RGB/inception_i3d/"
_LOGITS_BIAS = "Logits/Conv3d_0c_1x1/conv_3d/b"


class Embedder(NamedTuple):
  """(name, embed): embed maps [B, T, H, W, 3] float32 videos in [-1, 1] to [B, C] float64 logits."""
  name: str
  embed: Callable


def is_random_embedder(name):
  """True for embedder names produced by `make_embedder('random...')`."""
  return name.startswith("random-")


def resolve_weights_path(path):
  """Classifies `path` as ("hub", folder) or ("checkpoint", prefix); ValueError with help otherwise."""
  if not path:
    raise ValueError(f"No I3D weights path given. {WEIGHTS_HELP}")
  path = os.path.expanduser(str(path))
  if os.path.isdir(path):
    if os.path.exists(os.path.join(path, "saved_model.pb")):
      return "hub", path
    prefix = tf.train.latest_checkpoint(path)
    if prefix is None:
      indexes = sorted(f for f in os.listdir(path) if f.endswith(".index"))
      if len(indexes) == 1:
        prefix = os.path.join(path, indexes[0][:-len(".index")])
      elif len(indexes) > 1:
        raise ValueError(f"I3D weights folder {path} holds several checkpoints {indexes}: pass one prefix. "
                         f"{WEIGHTS_HELP}")
    if prefix is None:
      raise ValueError(f"I3D weights folder {path} holds neither saved_model.pb nor a checkpoint. "
                       f"{WEIGHTS_HELP}")
    return "checkpoint", prefix
  if path.endswith(".index") and os.path.exists(path):
    return "checkpoint", path[:-len(".index")]
  if os.path.exists(path + ".index"):
    return "checkpoint", path
  raise ValueError(f"I3D weights path {path!r} does not exist or is neither a checkpoint nor a TF-Hub module "
                   f"folder. {WEIGHTS_HELP}")


def read_checkpoint(prefix):
  """Reads an I3D checkpoint into {name relative to inception_i3d/: float32 array}.

  Handles both released layouts: Kinetics-400 (`RGB/inception_i3d/` prefix) and Kinetics-600 (no prefix,
  batch-norm tensors [1, 1, 1, 1, C] squeezed to [C], `/Momentum` slots dropped).
  """
  try:
    reader = tf.train.load_checkpoint(prefix)
  except (tf.errors.OpError, ValueError) as e:
    raise ValueError(f"Cannot read I3D checkpoint {prefix!r}: {e}. {WEIGHTS_HELP}") from e
  out = {}
  for name in reader.get_variable_to_shape_map():
    if name.endswith("/Momentum") or name == "global_step":
      continue  # optimizer state, not model weights
    key = name[len(_KIN400_PREFIX):] if name.startswith(_KIN400_PREFIX) else name
    value = reader.get_tensor(name)
    if "/batch_norm/" in key:
      value = value.reshape([-1])
    out[key] = np.asarray(value, np.float32)
  return out


def load_checkpoint_into(model, prefix):
  """Assigns every checkpoint variable to `model` (an `I3D`); ValueError listing anything unmatched."""
  values = read_checkpoint(prefix)
  targets = model.checkpoint_variables()
  unused = sorted(set(values) - set(targets))
  missing = sorted(set(targets) - set(values))
  bad_shape = sorted(f"{k}: checkpoint {values[k].shape} vs model {tuple(targets[k].shape)}"
                     for k in set(values) & set(targets) if values[k].shape != tuple(targets[k].shape))
  if unused or missing or bad_shape:
    raise ValueError(
        f"I3D checkpoint {prefix!r} does not match the {model.num_classes}-class I3D: unmatched checkpoint "
        f"variables {unused}, model variables missing from the checkpoint {missing}, shape mismatches "
        f"{bad_shape}. {WEIGHTS_HELP}")
  for key, var in targets.items():
    var.assign(values[key])
  logging.info("Loaded %d I3D variables from %s", len(targets), prefix)
  return model


def checkpoint_num_classes(prefix):
  """Number of classes of the checkpoint at `prefix`, from the logits bias shape."""
  reader = tf.train.load_checkpoint(prefix)
  shapes = reader.get_variable_to_shape_map()
  for name in (_KIN400_PREFIX + _LOGITS_BIAS, _LOGITS_BIAS):
    if name in shapes:
      return int(shapes[name][-1])
  raise ValueError(f"Checkpoint {prefix!r} has no {_LOGITS_BIAS} variable: not an I3D checkpoint. "
                   f"{WEIGHTS_HELP}")


def load_i3d_from_checkpoint(prefix):
  """Builds an `I3D` with the checkpoint's number of classes and loads it."""
  try:
    num_classes = checkpoint_num_classes(prefix)
  except tf.errors.OpError as e:
    raise ValueError(f"Cannot read I3D checkpoint {prefix!r}: {e}. {WEIGHTS_HELP}") from e
  model = i3d_lib.I3D(num_classes)
  model.build()
  return load_checkpoint_into(model, prefix)


def load_hub_module(folder):
  """Loads a local TF-Hub (TF1 Hub format) I3D; returns fn: [B, T, 224, 224, 3] in [-1, 1] -> [B, C] logits."""
  try:
    module = tf.saved_model.load(folder, tags=[])
  except (ValueError, RuntimeError, tf.errors.OpError) as first_error:
    try:  # a TF2 SavedModel saved with the default "serve" tag
      module = tf.saved_model.load(folder)
    except Exception as e:  # pylint: disable=broad-except
      raise ValueError(f"Cannot load TF-Hub module {folder!r}: {first_error}; {e}. {WEIGHTS_HELP}") from e
  signatures = getattr(module, "signatures", {})
  if "default" not in signatures:
    raise ValueError(f"TF-Hub module {folder!r} has no 'default' signature (has {list(signatures)}). "
                     f"{WEIGHTS_HELP}")
  signature = signatures["default"]
  _, kwargs_spec = signature.structured_input_signature
  if len(kwargs_spec) != 1:
    raise ValueError(f"TF-Hub module {folder!r}: the 'default' signature must take one video input, takes "
                     f"{list(kwargs_spec)}.")
  input_name = next(iter(kwargs_spec))

  def call(videos):
    outputs = signature(**{input_name: tf.convert_to_tensor(videos, tf.float32)})
    if isinstance(outputs, dict):
      outputs = outputs["default"] if "default" in outputs else next(iter(outputs.values()))
    return outputs

  # Keep the module alive as long as the function.
  call.module = module
  return call


def _sanitize(text):
  return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")


def make_embedder(spec, batch_size=8, seed=0):
  """Returns `Embedder(name, embed)` for an I3D weight spec.

  Args:
    spec: a kinetics-i3d checkpoint (prefix, `.index` file or folder), a local TF-Hub module folder, or
      "random" / "random:<seed>" for seeded random weights (labelled by a name starting with "random-").
    batch_size: videos per I3D call inside `embed` (bounds memory: each 16-frame clip is 224x224 at the input).
    seed: seed for "random" when the spec does not give one.

  Returns:
    Embedder(name, embed): `embed(videos)` takes [B, T, H, W, 3] float in [-1, 1] (T >= 9; frames are resized to
    224x224 with `fvd.i3d_preprocess`) and returns [B, num_classes] float64 NumPy pre-softmax logits.
  """
  from trivd_gan.evaluation import fvd  # pylint: disable=import-outside-toplevel

  spec = str(spec) if spec is not None else ""
  if spec == "random" or spec.startswith("random:"):
    if spec.startswith("random:"):
      try:
        seed = int(spec.split(":", 1)[1])
      except ValueError as e:
        raise ValueError(f"Random I3D spec must be 'random' or 'random:<int seed>', got {spec!r}.") from e
    model = i3d_lib.I3D(400)
    model.build()
    i3d_lib.randomize_weights(model, seed)
    name = f"random-i3d400-seed{seed}"
    network = model
  else:
    kind, location = resolve_weights_path(spec)
    base = _sanitize(os.path.basename(os.path.normpath(location if kind == "hub" else os.path.dirname(location)
                                                       or location)))
    if kind == "hub":
      network = load_hub_module(location)
      name = f"i3d-hub-{base}"
    else:
      model = load_i3d_from_checkpoint(location)
      network = model
      name = f"i3d{model.num_classes}-ckpt-{base}"

  if isinstance(network, i3d_lib.I3D):
    model_fn = tf.function(lambda x: network(x, training=False), reduce_retracing=True)
  else:
    model_fn = network

  @tf.function(reduce_retracing=True)
  def _embed_batch(videos):
    return model_fn(fvd.i3d_preprocess(videos))

  def embed(videos):
    videos = tf.convert_to_tensor(videos, tf.float32)
    if videos.shape.rank != 5 or videos.shape[1] < i3d_lib.MIN_FRAMES:
      raise ValueError(f"I3D embedder expects videos [B, T>={i3d_lib.MIN_FRAMES}, H, W, 3] in [-1, 1], got "
                       f"{videos.shape}.")
    chunks = [_embed_batch(videos[i:i + batch_size]).numpy()
              for i in range(0, int(videos.shape[0]), batch_size)]
    return np.concatenate(chunks, axis=0).astype(np.float64)

  embed.network = network
  return Embedder(name, embed)
