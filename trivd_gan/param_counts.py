r"""Prints the parameter counts of G (and its encoder) for every recurrent unit at multipliers 48 and 120.

    python -m trivd_gan.param_counts [--channel_multipliers=48,120] [--num_context_frames=5]

Markdown table: total trainable parameters of G (context encoder included), then the encoder's and the recurrent
units' (`models/param_counts.py`; G is built from shapes alone, in seconds).
"""

from absl import app
from absl import flags

from trivd_gan import cli_setup

FLAGS = flags.FLAGS
flags.DEFINE_list("channel_multipliers", ["48", "120"], "Channel multipliers to count.")
flags.DEFINE_integer("num_context_frames", 5, "Context frames (the encoder's compression convs depend on it).")


def main(argv):
  if len(argv) > 1:
    cli_setup.exit_with_error(f"unexpected arguments {argv[1:]}; use --flag=value.")
  try:
    multipliers = [int(m) for m in FLAGS.channel_multipliers]
  except ValueError:
    cli_setup.exit_with_error(f"--channel_multipliers must be whole numbers, e.g. 48,120; got "
                              f"{','.join(FLAGS.channel_multipliers)}.")
  from trivd_gan.layers import recurrent  # pylint: disable=g-import-not-at-top (after the log setup)
  from trivd_gan.models import param_counts  # pylint: disable=g-import-not-at-top
  print("| recurrent unit | " + " | ".join(f"G params, ch={m} (encoder, RNNs)" for m in multipliers) + " |")
  print("|---|" + "---|" * len(multipliers))
  for unit in recurrent.RECURRENT_UNITS:
    cells = []
    for m in multipliers:
      c = param_counts.generator_parameter_counts(m, unit, FLAGS.num_context_frames)
      cells.append(f"{c['generator']:,} ({c['encoder']:,}, {c['recurrent']:,})")
    print(f"| {unit} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
  cli_setup.quiet_tensorflow_logs()
  app.run(main)
