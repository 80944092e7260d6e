"""Exponential moving average of G's weights (paper E.2: decay 0.9999, initialized at step 20,000).

The EMA lives in a second `Generator` of the same configuration: its trainable weights are the average, its
non-trainable state (BatchNorm moving statistics and momentum, spectral-norm u vectors) is copied from G at
every update, as BigGAN's EMA copies buffers.
"""

import tensorflow as tf


class GeneratorEMA:
  """Keeps `ema_generator` the EMA of `generator`.

  Args:
    generator, ema_generator: built `Generator`s of the same configuration (same variable order).
    decay: gamma (0.9999 in the paper).
    start_step: the step at which the EMA is initialized with G's weights (20,000 in the paper). Before it,
      the EMA copies G (so that an EMA generator always exists); from it on it averages.
  """

  def __init__(self, generator, ema_generator, decay=0.9999, start_step=20000):
    if not 0.0 <= decay < 1.0:
      raise ValueError(f"ema decay must be in [0, 1), got {decay}.")
    if start_step < 0:
      raise ValueError(f"ema start step must be >= 0, got {start_step}.")
    self.generator, self.ema_generator = generator, ema_generator
    self.decay, self.start_step = float(decay), int(start_step)
    self._trainable = list(zip(generator.trainable_variables, ema_generator.trainable_variables))
    self._state = list(zip(generator.non_trainable_variables, ema_generator.non_trainable_variables))
    for source, target in self._trainable + self._state:
      if tuple(source.shape) != tuple(target.shape):
        raise ValueError(f"The EMA generator does not match G ({source.path} {source.shape} vs {target.path} "
                         f"{target.shape}); build both from the same configuration.")

  def update(self, step):
    """Call once after the G update number `step` (an int64 scalar tensor, 1-based), in cross-replica context.

    ema <- w for step <= start_step, ema <- decay * ema + (1 - decay) * w afterwards.
    """
    decay = tf.where(tf.cast(step, tf.int64) <= self.start_step, 0.0, self.decay)
    weights = {}  # (decay, 1 - decay) per dtype: made once, not once per variable (fewer ops to trace)
    for source, target in self._trainable:
      value = tf.convert_to_tensor(source)
      if value.dtype not in weights:
        weights[value.dtype] = (tf.cast(decay, value.dtype), tf.cast(1.0 - decay, value.dtype))
      keep, take = weights[value.dtype]
      target.assign(keep * tf.convert_to_tensor(target) + take * value)
    for source, target in self._state:
      target.assign(tf.convert_to_tensor(source))

  def exists(self, step):
    """Whether the EMA has been initialized (step >= start_step); Python bool of a Python int step."""
    return int(step) >= self.start_step
