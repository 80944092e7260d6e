r"""Command line: evaluate a trained TrIVD-GAN-FP (paper sections 4.1, 4.4, appendix C.1, D.3, E.2).

  python -m trivd_gan.evaluate --model_dir=DIR --i3d=PATH|random --num_samples=N --runs=R --output=report.json \
      [--gin_file=F ...] [--gin_param=...] [--dataset=NAME] [--split=test] [--data_dir=DIR] [--truncation=T] \
      [--best_of_l=L] [--batch_size=B] [--cache_dir=DIR] [--standing_stats_batches=100] [--strategy=default]

What it measures (docs/evaluation.md, "Command line"):
  - Samples of the EMA generator after standing statistics (E.2), conditioned on the first Tc frames of the
    first N clips of the evaluation split, at the chosen truncation, for R runs with different latent seeds.
  - FVD of [context frames (real) ; predicted frames] against the real T-frame clips (T = Tc + Tp, 16 in the
    paper), mean and unbiased std over runs; Inception Score (I3D logits) mean and std over runs.
  - The copy-last-frame baseline's FVD (D.3: 330 on Kinetics-600 validation), PSNR and SSIM per predicted
    frame for the model and the baseline, BAIR's best-of-l SSIM (C.1) when --best_of_l > 0.
  - Real statistics are cached in --cache_dir, keyed by data set (with frames and size), split, N and embedder.
With --i3d=random every I3D figure is named "..._random_i3d": such numbers exercise the pipeline, they are not
FVDs. Bad input (missing model_dir or checkpoint, bad flags) ends with a one-line error and exit code 2.
Memory does not grow with N: every batch is embedded and folded into running statistics, then dropped.
"""
# This module is the program only (flags, errors, the report file and table); the evaluation itself is the
# library trivd_gan.evaluation.runner (evaluate), with eval_data (which clips), report and accumulators. (A
# comment, not docstring text: --help prints the docstring.)

import glob
import json
import os
import sys

from absl import app
from absl import flags
from absl import logging

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "The --model_dir of a `python -m trivd_gan.train` run.")
flags.DEFINE_multi_string("gin_file", [], "Gin files naming the data (train.dataset_fn, train.data_dir); "
                          "default: the newest operative_config-*.gin in model_dir.")
flags.DEFINE_multi_string("gin_param", [], "Gin bindings applied after the files.")
flags.DEFINE_string("i3d", None, "I3D weights (checkpoint or TF-Hub folder, docs/evaluation.md) or 'random' / "
                    "'random:<seed>' (pipeline checks only: figures are then labelled _random_i3d).")
flags.DEFINE_integer("num_samples", 50000, "N: evaluation clips (and generated samples per run).")
flags.DEFINE_integer("runs", 10, "R: sampling runs with different latent seeds (the paper: std over 10).")
flags.DEFINE_string("output", None, "Where to write the JSON report (default: model_dir/eval_report.json).")
flags.DEFINE_string("dataset", None,
                    "Data set name (trivd_gan.data.SOURCES); default: train.dataset_fn of gin, else the data "
                    "recorded in model_dir/model_config.json.")
flags.DEFINE_string("split", "test", "Evaluation split (e.g. test, validation).")
flags.DEFINE_string("data_dir", None, "The data set's folder (default: train.data_dir of gin, if bound; for "
                    "data named by model_config.json, its recorded data_dir).")
flags.DEFINE_float("truncation", None,
                  "Latent truncation; default: none (z ~ N(0, I), the training distribution), because FVD and "
                  "IS measure how the distribution of samples matches the data's and the paper's tables state "
                  "no truncation; the paper truncates (0.8, or z = 0) only for the samples it shows (appendix "
                  "D.1-D.3), which is predict's and the exporter's default. 0: z = 0; t > 0: |z| <= t.")
flags.DEFINE_integer("best_of_l", 0, "BAIR best-of-l SSIM (C.1): samples per context; 0 skips it.")
flags.DEFINE_integer("batch_size", 16, "Clips per generator / I3D batch.")
flags.DEFINE_integer("i3d_batch_size", 8, "Clips per I3D call (each 224x224 clip is large).")
flags.DEFINE_string("cache_dir", os.path.join("~", ".cache", "trivd_gan", "real_stats"),
                    "Folder of cached real-data statistics.")
flags.DEFINE_integer("standing_stats_batches", 100, "E.2 standing statistics: forward passes (0 skips).")
flags.DEFINE_integer("standing_stats_batch_size", 256, "E.2 standing statistics: clips per pass.")
flags.DEFINE_string("standing_stats_split", "train", "Split whose contexts feed the standing statistics.")
flags.DEFINE_boolean("use_ema", True, "Evaluate the EMA generator (E.2) rather than the raw G.")
flags.DEFINE_integer("seed", 0, "Base seed: run r draws its latents from seed + r.")
flags.DEFINE_enum("strategy", "default", ["default", "mirrored"], "Spread generation over local replicas.")


def check_flags(f):
  """Validates flags without TensorFlow; raises ValueError with a one-line fix."""
  if not f.model_dir:
    raise ValueError("--model_dir is required (the --model_dir of a trivd_gan.train run).")
  if "://" not in f.model_dir:
    if not os.path.isdir(f.model_dir):
      raise ValueError(f"--model_dir={f.model_dir} does not exist; pass the folder of a trivd_gan.train run.")
    if not (os.path.exists(os.path.join(f.model_dir, "checkpoint")) or
            glob.glob(os.path.join(f.model_dir, "ckpt-*.index"))):
      raise ValueError(f"--model_dir={f.model_dir} holds no checkpoint; train first "
                       "(python -m trivd_gan.train).")
  if not f.i3d:
    raise ValueError("--i3d is required: an I3D checkpoint / TF-Hub folder (docs/evaluation.md) or 'random'.")
  for flag, low in (("num_samples", 2), ("runs", 1), ("batch_size", 1), ("i3d_batch_size", 1), ("best_of_l", 0),
                    ("standing_stats_batches", 0), ("standing_stats_batch_size", 1)):
    if getattr(f, flag) < low:
      raise ValueError(f"--{flag} must be >= {low}, got {getattr(f, flag)}.")
  if f.truncation is not None and f.truncation < 0:
    raise ValueError(f"--truncation must be unset, 0 or positive, got {f.truncation}.")
  for path in f.gin_file:
    if not os.path.exists(path):
      raise ValueError(f"gin file {path!r} not found.")


def parse_gin(gin_files, gin_params, model_dir):
  """Parses the gin files (default: model_dir's newest operative config); returns the files used."""
  from trivd_gan import configurables  # pylint: disable=g-import-not-at-top

  files = list(gin_files)
  if not files and "://" not in model_dir:
    operative = sorted(glob.glob(os.path.join(model_dir, "operative_config-*.gin")),
                       key=lambda p: int(p.rsplit("-", 1)[1].split(".")[0]) if p.rsplit("-", 1)[1].split(".")[0]
                       .isdigit() else -1)
    files = operative[-1:]
  try:
    configurables.parse(files, gin_params)
  except (ValueError, KeyError, SyntaxError) as e:
    raise ValueError(f"bad gin configuration: {' '.join(str(e).split())[:500]}") from e
  return files


def _fail(message):
  from trivd_gan import cli_setup  # pylint: disable=g-import-not-at-top
  cli_setup.exit_with_error(message)


def _parse_flags(argv):
  try:
    return FLAGS(argv)
  except flags.Error as e:
    _fail(f"{e}; see python -m trivd_gan.evaluate --help.")


def main(argv):
  if len(argv) > 1:
    _fail(f"unexpected arguments {argv[1:]}; use --flag=value.")
  try:
    check_flags(FLAGS)
    gin_files = parse_gin(FLAGS.gin_file, FLAGS.gin_param, FLAGS.model_dir)
    # The library imports TensorFlow (seconds): imported once the flags are checked, so bad flags fail at once.
    from trivd_gan.evaluation import runner  # pylint: disable=g-import-not-at-top
    strategy = None
    if FLAGS.strategy != "default":
      from trivd_gan.training import strategy as strategy_lib  # pylint: disable=g-import-not-at-top
      strategy = strategy_lib.make_strategy(FLAGS.strategy)
    report = runner.evaluate(
        FLAGS.model_dir, FLAGS.i3d, FLAGS.num_samples, FLAGS.runs, dataset=FLAGS.dataset, split=FLAGS.split,
        data_dir=FLAGS.data_dir, truncation=FLAGS.truncation, best_of_l=FLAGS.best_of_l,
        batch_size=FLAGS.batch_size, i3d_batch_size=FLAGS.i3d_batch_size, cache_dir=FLAGS.cache_dir,
        standing_stats_batches=FLAGS.standing_stats_batches,
        standing_stats_batch_size=FLAGS.standing_stats_batch_size,
        standing_stats_split=FLAGS.standing_stats_split, use_ema=FLAGS.use_ema, seed=FLAGS.seed,
        strategy=strategy)
  except Exception as e:  # pylint: disable=broad-except
    tf = sys.modules.get("tensorflow")
    if (isinstance(e, (ValueError, OSError, AssertionError)) or
        (tf is not None and isinstance(e, tf.errors.OpError))):
      _fail(e)
    raise
  report["config"]["gin_files"] = gin_files
  output = FLAGS.output or os.path.join(FLAGS.model_dir, "eval_report.json")
  os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
  with open(output, "w") as f:
    json.dump(report, f, indent=2)
  logging.info("Report written to %s.", output)
  from trivd_gan.evaluation import report as report_lib  # pylint: disable=g-import-not-at-top
  print(report_lib.markdown_table(report))  # the CLI's table (docs/CONVENTIONS.md allows print here)
  for note in report["notes"]:
    print(f"- {note}")


if __name__ == "__main__":
  from trivd_gan import cli_setup  # pylint: disable=g-import-not-at-top
  cli_setup.quiet_tensorflow_logs()  # TensorFlow is imported lazily, in main
  app.run(main, flags_parser=_parse_flags)
