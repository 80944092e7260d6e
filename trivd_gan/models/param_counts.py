"""Parameter counts of G (and its encoder and recurrent units) from shapes alone; the table of every recurrent
unit at multipliers 48 and 120 is the program `python -m trivd_gan.param_counts`.

G is built from shapes alone (`Generator.build`, no forward pass) with its orthogonal initializer replaced by
zeros: a count needs shapes, not values, and the QR decompositions of the orthogonal initializer take about a
minute per full-size model on 2 CPU cores.
"""

import contextlib
from unittest import mock

import keras
import numpy as np

from trivd_gan.models import generator


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


if __name__ == "__main__":  # the old entry point, kept for one release (the program moved)
  import runpy  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  print("python -m trivd_gan.models.param_counts is deprecated: use python -m trivd_gan.param_counts.",
        file=sys.stderr)
  runpy.run_module("trivd_gan.param_counts", run_name="__main__", alter_sys=True)
