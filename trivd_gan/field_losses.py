"""G's loss terms on its own motion fields and copy mask (NOT in the paper: gin options of `train`, 0 by
default, weighted and summed by `training.field_terms.FieldTerms`; docs/learning.md experiments 11-20).

At CPU scale the paper's objective alone leaves G's motion fields (section 4.4) without a target that depends on
each clip's motion; these are the self-supervised terms of optical-flow learning (photometric, smoothness) and
two of this project's (mean field, copy mask). Per-replica scaling as in `losses`
(`losses.replica_scale_factor`).
"""

import tensorflow as tf

from trivd_gan.layers import warping
from trivd_gan.losses import replica_scale_factor


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
    global_batch_size, replica_scale: per-replica scaling, see `losses`' module docstring. Under tf.distribute
      the mean is each replica's own.

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


def warp_photometric_loss(real_video, flows, num_context, scales=(1, 2, 4), previous=None,
                          global_batch_size=None, replica_scale=None):
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
    previous: None (the real frames x_{Tc} .. x_{T-1} above), or [B, Tp, H, W, 3] in [-1, 1], the frames the
      fields move instead: G's own previous frames for the chain term (`field_terms`, experiment 20).
    global_batch_size, replica_scale: per-replica scaling, see `losses`' module docstring.

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
  previous = real[:, num_context - 1:-1] if previous is None else tf.cast(previous, tf.float32)
  if previous.shape[1:] != flows.shape[1:4] + (3,):
    raise ValueError(f"previous must be [B, Tp, H, W, 3] like the fields {flows.shape}, got {previous.shape}.")
  previous, target, flows = fold(previous), fold(real[:, num_context:]), fold(flows)
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
    global_batch_size, replica_scale: per-replica scaling, see `losses`' module docstring.

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
    global_batch_size, replica_scale: per-replica scaling, see `losses`' module docstring.

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
