"""Starting a new run from trained weights: fine-tune a shipped model (docs/learning.md experiment 16).

`train.warm_start_generator` (an exported SavedModel, e.g. pretrained/moving_mnist) and
`train.warm_start_discriminator` (a training run's model_dir) initialize a NEW model_dir before its first step:
G and the EMA generator get the export's weights, D and D's Adam state those of the run's newest checkpoint; G's
optimizer starts fresh (an export holds no optimizer state). A model_dir that already has a checkpoint resumes
from it instead, as always. Not in the paper (which trains from scratch); both are None by default.
"""

import json
import os

import tensorflow as tf

from trivd_gan import inference
from trivd_gan.training import checkpoints


def generator_from_export(generators, export_dir):
  """Assigns an exported generator's weights to each of `generators` (built `Generator`s of the same config).

  The export (export/export_generator.py) holds its generator's variables in `Generator.variables` order,
  BatchNorm statistics included (the export's standing statistics, if it was exported with them)."""
  module = inference.load_saved_model(export_dir)
  exported = list(getattr(module, "_variables", []))
  for g in generators:
    shapes = [tuple(v.shape) for v in g.variables]
    if not exported or [tuple(v.shape) for v in exported] != shapes or (
        int(module.num_context_frames.numpy()), int(module.resolution.numpy()),
        module.recurrent_unit.numpy().decode()) != (g.num_context_frames, g.resolution, g.recurrent_unit):
      raise ValueError(f"train.warm_start_generator={export_dir!r} is not an export of this gin's Generator "
                       f"({g.recurrent_unit}, {g.num_context_frames} context frames, {g.resolution} px, "
                       f"{len(shapes)} variables; the export has {len(exported)}): use the gin files the "
                       f"exported run trained with (its MODEL_CARD.md names them).")
    for variable, value in zip(g.variables, exported):
      variable.assign(value)


def discriminator_from_run(trainer, run_dir):
  """Restores the trainer's D and D optimizer state from the newest checkpoint of the training run `run_dir`."""
  prefix = inference.latest_checkpoint(run_dir)
  config_path = os.path.join(run_dir, inference.MODEL_CONFIG)
  if prefix is None or not os.path.isfile(config_path):
    raise ValueError(f"train.warm_start_discriminator={run_dir!r} is not a training run with a checkpoint "
                     f"(no {inference.MODEL_CONFIG} or no checkpoint).")
  with open(config_path) as f:
    theirs = json.load(f)["discriminator"]
  ours = checkpoints.model_config(trainer.generator, trainer.discriminator)["discriminator"]
  if theirs != ours:
    raise ValueError(f"train.warm_start_discriminator={run_dir!r} trained another discriminator "
                     f"({theirs}) than this gin's ({ours}).")
  checkpoint = tf.train.Checkpoint(discriminator=inference.variables_by_path(trainer.discriminator),
                                   d_optimizer=trainer.d_optimizer)
  checkpoint.restore(prefix).assert_existing_objects_matched().expect_partial()


def apply(trainer, generator_export=None, discriminator_run=None):
  """Initializes a fresh `Trainer`'s models from an export (G and EMA G) and/or a run (D, D optimizer)."""
  if generator_export:
    generator_from_export([trainer.generator, trainer.ema_generator], generator_export)
  if discriminator_run:
    discriminator_from_run(trainer, discriminator_run)
