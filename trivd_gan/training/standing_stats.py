"""Standing statistics (paper E.2): BatchNorm statistics averaged over many forward passes.

Before evaluation (and export) the moving statistics of every BatchNorm of G are replaced by the average of
the batch moments of `num_batches` forward passes in training mode (100 batches of 256 samples in the paper),
so that the EMA of the weights is not confounded with the BN moving averages.
"""

import time

from absl import logging
import tensorflow as tf

from trivd_gan import data
from trivd_gan import progress
from trivd_gan.layers import normalization
from trivd_gan.layers import spectral_norm
from trivd_gan.models import generator as generator_lib


def batch_norms(model):
  """Every `normalization.BatchNorm` inside `model` (including those of conditional batch norms)."""
  # pylint: disable=protected-access
  return [layer for layer in model._flatten_layers(include_self=True, recursive=True)
          if isinstance(layer, normalization.BatchNorm)]


def spectral_norm_vectors(model):
  """The power-iteration u variables of every spectrally normalized layer inside `model`."""
  # pylint: disable=protected-access
  return [layer.sn_u for layer in model._flatten_layers(include_self=True, recursive=True)
          if isinstance(layer, spectral_norm._SpectralNormMixin) and getattr(layer, "sn_u", None) is not None]


def apply_standing_statistics(generator, batches, num_batches=100, log_every=10):
  """Sets every BatchNorm's moving statistics to the mean of `num_batches` batches' moments.

  For the n-th pass (n = 0, 1, ...) momentum is set to n / (n + 1), so that after N passes
  moving = (1 / N) sum_n batch_moments_n (a cumulative average). The momentum variables and the spectral-norm
  u vectors are restored afterwards; no trainable weight changes.

  Args:
    generator: a built `Generator`.
    batches: either a callable i -> (context, z) or (context, z, labels), or an iterable of such tuples;
      context [B, Tc, H, W, 3] float32 in [-1, 1], z [B, latent_dim], labels [B] int32 or None.
    num_batches: N (100 in the paper).
    log_every: a progress line (passes done, seconds per pass, ETA) every `log_every` passes and after the
      last; 0 logs nothing. 100 x 256 clips take minutes on a CPU: without it the program looks stuck.

  Returns:
    The number of passes made (num_batches, or fewer if the iterable ran out).
  """
  if num_batches < 1:
    raise ValueError(f"num_batches must be >= 1, got {num_batches}.")
  bns = batch_norms(generator)
  u_vectors = spectral_norm_vectors(generator)
  saved_momentum = [tf.identity(bn.momentum) for bn in bns]
  saved_u = [tf.identity(u) for u in u_vectors]

  @tf.function(reduce_retracing=True)
  def forward(context, z, labels):
    generator(context, z, labels, training=True)

  for bn in bns:
    bn.moving_mean.assign(tf.zeros_like(bn.moving_mean))
    bn.moving_variance.assign(tf.zeros_like(bn.moving_variance))
  iterator = None if callable(batches) else iter(batches)
  passes = 0
  start = time.perf_counter()
  try:
    for n in range(num_batches):
      if iterator is None:
        batch = batches(n)
      else:
        try:
          batch = next(iterator)
        except StopIteration:
          break
      context, z, labels = (tuple(batch) + (None,))[:3]
      for bn in bns:
        bn.momentum.assign(n / (n + 1.0))
      forward(context, z, labels)
      passes += 1
      if log_every and (passes % log_every == 0 or passes == num_batches):
        seconds = time.perf_counter() - start
        logging.info("Standing statistics: pass %d/%d, %.2f s per pass, ETA %s.", passes, num_batches,
                     seconds / passes, progress.format_duration(seconds / passes * (num_batches - passes)))
  finally:
    for bn, momentum in zip(bns, saved_momentum):
      bn.momentum.assign(momentum)
    for u, value in zip(u_vectors, saved_u):
      u.assign(value)
  if passes == 0:
    raise ValueError("apply_standing_statistics got no batch; pass a callable or a non-empty iterable.")
  return passes


def dataset_batches(dataset, data_dir, generator, num_batches, batch_size, seed=0):
  """A callable i -> (context, z) for `apply_standing_statistics`: training-split contexts of a data set.

  Args:
    dataset: a `data.SOURCES` name (e.g. "moving_mnist"); data_dir: its folder.
    generator: the built `Generator` (its context length and resolution are used).
    num_batches, batch_size: the batches are read once, up front (the same contexts for every call).
    seed: data order and z; z ~ N(0, I) untruncated, the training distribution.

  Returns:
    batch(i) -> (context [batch_size, Tc, R, R, 3] float32 in [-1, 1], z [batch_size, latent_dim]).
  """
  ds = data.make_dataset(dataset, split="train", data_dir=data_dir, batch_size=batch_size,
                         num_frames=generator.num_context_frames, image_size=generator.resolution, seed=seed)
  contexts = [b["video"] for b in ds.take(num_batches)]

  def batch(i):
    z = generator_lib.sample_latents(batch_size, generator.latent_dim, seed=tf.constant([seed, i], tf.int64))
    return contexts[i], z

  return batch
