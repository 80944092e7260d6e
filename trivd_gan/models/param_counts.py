"""Prints the parameter counts of G (and its encoder) for every recurrent unit at channel multipliers 48 and 120.

    python -m trivd_gan.models.param_counts [--channel_multipliers=48,120] [--num_context_frames=5]

Trainable parameters do not depend on the number of predicted frames or the batch, so G is built with one
predicted frame and a batch of one: the full-size models are built and counted in seconds on a CPU.
"""

from absl import app
from absl import flags
import numpy as np

from trivd_gan.layers import recurrent
from trivd_gan.models import generator

FLAGS = flags.FLAGS
flags.DEFINE_list("channel_multipliers", ["48", "120"], "Channel multipliers to count.")
flags.DEFINE_integer("num_context_frames", 5, "Context frames (the encoder's compression convs depend on it).")


def count_trainable(layer):
  """Number of trainable scalars of a built Keras layer or model."""
  return int(sum(np.prod(v.shape) for v in layer.trainable_weights))


def generator_parameter_counts(channel_multiplier, recurrent_unit, num_context_frames=5, resolution=64):
  """Returns {"generator": total trainable parameters (encoder included), "encoder": ..., "recurrent": ...}."""
  g = generator.Generator(channel_multiplier=channel_multiplier, recurrent_unit=recurrent_unit,
                          num_context_frames=num_context_frames, num_predicted_frames=1, resolution=resolution)
  g.build_for_shapes(batch_size=1)
  return {"generator": count_trainable(g), "encoder": count_trainable(g.encoder),
          "recurrent": sum(count_trainable(u) for u in g.units)}


def main(argv):
  del argv
  multipliers = [int(m) for m in FLAGS.channel_multipliers]
  print("| recurrent unit | " + " | ".join(f"G params, ch={m} (encoder, RNNs)" for m in multipliers) + " |")
  print("|---|" + "---|" * len(multipliers))
  for unit in recurrent.RECURRENT_UNITS:
    cells = []
    for m in multipliers:
      c = generator_parameter_counts(m, unit, FLAGS.num_context_frames)
      cells.append(f"{c['generator']:,} ({c['encoder']:,}, {c['recurrent']:,})")
    print(f"| {unit} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
  app.run(main)
