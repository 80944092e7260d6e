"""G's loss terms on its own motion fields (NOT in the paper; docs/learning.md experiments 11-16).

Each term is a gin option of `train` (`flow_mean_weight`, `warp_photometric_weight`, `flow_smoothness_weight`,
with `flow_mean_radius` and `flow_smoothness_radius`, and `copy_mask_weight`), 0 by default: the paper's
objective. They need a generator whose recurrent units all warp, since the fields are those units' combined
motion fields (`Generator.frame_flows`, section 4.4); the copy-mask term also needs output_mode "warp_chain".
"""

from trivd_gan import losses


class FieldTerms:
  """Weighted terms on G's motion fields, added to G's loss only.

  Args:
    generator: the `Generator` (checked: every recurrent unit must warp when a weight is > 0).
    flow_mean_weight: times `losses.mean_flow_penalty` (px^2), against a drift shared by every clip.
    flow_mean_radius: 0 = the mean field over the whole frame (experiment 11); r >= 1 = the mean field within
      r px of the real frames' content (`losses.content_weights`, experiment 14).
    warp_photometric_weight: times `losses.warp_photometric_loss`: each field must move the real previous
      frame onto the real frame.
    flow_smoothness_weight: times `losses.flow_smoothness_loss` (px per px): fields constant across the
      background a digit moves onto, against the chained warps squeezing it.
    flow_smoothness_radius: 0 = smooth everywhere (experiment 12); r >= 1 = smooth within r px of the real
      frames' content only (`losses.content_weights`, experiment 13).
    copy_mask_weight: times `losses.copy_mask_loss`: G's copy mask must keep (m = 1) the content its field
      moves right, against digits fading into G's pixels (experiment 16; output_mode "warp_chain" only).
  """

  def __init__(self, generator, flow_mean_weight=0.0, warp_photometric_weight=0.0, flow_smoothness_weight=0.0,
               flow_smoothness_radius=0, flow_mean_radius=0, copy_mask_weight=0.0):
    self.weights = {"flow_mean": flow_mean_weight, "warp_photometric": warp_photometric_weight,
                    "flow_smoothness": flow_smoothness_weight, "copy_mask": copy_mask_weight}
    warps = all(unit.warps for unit in generator.units)
    for name, weight in self.weights.items():
      if weight < 0 or (weight and not warps):
        raise ValueError(f"train.{name}_weight must be >= 0, and > 0 only with a generator whose recurrent "
                         f"units all warp (tsru_*, k_trajgru); got {weight}.")
    if copy_mask_weight and generator.output_mode != "warp_chain":
      raise ValueError(f"train.copy_mask_weight > 0 needs Generator.output_mode = 'warp_chain' (the mask of "
                       f"its warp chain); got {generator.output_mode!r}.")
    self.weights = {name: float(weight) for name, weight in self.weights.items() if weight}
    radii = {"flow_smoothness_radius": flow_smoothness_radius, "flow_mean_radius": flow_mean_radius}
    for name, radius in radii.items():
      if radius < 0 or radius != int(radius):
        raise ValueError(f"train.{name} must be an integer >= 0 (px; 0 = the whole frame), got {radius}.")
    self.smoothness_radius = int(flow_smoothness_radius)
    self.mean_radius = int(flow_mean_radius)

  def __bool__(self):
    return bool(self.weights)

  def __call__(self, flows, real_video, num_context, mask=None, global_batch_size=None):
    """{name: weight x term}, float32 scalars scaled per replica, for the terms with weight > 0.

    flows: [B, Tp, H, W, 2] G's fields in frame pixels; real_video: [B, Tc + Tp, H, W, 3] in [-1, 1], the
    real clip G predicts; num_context: Tc; mask: [B, Tp, H, W, 1] G's copy mask (for the copy-mask term)."""
    weights_by_radius = {0: None}  # content weights once per radius (both terms may use the same one)

    def near_content(radius):
      if radius not in weights_by_radius:
        weights_by_radius[radius] = losses.content_weights(real_video, num_context, radius)
      return weights_by_radius[radius]

    terms = {
        "flow_mean": lambda: losses.mean_flow_penalty(flows, near_content(self.mean_radius),
                                                      global_batch_size=global_batch_size),
        "warp_photometric": lambda: losses.warp_photometric_loss(real_video, flows, num_context,
                                                                 global_batch_size=global_batch_size),
        "flow_smoothness": lambda: losses.flow_smoothness_loss(flows, near_content(self.smoothness_radius),
                                                               global_batch_size=global_batch_size),
        "copy_mask": lambda: losses.copy_mask_loss(real_video, flows, mask, num_context,
                                                   global_batch_size=global_batch_size),
    }
    return {name: weight * terms[name]() for name, weight in self.weights.items()}
