"""Prints the parameter counts of G (and its encoder) for every recurrent unit at multipliers 48 and 120.

    python -m trivd_gan.models.param_counts [--channel_multipliers=48,120] [--num_context_frames=5]

G is built from shapes alone (`Generator.build`, no forward pass) with its orthogonal initializer replaced by
zeros: a count needs shapes, not values, and the QR decompositions of the orthogonal initializer take about a
minute per full-size model on 2 CPU cores.
"""

import contextlib
from unittest import mock

from absl import app
from absl import flags
import keras
import numpy as np

from trivd_gan.layers import recurrent
from trivd_gan.models import generator

FLAGS = flags.FLAGS
flags.DEFINE_list("channel_multipliers", ["48", "120"], "Channel multipliers to count.")
flags.DEFINE_integer("num_context_frames", 5, "Context frames (the encoder's compression convs depend on it).")


def count_trainable(layer):
  """Number of trainable scalars of a built Keras layer or model."""
  return int(sum(np.prod(v.shape) for v in layer.trainable_weights))


@contextlib.contextmanager
def shape_only_initialization():
  """Within this context orthogonal initializers return zeros (fast); use it only to count or inspect shapes."""
  def zeros(self, shape, dtype=None):
    del self
    return keras.ops.zeros(shape, dtype=dtype or "float32")
  with mock.patch.object(keras.initializers.Orthogonal, "__call__", zeros):
    yield


def generator_parameter_counts(channel_multiplier, recurrent_unit, num_context_frames=5,
                               num_predicted_frames=11, resolution=64):
  """Returns {"generator": total trainable parameters (encoder included), "encoder": ..., "recurrent": ...}."""
  with shape_only_initialization():
    g = generator.Generator(channel_multiplier=channel_multiplier, recurrent_unit=recurrent_unit,
                            num_context_frames=num_context_frames, num_predicted_frames=num_predicted_frames,
                            resolution=resolution)
    g.build_for_shapes()
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
