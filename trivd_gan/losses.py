"""Geometric hinge losses (paper E.1, eqs. 13-14) and BigGAN's orthogonal regularization of G (E.2).

Every sub-discriminator d of a decomposition produces logits D_d(v) whose elements are the "output
dimensions" of eq. 13: [B, B, T] for the mixed projection head (eq. 15), [B] for the projection head. For
each d the losses average over all its output dimensions, and the sub-discriminator losses are summed:

  L_D = sum_d  mean(relu(1 + D_d(G(z)))) + mean(relu(1 - D_d(x)))          (eq. 13)
  L_G = sum_d -mean(D_d(G(z)))                                              (eq. 14)

Per-replica scaling (tf.distribute): each replica computes the mean over its own outputs (with the mixed
projection head, pairs (b, b') only range over the replica's B samples), and gradients are SUMMED across
replicas. To optimize the mean over replicas, a replica's loss must be multiplied by
B_replica / global_batch_size (= 1 / num_replicas for equal splits). Every loss function here takes either
`global_batch_size` (the scale B_replica / global_batch_size is computed from the outputs' leading
dimension, the per-replica batch B_replica) or an explicit `replica_scale` (a float multiplied in); with
neither the scale is 1 (single device). The returned per-sub-discriminator dicts are scaled the same way,
so that summing them over replicas (strategy.reduce(SUM, ...)) gives the global mean for logging.
"""

import tensorflow as tf


def replica_scale_factor(outputs, global_batch_size=None, replica_scale=None):
  """The float32 scalar that turns a per-replica mean loss into its share of the global mean.

  Args:
    outputs: a logits tensor [B_replica, ...] (or a dict/list of them; the first is used for B_replica).
    global_batch_size: the batch size summed over replicas, or None.
    replica_scale: an explicit factor (e.g. 1 / num_replicas), or None.
  """
  if global_batch_size is not None and replica_scale is not None:
    raise ValueError("Pass either global_batch_size or replica_scale, not both.")
  if replica_scale is not None:
    return tf.constant(replica_scale, tf.float32)
  if global_batch_size is None:
    return tf.constant(1.0, tf.float32)
  if global_batch_size <= 0:
    raise ValueError(f"global_batch_size must be positive, got {global_batch_size}.")
  first = tf.nest.flatten(outputs)[0]
  return tf.cast(tf.shape(first)[0], tf.float32) / float(global_batch_size)


def _check_names(real_outputs, fake_outputs):
  if set(real_outputs) != set(fake_outputs):
    raise ValueError(f"Real and fake outputs must come from the same sub-discriminators, got "
                     f"{sorted(real_outputs)} and {sorted(fake_outputs)}.")


def discriminator_hinge_loss(real_outputs, fake_outputs, global_batch_size=None, replica_scale=None):
  """Eq. 13 summed over sub-discriminators.

  Args:
    real_outputs, fake_outputs: {sub-discriminator name: logits} from `DiscriminatorEnsemble` on a real and a
      generated batch (any shapes, [B, B, T] or [B]).
    global_batch_size, replica_scale: per-replica scaling, see the module docstring.

  Returns:
    (total float32 scalar, {name: float32 scalar}) with total = sum of the dict values.
  """
  _check_names(real_outputs, fake_outputs)
  scale = replica_scale_factor(real_outputs, global_batch_size, replica_scale)
  per_d = {}
  for name in real_outputs:
    real = tf.cast(real_outputs[name], tf.float32)
    fake = tf.cast(fake_outputs[name], tf.float32)
    per_d[name] = scale * (tf.reduce_mean(tf.nn.relu(1.0 + fake)) + tf.reduce_mean(tf.nn.relu(1.0 - real)))
  return tf.add_n(list(per_d.values())), per_d


def generator_hinge_loss(fake_outputs, global_batch_size=None, replica_scale=None):
  """Eq. 14 summed over sub-discriminators: (total, {name: -mean(D_d(G(z)))}), scaled per replica."""
  scale = replica_scale_factor(fake_outputs, global_batch_size, replica_scale)
  per_d = {name: -scale * tf.reduce_mean(tf.cast(out, tf.float32)) for name, out in fake_outputs.items()}
  return tf.add_n(list(per_d.values())), per_d


def discriminator_step_loss(ensemble, real_video, fake_video, labels=None, fake_labels=None, seed=None,
                            training=True, global_batch_size=None, replica_scale=None):
  """L_D of one D update: the ensemble on real and on generated videos, eq. 13.

  The generated videos are wrapped in tf.stop_gradient (a D step must not update G). Real and generated
  videos go through the ensemble as one batch of 2B, as BigGAN's D step does: D's layers do not mix the
  samples of a batch (no batch norm; every sample draws its own frames and crops), and the mixed projection
  head (eq. 15), which does, mixes within each half (`groups=2`), so the scores are those of two calls;
  spectral norm's u moves once per update, and the step's graph holds one D forward instead of two.

  Args:
    ensemble: a `decompositions.DiscriminatorEnsemble`.
    real_video, fake_video: [B, T, H, W, 3] float in [-1, 1] (context + future frames).
    labels: [B] int class labels of the real videos or None; fake_labels defaults to labels.
    seed: see `seeds.to_seed`.

  Returns:
    (total, {name: loss}) as `discriminator_hinge_loss`.
  """
  fake_labels = labels if fake_labels is None else fake_labels
  if (labels is None) != (fake_labels is None):
    raise ValueError("pass labels for both the real and the generated videos (a class-conditional D), or none.")
  batch_size = tf.shape(real_video)[0]
  videos = tf.concat([real_video, tf.cast(tf.stop_gradient(fake_video), real_video.dtype)], axis=0)
  both_labels = None if labels is None else tf.concat([labels, fake_labels], axis=0)
  outputs = ensemble(videos, both_labels, training=training, seed=seed, groups=2)
  real_outputs = {name: logits[:batch_size] for name, logits in outputs.items()}
  fake_outputs = {name: logits[batch_size:] for name, logits in outputs.items()}
  return discriminator_hinge_loss(real_outputs, fake_outputs, global_batch_size, replica_scale)


def generator_step_loss(ensemble, fake_video, labels=None, seed=None, training=True, global_batch_size=None,
                        replica_scale=None):
  """L_G of one G update, eq. 14 (gradients flow through D into the generated videos)."""
  fake_outputs = ensemble(fake_video, labels, training=training, seed=seed)
  return generator_hinge_loss(fake_outputs, global_batch_size, replica_scale)


def reconstruction_loss(real_future, fake_future, global_batch_size=None, replica_scale=None):
  """Mean absolute error between generated and real future frames (NOT in the paper; a gin option).

  The paper trains G with the adversarial loss alone (eq. 14). At CPU scale (batch 8, a few thousand steps) D
  does not learn to tell a real future glued to the wrong context from a right one, so eq. 14 gives G no reason
  to read its context (docs/learning.md). An L1 term on the predicted frames, as in pix2pix and SAVP's
  GAN + L1 models, ties every prediction to its own context from the first step; `train.reconstruction_weight`
  (default 0: the paper's objective) weighs it against eq. 14.

  Args:
    real_future, fake_future: [B, Tp, H, W, 3] float in [-1, 1].
    global_batch_size, replica_scale: per-replica scaling, see the module docstring.

  Returns:
    float32 scalar: mean over every pixel of |fake - real| (range [0, 2]), scaled per replica.
  """
  real = tf.cast(real_future, tf.float32)
  fake = tf.cast(fake_future, tf.float32)
  if real.shape.rank is not None and fake.shape.rank is not None and real.shape[1:] != fake.shape[1:]:
    raise ValueError(f"real_future and fake_future must have the same shape, got {real.shape} and "
                     f"{fake.shape}.")
  scale = replica_scale_factor(real, global_batch_size, replica_scale)
  return scale * tf.reduce_mean(tf.abs(fake - real))


def _variable_name(variable):
  return getattr(variable, "path", None) or variable.name


def is_orthogonally_regularized(variable, exclude=("embed",)):
  """Whether `orthogonal_regularization` penalizes `variable`.

  Regularized: trainable weights of rank >= 2 (dense kernels, conv kernels reshaped to [fan_in, out]).
  Excluded, as in BigGAN: 1-D parameters (biases, batch-norm gains/offsets), non-trainable variables
  (spectral-norm u vectors, moving statistics), and variables whose path contains one of `exclude` (BigGAN
  blacklists G's shared class embedding; default: any path containing "embed").
  """
  if len(variable.shape) < 2 or not getattr(variable, "trainable", True):
    return False
  name = _variable_name(variable)
  return not any(pattern in name for pattern in exclude)


def orthogonal_regularization(variables, weight=1e-4, replica_scale=1.0, exclude=("embed",)):
  """BigGAN's off-diagonal orthogonal regularization, paper E.2 (weight 1e-4).

  R = weight * sum_W || W^T W * (1 - I) ||_F^2 over the raw (not spectrally normalized) weights W, each
  reshaped to [fan_in, out] = [-1, shape[-1]], for the variables selected by `is_orthogonally_regularized`.

  Args:
    variables: iterable of variables (typically G.trainable_variables).
    weight: beta.
    replica_scale: multiplied in (under tf.distribute every replica adds the same R and gradients are summed:
      pass 1 / num_replicas).
    exclude: substrings of variable paths to skip.

  A wide W (fan_in < out, e.g. G's linear layer from z, 128 x 24,576 at ch 48) is computed from the smaller
  gram matrix: ||W^T W * (1 - I)||_F^2 = ||W W^T||_F^2 - sum_j ||w_j||^4 (w_j: column j; ||W^T W||_F =
  ||W W^T||_F), the same value and gradient without the out x out gram and identity (in a profiled 20 s ch 48
  CPU step the identity took 2.7 s and the gram's matmuls 5.1 s of op time: 155 GFLOP, a 2.4 GB identity).

  Returns:
    float32 scalar.
  """
  # Kernels of one shape are stacked and penalized together (batched matmuls): far fewer ops to trace and run
  # than one small computation per kernel (the demo's G has 74 regularized kernels of 34 shapes).
  by_shape = {}
  for variable in variables:
    if is_orthogonally_regularized(variable, exclude):
      w = tf.cast(tf.convert_to_tensor(variable), tf.float32)
      w = tf.reshape(w, [-1, w.shape[-1]])
      by_shape.setdefault(tuple(w.shape), []).append(w)
  total = tf.constant(0.0, tf.float32)
  for (fan_in, out), kernels in by_shape.items():
    w = tf.stack(kernels)  # [N, fan_in, out]
    if fan_in is not None and fan_in < out:
      column_norms = tf.reduce_sum(tf.square(w), axis=1)  # the diagonals of W^T W, [N, out]
      total += (tf.reduce_sum(tf.square(tf.matmul(w, w, transpose_b=True))) -
                tf.reduce_sum(tf.square(column_norms)))
    else:
      gram = tf.matmul(w, w, transpose_a=True)  # [N, out, out]
      total += tf.reduce_sum(tf.square(gram * (1.0 - tf.eye(out, dtype=tf.float32))))
  return weight * replica_scale * total
