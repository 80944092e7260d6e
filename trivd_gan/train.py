r"""Command line: train TrIVD-GAN-FP from gin files (docs/training.md).

  python -m trivd_gan.train --gin_file=gin/base.gin [--gin_file=F2 ...] [--gin_param='train.num_steps = 10'] \
      --model_dir=DIR [--steps=N] [--strategy=default|mirrored|multi_worker|tpu] [--tpu=NAME] [--data_dir=DIR]

Re-running with the same --model_dir resumes from its newest checkpoint. Bad input (a missing gin file, an
unknown binding, an incompatible model_dir, a diverged loss) ends with a one-line error and exit code 1.
"""

import gc
import os

from absl import app
from absl import flags
from absl import logging

from trivd_gan import cli_setup

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("gin_file", [],
                          "Gin config files, applied in order (e.g. gin/base.gin gin/tiny.gin).")
flags.DEFINE_multi_string("gin_param", [], "Gin bindings applied after the files, e.g. 'train.num_steps = 10'.")
flags.DEFINE_string("model_dir", None, "Checkpoints, summaries, samples; re-using it resumes.")
flags.DEFINE_integer("steps", None, "Total training steps (overrides train.num_steps).")
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker", "tpu"],
                  "tf.distribute strategy.")
flags.DEFINE_string("tpu", None, "TPU name or address for --strategy=tpu ('local' on a TPU VM).")
flags.DEFINE_string("data_dir", None, "The data set's folder (passed to the dataset function).")


def _one_line(error):
  text = " ".join(cli_setup.trim_gin_message(error).split())
  return text if len(text) < 600 else text[:600] + " ..."


def _gin_value(gin, name, default=None):
  try:
    return gin.query_parameter(name)
  except ValueError:  # not bound
    return default


def _dataset_name(gin):
  """The data source train.dataset_fn names in the parsed gin configuration ("synthetic" when unbound)."""
  reference = _gin_value(gin, "train.dataset_fn")
  selector = getattr(reference, "selector", "synthetic_dataset").split(".")[-1]
  if selector == "make_dataset":
    return _gin_value(gin, "make_dataset.name", "synthetic")
  return selector[:-len("_dataset")] if selector.endswith("_dataset") else selector


def run(argv_flags):
  """Parses gin, builds the strategy and trains; returns train()'s result. Raises on bad input."""
  import gin  # pylint: disable=g-import-not-at-top
  from trivd_gan import configurables  # pylint: disable=g-import-not-at-top
  from trivd_gan import data as data_lib  # pylint: disable=g-import-not-at-top
  from trivd_gan.training import loop  # pylint: disable=g-import-not-at-top
  from trivd_gan.training import strategy as strategy_lib  # pylint: disable=g-import-not-at-top

  for path in argv_flags.gin_file:
    if not os.path.exists(path):
      raise ValueError(f"gin file {path!r} not found; pass an existing file, e.g. --gin_file=gin/demo.gin.")
  try:
    configurables.parse(argv_flags.gin_file, argv_flags.gin_param)
  except (ValueError, KeyError, SyntaxError) as e:
    raise ValueError(f"bad gin configuration: {_one_line(e)}; check the binding names against "
                     "trivd_gan/configurables.py and docs/training.md.") from e
  # Checked before the (possibly minutes-long) model building.
  data_dir = argv_flags.data_dir if argv_flags.data_dir is not None else _gin_value(gin, "train.data_dir")
  data_lib.check_data_dir(_dataset_name(gin), data_dir)
  # Fixed when TensorFlow's runtime starts: before the strategy (mirrored, multi-worker, TPU start it).
  loop.apply_intra_op_threads(_gin_value(gin, "train.intra_op_threads"))
  # Multi-worker and TPU strategies must exist before any other TF op.
  strategy = strategy_lib.make_strategy(argv_flags.strategy, argv_flags.tpu)
  kwargs = {}
  if argv_flags.steps is not None:
    kwargs["num_steps"] = argv_flags.steps
  if argv_flags.data_dir is not None:
    kwargs["data_dir"] = argv_flags.data_dir
  return configurables.train(model_dir=argv_flags.model_dir, strategy=strategy,
                       operative_config_fn=gin.operative_config_str, **kwargs)


def main(argv):
  if len(argv) > 1:
    cli_setup.exit_with_error(f"unexpected arguments {argv[1:]}; use --gin_file/--gin_param/--model_dir flags.")
  if not FLAGS.model_dir:
    cli_setup.exit_with_error("--model_dir is required (a new folder, or an existing one to resume).")
  for path in FLAGS.gin_file:  # checked before importing TensorFlow: a quick answer
    if not os.path.exists(path):
      cli_setup.exit_with_error(
          f"gin file {path!r} not found; pass an existing file, e.g. --gin_file=gin/demo.gin.")
  from trivd_gan.training import trainer  # pylint: disable=g-import-not-at-top
  result = error = None
  try:
    result = run(FLAGS)
  except trainer.TrainingDivergedError as e:
    logging.error("%s", _one_line(e))
    error = _one_line(e)
  except (ValueError, OSError) as e:
    error = _one_line(e)
  # The input pipeline must die while Python runs: a tf.data iterator destroyed at interpreter shutdown waits
  # forever for its in-flight Python decode. A finished run closes its trainer (which collects its pipeline);
  # a failed run's trainer sits in reference cycles: collected here, outside the except clauses, so that no
  # traceback keeps it alive.
  if result is not None:
    result["trainer"].close()
    logging.info("Done: step %d, %.2f steps/s.", result["step"], result["steps_per_sec"])
  else:
    gc.collect()
  result = None
  if error is not None:
    cli_setup.exit_with_error(error)


if __name__ == "__main__":
  cli_setup.quiet_tensorflow_logs()
  app.run(main)
