"""Exports the EMA generator of a training run as a self-contained SavedModel (TF-Hub style).

  python export/export_generator.py --model_dir=DIR --output=EXPORT_DIR [--truncation=0.8]
      [--standing_stats_batches=N --standing_stats_data=VIDEO_OR_FOLDER] [--overwrite]
      [--weights=ema|raw] [--checkpoint=STEP]   (default: the EMA generator of the newest checkpoint)
      [--chain_pooling=window|object|none]   (a warp_chain run's field pooling; default: the run's own)
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
# This file is the program (flags, errors; its docstring is its --help); the library it runs is
# trivd_gan.export (the SavedModel) and trivd_gan.inference (loading the run, standing statistics), importable
# without sys.path edits.

import os
import sys

if __package__ in (None, ""):  # run as a script from a clone: make the repository's package importable
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if __name__ == "__main__":  # before TensorFlow is imported
  from trivd_gan import cli_setup  # pylint: disable=g-import-not-at-top
  cli_setup.quiet_tensorflow_logs()

from trivd_gan import cli_setup  # pylint: disable=wrong-import-position
# TensorFlow (with trivd_gan.export and trivd_gan.inference) is imported in main once the flags that need no
# TensorFlow are checked: --help and those errors answer at once instead of after its ~4 s start-up.


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
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from trivd_gan import export as export_lib  # pylint: disable=import-outside-toplevel
    from trivd_gan import inference  # pylint: disable=import-outside-toplevel
    export_lib.check_output(flags_.output, flags_.overwrite)
    if flags_.weights not in export_lib.WEIGHTS:
      raise ValueError(f"--weights must be one of {sorted(export_lib.WEIGHTS)}, got {flags_.weights!r}.")
    checkpoint = None
    if flags_.checkpoint is not None:  # the prefix of that step, or an error listing the kept steps
      checkpoint = inference.list_checkpoints(flags_.model_dir, every=False, steps=[flags_.checkpoint])[0]
    generator = inference.load_generator(flags_.model_dir, use_ema=flags_.weights == "ema",
                                         checkpoint=checkpoint, chain_pooling=flags_.chain_pooling)
    if flags_.standing_stats_batches:
      if flags_.standing_stats_dataset:
        batches = inference.dataset_batches(
            flags_.standing_stats_dataset, flags_.data_dir, generator, flags_.standing_stats_batches,
            flags_.standing_stats_batch_size)
      else:
        batches = inference.video_batches(generator, flags_.standing_stats_data,
                                          flags_.standing_stats_batch_size)
      inference.apply_standing_statistics(generator, batches, flags_.standing_stats_batches)
    if flags_.overwrite and tf.io.gfile.exists(flags_.output):
      tf.io.gfile.rmtree(flags_.output)  # no stale variable shards or assets of the old export stay behind
    export_lib.export_generator(generator, flags_.output, flags_.truncation, flags_.model_dir,
                                flags_.standing_stats_batches, flags_.weights)
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
  flags.DEFINE_string("weights", "ema", "'ema': the EMA generator (paper E.2: what the paper evaluates); "
                      "'raw': the trained generator itself (early in a run, or where its EMA lags behind it).")
  flags.DEFINE_integer("checkpoint", None, "Export this step's checkpoint (one the run kept) instead of the "
                       "newest.")
  flags.DEFINE_string("chain_pooling", None, "Pool each predicted step's field this way ('window' or 'object', "
                      "Generator.chain_pooling, or 'none': each field as G draws it) instead of as the run "
                      "trained; only for runs with chain_pooling_radius > 0 (the option holds no variables).")


if __name__ == "__main__":
  from absl import app  # pylint: disable=import-outside-toplevel
  define_flags()
  app.run(main)
