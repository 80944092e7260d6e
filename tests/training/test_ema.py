"""ema.GeneratorEMA: copy until the start step, then ema <- decay * ema + (1 - decay) * w (paper E.2)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from trivd_gan.layers import normalization
from trivd_gan.training import ema as ema_lib


def _model():
  model = keras.Sequential([keras.layers.Dense(3), normalization.BatchNorm()])
  model(tf.zeros([2, 4]))
  return model


def test_copies_before_start_then_averages():
  g, g_ema = _model(), _model()
  ema = ema_lib.GeneratorEMA(g, g_ema, decay=0.9, start_step=2)
  expected = None
  for step in range(1, 6):
    for v in g.trainable_variables:
      v.assign(v + float(step))
    g.layers[1].moving_mean.assign(np.full([3], float(step), np.float32))
    ema.update(tf.constant(step, tf.int64))
    w = [v.numpy() for v in g.trainable_variables]
    expected = w if step <= 2 else [0.9 * e + 0.1 * x for e, x in zip(expected, w)]
    for e, v in zip(expected, g_ema.trainable_variables):
      np.testing.assert_allclose(v.numpy(), e, rtol=1e-6)
    np.testing.assert_array_equal(g_ema.layers[1].moving_mean.numpy(), np.full([3], float(step)))
  assert ema.exists(2) and not ema.exists(1)


def test_rejects_bad_arguments():
  g, g_ema = _model(), _model()
  with pytest.raises(ValueError, match="decay"):
    ema_lib.GeneratorEMA(g, g_ema, decay=1.0)
  other = keras.Sequential([keras.layers.Dense(5), normalization.BatchNorm()])
  other(tf.zeros([2, 4]))
  with pytest.raises(ValueError, match="does not match"):
    ema_lib.GeneratorEMA(g, other)
