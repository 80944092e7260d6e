"""Stateless random seeds: the [2] int64 tensors of `tf.random.stateless_*`, made and split explicitly.

The trainer draws one seed per step from its `tf.random.Generator` and splits it here for z and the
discriminators' frame sampling and crops (`decompositions.make_views`).
"""

import tensorflow as tf


def to_seed(seed=None):
  """A [2] int64 stateless seed from a tensor/array/list of 2 ints, an int, a tf.random.Generator or None.

  None draws a fresh seed with tf.random.uniform (not reproducible; trainers should pass seeds).
  """
  if seed is None:
    return tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int64)
  if isinstance(seed, tf.random.Generator):
    return seed.make_seeds(1)[:, 0]
  if isinstance(seed, int):
    return tf.constant([seed, 0], tf.int64)
  seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
  if seed.shape.rank != 1 or seed.shape[0] != 2:
    raise ValueError(f"A stateless seed must have shape [2], got {seed.shape}.")
  return seed


def split_seed(seed, num=2):
  """Splits a [2] seed into `num` independent [2] seeds (a [num, 2] tensor)."""
  return tf.random.experimental.stateless_split(to_seed(seed), num)
