"""G's loss terms on its own motion fields (NOT in the paper; docs/learning.md experiments 11-16 and 20).

Each term is a gin option of `train` (`flow_mean_weight`, `warp_photometric_weight`, `flow_smoothness_weight`,
with `flow_mean_radius` and `flow_smoothness_radius`, `copy_mask_weight` and `chain_photometric_weight`), 0 by
default: the paper's objective. They need a generator whose recurrent units all warp, since the fields are those
units' combined motion fields (`Generator.frame_flows`, section 4.4); the copy-mask and chain terms also need
output_mode "warp_chain".
"""

import tensorflow as tf

from trivd_gan import field_losses
from trivd_gan.models import chain_pooling


class FieldTerms:
  """Weighted terms on G's motion fields, added to G's loss only.

  Args:
    generator: the `Generator` (checked: every recurrent unit must warp when a weight is > 0).
    flow_mean_weight: times `field_losses.mean_flow_penalty` (px^2), against a drift shared by every clip.
    flow_mean_radius: 0 = the mean field over the whole frame (experiment 11); r >= 1 = the mean field within
      r px of the real frames' content (`field_losses.content_weights`, experiment 14).
    warp_photometric_weight: times `field_losses.warp_photometric_loss`: each field must move the real previous
      frame onto the real frame.
    flow_smoothness_weight: times `field_losses.flow_smoothness_loss` (px per px): fields constant across the
      background a digit moves onto, against the chained warps squeezing it.
    flow_smoothness_radius: 0 = smooth everywhere (experiment 12); r >= 1 = smooth within r px of the real
      frames' content only (`field_losses.content_weights`, experiment 13).
    copy_mask_weight: times `field_losses.copy_mask_loss`: G's copy mask must keep (m = 1) the content its field
      moves right, against digits fading into G's pixels (experiment 16; output_mode "warp_chain" only).
    chain_photometric_weight: times `field_losses.warp_photometric_loss` on G's OWN previous frames: each
      field, pooled as the chain pools it, must move G's predicted frame t-1 (the last context frame for
      t = 1; no gradient through it) onto the real frame t: the field is trained where the predicted content
      is, not where the real content is (experiment 20; output_mode "warp_chain" only).
  """

  def __init__(self, generator, flow_mean_weight=0.0, warp_photometric_weight=0.0, flow_smoothness_weight=0.0,
               flow_smoothness_radius=0, flow_mean_radius=0, copy_mask_weight=0.0,
               chain_photometric_weight=0.0):
    self.pooling, self.pooling_radius = generator.chain_pooling, generator.chain_pooling_radius  # chain term
    self.weights = {"flow_mean": flow_mean_weight, "warp_photometric": warp_photometric_weight,
                    "flow_smoothness": flow_smoothness_weight, "copy_mask": copy_mask_weight,
                    "chain_photometric": chain_photometric_weight}
    warps = all(unit.warps for unit in generator.units)
    for name, weight in self.weights.items():
      if weight < 0 or (weight and not warps):
        raise ValueError(f"train.{name}_weight must be >= 0, and > 0 only with a generator whose recurrent "
                         f"units all warp (tsru_*, k_trajgru); got {weight}.")
    for name in ("copy_mask", "chain_photometric"):
      if self.weights[name] and generator.output_mode != "warp_chain":
        raise ValueError(f"train.{name}_weight > 0 needs Generator.output_mode = 'warp_chain' (the mask and "
                         f"frames of its warp chain); got {generator.output_mode!r}.")
    self.weights = {name: float(weight) for name, weight in self.weights.items() if weight}
    radii = {"flow_smoothness_radius": flow_smoothness_radius, "flow_mean_radius": flow_mean_radius}
    for name, radius in radii.items():
      if radius < 0 or radius != int(radius):
        raise ValueError(f"train.{name} must be an integer >= 0 (px; 0 = the whole frame), got {radius}.")
    self.smoothness_radius = int(flow_smoothness_radius)
    self.mean_radius = int(flow_mean_radius)

  def __bool__(self):
    return bool(self.weights)

  def __call__(self, flows, real_video, num_context, mask=None, prediction=None, global_batch_size=None):
    """{name: weight x term}, float32 scalars scaled per replica, for the terms with weight > 0.

    flows: [B, Tp, H, W, 2] G's fields in frame pixels; real_video: [B, Tc + Tp, H, W, 3] in [-1, 1], the
    real clip G predicts; num_context: Tc; mask: [B, Tp, H, W, 1] G's copy mask (for the copy-mask term);
    prediction: [B, Tp, H, W, 3] G's frames (for the chain term)."""
    weights_by_radius = {0: None}  # content weights once per radius (both terms may use the same one)

    def near_content(radius):
      if radius not in weights_by_radius:
        weights_by_radius[radius] = field_losses.content_weights(real_video, num_context, radius)
      return weights_by_radius[radius]

    previous = None
    if "chain_photometric" in self.weights:
      if prediction is None:
        raise ValueError("train.chain_photometric_weight > 0 needs G's predicted frames: pass prediction "
                         "[B, Tp, H, W, 3].")
      # The frames the chain moves: the last context frame, then G's own; a target, not a path for gradients.
      previous = tf.stop_gradient(tf.concat([tf.cast(real_video[:, num_context - 1:num_context], tf.float32),
                                             tf.cast(prediction[:, :-1], tf.float32)], axis=1))
    terms = {
        "flow_mean": lambda: field_losses.mean_flow_penalty(flows, near_content(self.mean_radius),
                                                            global_batch_size=global_batch_size),
        "warp_photometric": lambda: field_losses.warp_photometric_loss(real_video, flows, num_context,
                                                                       global_batch_size=global_batch_size),
        "flow_smoothness": lambda: field_losses.flow_smoothness_loss(
            flows, near_content(self.smoothness_radius), global_batch_size=global_batch_size),
        "copy_mask": lambda: field_losses.copy_mask_loss(real_video, flows, mask, num_context,
                                                         global_batch_size=global_batch_size),
        "chain_photometric": lambda: field_losses.warp_photometric_loss(
            real_video, chain_pooling.pooled_flows(self.pooling, previous, flows, self.pooling_radius),
            num_context, previous=previous, global_batch_size=global_batch_size),
    }
    return {name: weight * terms[name]() for name, weight in self.weights.items()}
