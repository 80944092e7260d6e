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

from trivd_gan.layers import warping


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


def mean_flow_penalty(flows, weights=None, global_batch_size=None, replica_scale=None):
  """Squared batch-mean motion field (NOT in the paper; a gin option, docs/learning.md experiments 11 and 14).

  On Moving MNIST the generator's motion fields drifted to one offset shared by every clip (experiment 10);
  the clips' true motions average to about zero over a batch, so this penalizes only the shared part:

    P = mean_t sum_{c in (dy, dx)} (m_{t, c})^2,  m_{t, c} = sum_{b, y, x} w f_c / sum_{b, y, x} w

  with w = 1 (the mean over the batch and the frame, experiment 11) or `content_weights` (the mean where the
  fields move content: over the whole frame the drift moved onto the digits, where the background, most of
  the frame, hides it; experiment 14).

  Args:
    flows: [B, Tp, H, W, 2] float, each predicted step's combined field (`Generator.frame_flows`), frame pixels.
    weights: None (w = 1) or [B, Tp, H, W] float >= 0 (no gradient flows into them).
    global_batch_size, replica_scale: per-replica scaling, see the module docstring. Under tf.distribute the
      mean is each replica's own.

  Returns:
    float32 scalar in px^2, scaled per replica.
  """
  flows = tf.cast(flows, tf.float32)
  if flows.shape.rank != 5 or flows.shape[-1] != 2:
    raise ValueError(f"flows must be [B, Tp, H, W, 2] motion fields, got shape {flows.shape}.")
  if weights is None:
    mean = tf.reduce_mean(flows, axis=[0, 2, 3])  # [Tp, 2]
  else:
    weights = tf.stop_gradient(tf.cast(weights, tf.float32))[..., None]
    if weights.shape[:4] != flows.shape[:4]:
      raise ValueError(f"weights must be [B, Tp, H, W] like the fields {flows.shape}, got {weights.shape[:4]}.")
    mean = tf.reduce_sum(weights * flows, axis=[0, 2, 3]) / (tf.reduce_sum(weights, axis=[0, 2, 3]) + 1e-6)
  scale = replica_scale_factor(flows, global_batch_size, replica_scale)
  return scale * tf.reduce_mean(tf.reduce_sum(tf.square(mean), axis=-1))


def warp_photometric_loss(real_video, flows, num_context, scales=(1, 2, 4), global_batch_size=None,
                          replica_scale=None):
  """How well each predicted step's motion field moves the REAL previous frame onto the real frame (NOT in the
  paper; a gin option, docs/learning.md experiment 11).

  The self-supervised photometric loss of optical-flow learning: with f_t G's field of step t (content
  displacement from frame t-1 to frame t, `Generator.frame_flows`) and x the real clip,

    L = mean_s mean_t mean |warp(pool_s(x_{Tc+t-1}), pool_s(f_t) / s) - pool_s(x_{Tc+t})|

  (`warping.backward_warp`; pool_s: s x s average pooling). The field of every step gets a target that does
  not depend on G's own earlier frames; the coarse scales widen bilinear sampling's one-pixel reach, so that
  moves of several pixels (Moving MNIST: 3.6 px per frame) still get a gradient in the right direction.

  Args:
    real_video: [B, Tc + Tp, H, W, 3] float in [-1, 1], the real clip.
    flows: [B, Tp, H, W, 2] float, frame pixels.
    num_context: Tc.
    scales: pooling factors, each dividing H and W.
    global_batch_size, replica_scale: per-replica scaling, see the module docstring.

  Returns:
    float32 scalar, mean absolute error in [0, 2], scaled per replica.
  """
  real = tf.cast(real_video, tf.float32)
  flows = tf.cast(flows, tf.float32)
  tp, size = flows.shape[1], real.shape[2]
  if real.shape[1] != num_context + tp or flows.shape[2:] != (size, size, 2) or not scales:
    raise ValueError(f"real_video must be [B, Tc + Tp, H, W, 3] with Tc = {num_context}, flows [B, Tp, H, W, "
                     f"2] on its grid, scales not empty; got {real.shape}, {flows.shape}, {scales}.")
  fold = lambda x: tf.reshape(x, [-1, size, size, x.shape[-1]])
  previous, target, flows = fold(real[:, num_context - 1:-1]), fold(real[:, num_context:]), fold(flows)
  total = 0.0
  for s in scales:
    if size % s:
      raise ValueError(f"scale {s} does not divide the frame size {size}.")
    pool = lambda x: tf.nn.avg_pool2d(x, s, s, "VALID") if s > 1 else x
    warped = warping.backward_warp(pool(previous), pool(flows) / float(s))
    total += tf.reduce_mean(tf.abs(warped - pool(target)))
  return replica_scale_factor(real, global_batch_size, replica_scale) * total / len(scales)


def content_weights(real_video, num_context, radius, contrast=0.2):
  """Where each predicted step's field moves content: near texture of the real previous frame or the real
  frame (NOT in the paper; `flow_smoothness_loss`'s weights, docs/learning.md experiment 13).

    w_t(y, x) = min(1, max(R(x_{Tc+t-1})(y, x), R(x_{Tc+t})(y, x)) / contrast)

  with R(x)(y, x) the largest, over channels, of max - min of x over the (2 radius + 1)^2 window at (y, x).
  A backward warp of a flat region is the same flat region whatever the field, so the field only matters
  within `radius` px of an edge (radius >= the largest motion per frame). On Moving MNIST the weights are 1 on
  and around the digits and 0 on the black background far from them.

  Args:
    real_video: [B, Tc + Tp, H, W, C] float in [-1, 1], the real clip.
    num_context: Tc.
    radius: >= 1, px.
    contrast: the local range (in [0, 2]) from which a window counts fully as content.

  Returns:
    [B, Tp, H, W] float32 in [0, 1].
  """
  real = tf.cast(real_video, tf.float32)
  tp = real.shape[1] - num_context
  if real.shape.rank != 5 or tp < 1 or radius < 1 or contrast <= 0:
    raise ValueError(f"real_video must be [B, Tc + Tp, H, W, C] with Tc = {num_context} < Tc + Tp, radius >= 1 "
                     f"and contrast > 0; got {real.shape}, radius {radius}, contrast {contrast}.")
  size = 2 * int(radius) + 1
  window_max = lambda x: tf.nn.max_pool2d(x, size, 1, "SAME")
  local_range = lambda x: tf.reduce_max(window_max(x) + window_max(-x), axis=-1)
  # Frames Tc-1 .. T-1, each once: step t's weights are the larger range of its previous and its own frame.
  ranges = tf.reshape(local_range(tf.reshape(real[:, num_context - 1:], [-1, *real.shape[2:]])),
                      [-1, tp + 1, *real.shape[2:4]])
  return tf.minimum(1.0, tf.maximum(ranges[:, :-1], ranges[:, 1:]) / contrast)


def flow_smoothness_loss(flows, weights=None, global_batch_size=None, replica_scale=None):
  """First-order smoothness of G's motion fields (NOT in the paper; a gin option, docs/learning.md
  experiments 12-13).

  The smoothness term that optical-flow learning pairs with the photometric loss (`warp_photometric_loss`):

    S = mean_{b, t} sum_{c in (dy, dx)} [mean_{y, x} |f_c(y+1, x) - f_c(y, x)|
                                         + mean_{y, x} |f_c(y, x+1) - f_c(y, x)|]

  A backward warp moves a digit rigidly only if the field is the digit's motion on the digit's NEW position,
  i.e. also on the background it moves onto; where the field falls off at the digit's edge, the chained warps
  of "warp_chain" cut its leading edge and squeeze it (experiment 11). The photometric loss does not see the
  black background; this term asks the field to stay constant across it. The L1 form allows the jump between
  two digits that move apart.

  With `weights` w (`content_weights`), each neighbour pair counts with the smaller of its two weights and the
  means become weighted means, sum(w |df|) / sum(w): the field must be smooth on and around the content only,
  and may take another value on the flat background far from it, where it moves nothing (experiment 13).
  Weights of 1 everywhere give S.

  Args:
    flows: [B, Tp, H, W, 2] float, frame pixels (`Generator.frame_flows`).
    weights: None, or [B, Tp, H, W] float >= 0.
    global_batch_size, replica_scale: per-replica scaling, see the module docstring.

  Returns:
    float32 scalar >= 0 in px per px, scaled per replica; 0 for a field constant in space.
  """
  flows = tf.cast(flows, tf.float32)
  if flows.shape.rank != 5 or flows.shape[-1] != 2 or flows.shape[2] < 2 or flows.shape[3] < 2:
    raise ValueError(f"flows must be [B, Tp, H, W, 2] motion fields with H, W >= 2, got shape {flows.shape}.")
  if weights is None:
    weights = tf.ones_like(flows[..., 0])
  weights = tf.cast(weights, tf.float32)
  if weights.shape != flows.shape[:-1]:
    raise ValueError(f"weights must be [B, Tp, H, W] like flows {flows.shape[:-1]}, got {weights.shape}.")
  total = 0.0
  for first, second in ((lambda x: x[:, :, :-1], lambda x: x[:, :, 1:]),  # neighbours along y
                        (lambda x: x[:, :, :, :-1], lambda x: x[:, :, :, 1:])):  # along x
    pair_weights = tf.minimum(first(weights), second(weights))[..., None]
    difference = tf.reduce_sum(pair_weights * tf.abs(second(flows) - first(flows)), axis=[0, 1, 2, 3])  # [2]
    total += tf.reduce_sum(tf.math.divide_no_nan(difference, tf.reduce_sum(pair_weights)))
  return replica_scale_factor(flows, global_batch_size, replica_scale) * total


def copy_mask_loss(real_video, flows, mask, num_context, radius=1, tolerance=0.5, global_batch_size=None,
                   replica_scale=None):
  """Keep what the field moves right (NOT in the paper; a gin option, docs/learning.md experiment 16).

  With output_mode "warp_chain" each predicted frame is m_t * warp(frame_{t-1}, f_t) + (1 - m_t) * G's pixels;
  a copy mask m_t < 1 on a moved digit blends it into G's pixels, and the digit fades (experiment 15). This
  term asks m_t = 1 where copying is right: near the real content, where G's field f_t moves the REAL
  previous frame onto the real frame,

    w_t = stopgrad(c_t * max(0, 1 - e_t / tolerance)),  e_t = mean_channels |warp(x_{Tc+t-1}, f_t) - x_{Tc+t}|,
    K = sum_{b, t, y, x} w_t (1 - m_t) / sum w_t,

  with c_t = `content_weights(real_video, num_context, radius)`. Where the field is wrong (e_t >= tolerance)
  the term asks nothing, so G's pixels stay free to paint what the warp misses; the weights carry no gradient
  (a field made wrong on purpose must not escape the term).

  Args:
    real_video: [B, Tc + Tp, H, W, 3] float in [-1, 1], the real clip.
    flows: [B, Tp, H, W, 2] float, frame pixels (`Generator.frame_flows`).
    mask: [B, Tp, H, W, 1] float in (0, 1), G's copy mask (`Generator.generate(..., return_mask=True)`).
    num_context: Tc.
    radius: >= 1 px, `content_weights`' window.
    tolerance: > 0, the mean absolute error (of the range [-1, 1]) from which a pixel counts as moved wrong.
    global_batch_size, replica_scale: per-replica scaling, see the module docstring.

  Returns:
    float32 scalar in [0, 1], scaled per replica: the weighted mean of 1 - m (0 where no pixel counts).
  """
  real = tf.cast(real_video, tf.float32)
  flows, mask = tf.cast(flows, tf.float32), tf.cast(mask, tf.float32)
  tp, size = flows.shape[1], real.shape[2]
  if (real.shape.rank != 5 or real.shape[1] != num_context + tp or flows.shape[2:] != (size, size, 2)
      or mask.shape[1:] != (tp, size, size, 1) or tolerance <= 0):
    raise ValueError(f"real_video must be [B, Tc + Tp, H, W, 3] with Tc = {num_context}, flows [B, Tp, H, W, "
                     f"2] and mask [B, Tp, H, W, 1] on its grid, tolerance > 0; got {real.shape}, "
                     f"{flows.shape}, {mask.shape}, {tolerance}.")
  fold = lambda x: tf.reshape(x, [-1, size, size, x.shape[-1]])
  warped = warping.backward_warp(fold(real[:, num_context - 1:-1]), fold(flows))
  error = tf.reduce_mean(tf.abs(warped - fold(real[:, num_context:])), axis=-1)
  error = tf.reshape(error, [-1, tp, size, size])
  weights = tf.stop_gradient(content_weights(real, num_context, radius) * tf.nn.relu(1.0 - error / tolerance))
  kept = tf.math.divide_no_nan(tf.reduce_sum(weights * (1.0 - mask[..., 0])), tf.reduce_sum(weights))
  return replica_scale_factor(real, global_batch_size, replica_scale) * kept


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
