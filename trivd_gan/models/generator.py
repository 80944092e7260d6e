"""The TrIVD-GAN-FP / DVD-GAN-FP generator (paper appendix A, sections 2.3 and 3.2).

[z; class embedding] (128 + 128 = 256-d) -> linear -> 8x8 features repeated over time ->
three stages of [recurrent unit -> conv3x3 -> GBlock -> GBlock(upsample x2)] -> BN -> ReLU -> conv3x3 ->
tanh, giving 64x64 frames. Each recurrent unit starts from the context encoder's state at its resolution.
Channel widths follow BigGAN's 64x64 generator: 8ch (8x8), 4ch (16x16), 2ch (32x32), ch (64x64).
"""

import math

import keras
import tensorflow as tf

from trivd_gan.layers import blocks
from trivd_gan.layers import normalization
from trivd_gan.layers import recurrent
from trivd_gan.layers import spectral_norm
from trivd_gan.layers import warping
from trivd_gan.models import chain_pooling as chain_pooling_lib
from trivd_gan.models import encoder as encoder_lib

# How G's last convolution becomes frames (see `Generator`): the paper's "pixels", or a departure.
OUTPUT_MODES = ("pixels", "composite", "warp", "warp_chain")
# Channel widths of the three stages and of the output, as multiples of the channel multiplier.
G_STAGE_WIDTHS = (8, 4, 2, 1)


def sample_latents(batch_size, latent_dim=128, truncation=None, seed=None):
  """z ~ N(0, I), optionally truncated (the truncation trick, paper D.1-D.3).

  Args:
    batch_size, latent_dim: output shape [batch_size, latent_dim].
    truncation: None for no truncation; 0 for z = 0 ("extreme truncation"); t > 0 for a standard normal
      truncated at |z| <= t (values beyond are redrawn; 0.8 in the paper).
    seed: a stateless seed [2] int tensor, or None for tf.random's global generator.

  Returns:
    [batch_size, latent_dim] float32.
  """
  shape = [batch_size, latent_dim]
  if truncation is not None and truncation < 0:
    raise ValueError(f"truncation must be None, 0 or positive, got {truncation}.")
  if truncation == 0:
    return tf.zeros(shape)
  if seed is None:
    seed = tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int64)
  if truncation is None:
    return tf.random.stateless_normal(shape, seed=seed)
  return truncated_latents(batch_size, latent_dim, tf.constant(truncation, tf.float32), seed)


def truncated_latents(batch_size, latent_dim, truncation, seed):
  """`sample_latents` with a tensor truncation t (so one traced graph serves every t): z on [-t, t].

  Args:
    batch_size: int or scalar int32 tensor. latent_dim: int.
    truncation: scalar float32 tensor t >= 0; 0 gives z = 0 ("extreme truncation", D.3).
    seed: [2] int64 stateless seed.

  Returns:
    [batch_size, latent_dim] float32: zeros for t = 0; else a standard normal truncated to [-t, t]. Redrawing
    values beyond t gives exactly that distribution; inverse-CDF sampling gives it in one pass, with no
    data-dependent loop (XLA-friendly).
  """
  shape = tf.stack([batch_size, latent_dim])
  truncation = tf.cast(truncation, tf.float32)
  uniform = tf.random.stateless_uniform(shape, seed=seed, dtype=tf.float32)
  safe_t = tf.maximum(truncation, 1e-6)
  cdf_t = 0.5 * (1.0 + tf.math.erf(safe_t / math.sqrt(2.0)))
  p = (1.0 - cdf_t) + uniform * (2.0 * cdf_t - 1.0)
  z = math.sqrt(2.0) * tf.math.erfinv(2.0 * p - 1.0)
  z = tf.clip_by_value(z, -safe_t, safe_t)
  return tf.where(truncation > 0, z, tf.zeros_like(z))


@keras.saving.register_keras_serializable(package="trivd_gan")
class Generator(keras.Model):
  """G: context frames and z -> predicted frames.

  Args:
    channel_multiplier: ch (48, 92 or 120 in the paper).
    recurrent_unit: one of `recurrent.RECURRENT_UNITS`.
    num_context_frames: Tc (5 for Kinetics, 1 for BAIR).
    num_predicted_frames: Tp (11 for Kinetics, 15 for BAIR).
    resolution: frame size, a multiple of 32 (64 in the paper); G starts at resolution / 8.
    latent_dim, embedding_dim: 128 each (appendix A).
    num_classes: 1 for prediction (the dummy zero class); more for class-conditional training.
    encoder_channel_multiplier: ch of the context encoder; defaults to channel_multiplier.
    bn_momentum: momentum of the batch norms' moving statistics.
    output_mode: "pixels" (the paper: every predicted frame is tanh of G's last convolution) or "composite" (a
      departure for CPU-scale training, off by default: the last convolution also gives a mask m in (0, 1) per
      pixel and frame, and frame_t = m * x_last + (1 - m) * tanh(pixels), with x_last the last context frame,
      the compositing of CDNA/SAVP-style predictors; the generator then need not redraw what does not move), or
      "warp" (as "composite", but x_last is first moved by G's own motion field summed over the predicted steps,
      `warping.backward_warp`: the motion fields of section 4.4 then have to carry the motion to lower the loss;
      needs a recurrent unit that warps), or "warp_chain" (each predicted frame is the previous one, the last
      context frame for the first, moved by that step's motion field alone and composited with G's pixels:
      frame_t = m_t * warp(frame_{t-1}, f_t) + (1 - m_t) * tanh(pixels_t). The field of step t lives where the
      content is at step t, so content keeps moving after it leaves where it started; "warp" sums the fields at
      fixed pixels, which moves content only while the field there stays on it; docs/learning.md experiment 10).
    encoder_correlation: the context encoder also reads the local correlations of consecutive context frames'
      features (`encoder.local_correlation`), a departure off by default (docs/learning.md experiment 8).
    warp_spectral_norm: False removes spectral normalization from the warping units' hyper-networks only (a
      departure, off by default: under it the warping weights stay near uniform at small scale, see
      `recurrent._WarpingUnit` and docs/learning.md experiment 8).
    warp_logit_scale: None (the paper's softmax) or tau > 0: the warping hyper-networks' softmax runs over their
      logits standardized and times tau (`warping.warp_softmax`), a departure off by default: without it the
      weights of hyper-networks without spectral normalization became one-hot and the same for every clip
      (dead motion fields; docs/learning.md experiment 10).
    chain_pooling_radius: 0 (off) or r >= 1, with output_mode "warp_chain" only: each step's field is pooled
      over the content of the frame it moves before the warp (`chain_pooling`), a departure off by default:
      every part of a digit then moves by its neighbourhood's mean field, not by a field that falls off at its
      edge and squeezes it (docs/learning.md experiment 13).
    chain_pooling: over what the field is pooled: "window" (each pixel's (2r + 1)^2 window,
      `chain_pooling.content_pooled_flow`) or "object" (each connected region of content and r px around it,
      `chain_pooling.object_pooled_flow`: an object moves by one field; docs/learning.md experiment 14).

  Call: context [B, Tc, H, W, 3] float32 in [-1, 1], z [B, latent_dim], labels [B] int (or None for the
  dummy class 0) -> frames [B, Tp, H, W, 3] float32 in [-1, 1]. `generate` also returns the predicted
  warping weights of each recurrent unit (for motion fields, section 4.4).
  """

  def __init__(self, channel_multiplier=48, recurrent_unit="tsru_p", num_context_frames=5,
               num_predicted_frames=11, resolution=64, latent_dim=128, embedding_dim=128, num_classes=1,
               encoder_channel_multiplier=None, bn_momentum=0.99, output_mode="pixels",
               encoder_correlation=False, warp_spectral_norm=True, warp_logit_scale=None,
               chain_pooling_radius=0, chain_pooling="window", **kwargs):
    super().__init__(**kwargs)
    if output_mode not in OUTPUT_MODES:
      raise ValueError(f"Unknown output_mode {output_mode!r}; allowed: {', '.join(OUTPUT_MODES)}.")
    if output_mode.startswith("warp") and recurrent_unit in ("convgru", "convlstm"):
      raise ValueError(f"output_mode={output_mode!r} moves frames with the recurrent units' motion fields; "
                       f"{recurrent_unit!r} does not warp: choose a TSRU, PTSRU or K-TrajGRU unit.")
    if recurrent_unit not in recurrent.RECURRENT_UNITS:
      raise ValueError(f"Unknown recurrent unit {recurrent_unit!r}; "
                       f"allowed: {', '.join(recurrent.RECURRENT_UNITS)}.")
    for name, value in (("num_context_frames", num_context_frames),
                        ("num_predicted_frames", num_predicted_frames),
                        ("channel_multiplier", channel_multiplier), ("num_classes", num_classes),
                        ("latent_dim", latent_dim), ("embedding_dim", embedding_dim)):
      if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}.")
    if resolution % 32:
      raise ValueError(f"resolution must be a multiple of 32 (64 in the paper), got {resolution}.")
    self.channel_multiplier = int(channel_multiplier)
    self.recurrent_unit = recurrent_unit
    self.num_context_frames = int(num_context_frames)
    self.num_predicted_frames = int(num_predicted_frames)
    self.resolution = int(resolution)
    self.latent_dim = int(latent_dim)
    self.embedding_dim = int(embedding_dim)
    self.num_classes = int(num_classes)
    self.encoder_channel_multiplier = int(encoder_channel_multiplier or channel_multiplier)
    self.bn_momentum = bn_momentum
    self.output_mode = output_mode
    self.encoder_correlation = bool(encoder_correlation)
    self.warp_spectral_norm = bool(warp_spectral_norm)
    if not self.warp_spectral_norm and recurrent_unit in ("convgru", "convlstm"):
      raise ValueError(f"warp_spectral_norm=False concerns the warping hyper-networks; {recurrent_unit!r} has "
                       "none: choose a TSRU, PTSRU or K-TrajGRU unit, or leave warp_spectral_norm True.")
    self.warp_logit_scale = None if warp_logit_scale is None else float(warp_logit_scale)
    if self.warp_logit_scale is not None and (recurrent_unit in ("convgru", "convlstm") or
                                              not self.warp_logit_scale > 0):
      raise ValueError(f"warp_logit_scale={warp_logit_scale!r} needs a unit that warps (TSRU, PTSRU, "
                       f"K-TrajGRU; got {recurrent_unit!r}) and a value > 0; None keeps the paper's softmax.")
    if chain_pooling_radius < 0 or chain_pooling_radius != int(chain_pooling_radius) or (
        chain_pooling_radius and output_mode != "warp_chain"):
      raise ValueError(f"chain_pooling_radius must be an integer >= 0 (px), and > 0 only with output_mode "
                       f"'warp_chain'; got {chain_pooling_radius!r} with {output_mode!r}.")
    self.chain_pooling_radius = int(chain_pooling_radius)
    if chain_pooling not in chain_pooling_lib.CHAIN_POOLING:
      raise ValueError(f"Unknown chain_pooling {chain_pooling!r}; allowed: "
                       f"{', '.join(chain_pooling_lib.CHAIN_POOLING)} (used when chain_pooling_radius > 0).")
    self.chain_pooling = chain_pooling

    ch = self.channel_multiplier
    widths = [ch * w for w in G_STAGE_WIDTHS]
    self.base_resolution = self.resolution // 8
    self.class_embedding = spectral_norm.SNDense(self.embedding_dim, use_bias=False, name="class_embedding")
    # Appendix A: the one linear layer of G without spectral normalization.
    self.linear = spectral_norm.SNDense(self.base_resolution ** 2 * widths[0], spectral_norm=False,
                                        name="linear")
    self.encoder = encoder_lib.ContextEncoder(self.encoder_channel_multiplier, widths[:3],
                                              self.num_context_frames, correlation=self.encoder_correlation,
                                              name="encoder")
    self.units, self.stage_convs, self.stage_blocks = [], [], []
    unit_options = {} if self.warp_spectral_norm else {"hyper_spectral_norm": False}
    if self.warp_logit_scale is not None:
      unit_options["hyper_logit_scale"] = self.warp_logit_scale
    for i in range(3):
      self.units.append(
          recurrent.make_recurrent_unit(recurrent_unit, widths[i], name=f"rnn_{i}", **unit_options))
      self.stage_convs.append(spectral_norm.SNConv2D(widths[i], 3, name=f"conv_{i}"))
      self.stage_blocks.append([
          blocks.GBlock(widths[i], bn_momentum=bn_momentum, name=f"block_{i}a"),
          blocks.GBlock(widths[i + 1], upsample=True, bn_momentum=bn_momentum, name=f"block_{i}b")])
    # E.2: the final batch norm is unconditional, with a learned scale and offset.
    self.output_bn = normalization.BatchNorm(momentum=bn_momentum, per_time_step=True, name="output_bn")
    # "composite": a fourth channel, the logit of the copy mask.
    self.output_conv = spectral_norm.SNConv2D(3 if output_mode == "pixels" else 4, 3, name="output_conv")

  def build(self, context_shape, z_shape=None, labels_shape=None):
    """Creates every variable from shapes alone: no forward pass (full-size models build in seconds)."""
    ch = self.channel_multiplier
    widths = [ch * w for w in G_STAGE_WIDTHS]
    self.class_embedding.build((None, self.num_classes))
    self.linear.build((None, self.latent_dim + self.embedding_dim))
    self.encoder.build(context_shape)
    cond_shape = (None, self.latent_dim + self.embedding_dim)
    size, frames = self.base_resolution, self.num_predicted_frames
    in_channels = widths[0]
    for i, (unit, conv, (block_a, block_b)) in enumerate(zip(self.units, self.stage_convs, self.stage_blocks)):
      unit.build((None, size, size, in_channels), (None, size, size, widths[i]))
      conv.build((None, size, size, widths[i]))
      block_a.build((None, frames, size, size, widths[i]), cond_shape)
      block_b.build((None, frames, size, size, widths[i]), cond_shape)
      size, in_channels = 2 * size, widths[i + 1]
    self.output_bn.build((None, frames, size, size, widths[3]))
    self.output_conv.build((None, size, size, widths[3]))
    self.built = True

  def conditioning(self, z, labels=None, training=False):
    """[z; linear(one_hot(label))]: the 256-d vector of the conditional batch norms. [B, latent + embed]."""
    if labels is None:
      labels = tf.zeros([tf.shape(z)[0]], tf.int32)  # the dummy zero class
    one_hot = tf.one_hot(labels, self.num_classes, dtype=z.dtype)
    return tf.concat([z, self.class_embedding(one_hot, training=training)], axis=-1)

  def generate(self, context, z, labels=None, training=False, return_mask=False):
    """Returns (frames [B, Tp, H, W, 3] in [-1, 1], list of 3 warp weights [B, Tp, h, w, k^2] or None), with
    `return_mask` followed by the copy mask m [B, Tp, H, W, 1] in (0, 1) (None for output_mode "pixels")."""
    frames, warp_weights, _, mask = self._forward(context, z, labels, training)
    return (frames, warp_weights, mask) if return_mask else (frames, warp_weights)

  def generate_with_states(self, context, z, labels=None, training=False):
    """`generate`, plus the recurrent states: where the context's information goes (`diagnostics.py`).

    Returns:
      (frames, warp_weights, states): states is a list, coarse to fine, of one [B, 1 + Tp, h, w, C] tensor per
      recurrent unit: h_0 (the encoder's initial state, appendix A) followed by h_1 .. h_Tp.
    """
    frames, warp_weights, pairs, _ = self._forward(context, z, labels, training)
    return frames, warp_weights, [tf.concat([h0[:, None], h], axis=1) for h0, h in pairs]

  def warp_chain_parts(self, context, z, labels=None, training=False):
    """For output_mode "warp_chain", the terms `_warp_chain` composes instead of the frames: (copy mask m
    [B, Tp, H, W, 1] in (0, 1), G's pixels [B, Tp, H, W, 3] in [-1, 1], the last context frame moved by the
    chain of (pooled) fields alone, m = 1, [B, Tp, H, W, 3]): where moved content fades (experiment 15)."""
    if self.output_mode != "warp_chain":
      raise ValueError(f"warp_chain_parts needs output_mode 'warp_chain'; this generator's is "
                       f"{self.output_mode!r}.")
    return self._forward(context, z, labels, training, chain_parts=True)

  def _forward(self, context, z, labels, training, chain_parts=False):
    """(frames, warp weights, [(h_0 [B, h, w, C], h_1..h_Tp [B, Tp, h, w, C]) per unit], copy mask or None) of
    `generate`, or with `chain_parts` those of `warp_chain_parts`."""
    context = tf.convert_to_tensor(context)
    expected = (self.num_context_frames, self.resolution, self.resolution, 3)
    if context.shape.rank != 5 or tuple(context.shape[1:]) != expected:
      raise ValueError(f"context must be [B, {', '.join(map(str, expected))}] in [-1, 1], got {context.shape}.")
    z = tf.cast(z, context.dtype)
    if z.shape[-1] != self.latent_dim:
      raise ValueError(f"z must be [B, {self.latent_dim}], got {z.shape}.")
    cond = self.conditioning(z, labels, training=training)
    states = self.encoder(context, training=training)
    b0 = self.base_resolution
    h = self.linear(cond, training=training)
    # The same features at every time step: the first unit's input, given once ([B, b0, b0, 8 ch]).
    h = tf.reshape(h, [-1, b0, b0, self.channel_multiplier * G_STAGE_WIDTHS[0]])
    warp_weights, unit_states = [], []
    for unit, conv, (block_a, block_b), state in zip(self.units, self.stage_convs, self.stage_blocks, states):
      h, weights = recurrent.unroll(unit, h, state, training=training, num_steps=self.num_predicted_frames)
      warp_weights.append(weights)
      unit_states.append((state, h))
      h = blocks.unfold_time(conv(blocks.fold_time(h), training=training), self.num_predicted_frames)
      h = block_a(h, cond, training=training)
      h = block_b(h, cond, training=training)
    h = tf.nn.relu(self.output_bn(h, training=training))
    h = tf.cast(self.output_conv(blocks.fold_time(h), training=training), tf.float32)
    frames, mask = blocks.unfold_time(tf.tanh(h[..., :3]), self.num_predicted_frames), None
    if self.output_mode != "pixels":
      mask = tf.sigmoid(blocks.unfold_time(h[..., 3:], self.num_predicted_frames))  # [B, Tp, H, W, 1]
      last = tf.cast(context[:, -1:], tf.float32)  # [B, 1, H, W, 3], broadcast over the predicted frames
      if self.output_mode == "warp_chain":
        if chain_parts:
          return mask, frames, self._warp_chain(last[:, 0], tf.ones_like(mask), frames, warp_weights)
        return self._warp_chain(last[:, 0], mask, frames, warp_weights), warp_weights, unit_states, mask
      if self.output_mode == "warp":
        last = self._warp_last_frame(last[:, 0], warp_weights)
      frames = mask * last + (1.0 - mask) * frames
    return frames, warp_weights, unit_states, mask

  def frame_flows(self, warp_weights):
    """[B, Tp, H, W, 2] float32: G's combined motion field of each predicted step at frame resolution.

    warp_weights: `generate`'s second output (every unit must warp; section 4.4's fields, content
    displacement in frame pixels)."""
    levels = [tf.cast(warping.expected_flow(weights, getattr(unit, "warp_kernel_size", 3)), tf.float32)
              for unit, weights in zip(self.units, warp_weights)]  # coarse to fine, [B, Tp, h_l, w_l, 2]
    return warping.frame_flow(levels, self.resolution)

  def _warp_chain(self, last, mask, pixels, warp_weights):
    """[B, Tp, H, W, 3]: frame_t = m_t * warp(frame_{t-1}, f_t) + (1 - m_t) * pixels_t, frame_0 = `last`.

    last [B, H, W, 3], mask [B, Tp, H, W, 1] in (0, 1), pixels [B, Tp, H, W, 3] in [-1, 1]; f_t is step t's
    combined motion field (content displacement from frame t-1 to frame t, on frame t's grid)."""
    flows = self.frame_flows(warp_weights)
    frame, frames = last, []
    for t in range(self.num_predicted_frames):  # Tp is small and static: a Python loop of one warp per step
      flow = flows[:, t]
      if self.chain_pooling_radius:
        flow = chain_pooling_lib.pooled_flow(self.chain_pooling, frame, flow, self.chain_pooling_radius)
      frame = mask[:, t] * warping.backward_warp(frame, flow) + (1.0 - mask[:, t]) * pixels[:, t]
      frames.append(frame)
    return tf.stack(frames, axis=1)

  def _warp_last_frame(self, last, warp_weights):
    """[B, Tp, H, W, 3]: the last context frame [B, H, W, 3] moved, for each predicted frame t, by the sum of
    G's combined motion fields of steps 1..t (section 4.4's fields, upsampled to the frame; content
    displacement)."""
    tp, res = self.num_predicted_frames, self.resolution
    displacement = tf.cumsum(self.frame_flows(warp_weights), axis=1)
    repeated = tf.repeat(last[:, None], tp, axis=1)
    warped = warping.backward_warp(tf.reshape(repeated, [-1, res, res, 3]),
                                   tf.reshape(displacement, [-1, res, res, 2]))
    return tf.reshape(warped, [-1, tp, res, res, 3])

  def call(self, context, z, labels=None, training=False):
    return self.generate(context, z, labels, training=training)[0]

  def build_for_shapes(self, batch_size=None):
    """Creates all variables from the configured shapes (no forward pass); returns self."""
    self.build((batch_size, self.num_context_frames, self.resolution, self.resolution, 3),
               (batch_size, self.latent_dim))
    return self

  def get_config(self):
    return {**super().get_config(), "channel_multiplier": self.channel_multiplier,
            "recurrent_unit": self.recurrent_unit, "num_context_frames": self.num_context_frames,
            "num_predicted_frames": self.num_predicted_frames, "resolution": self.resolution,
            "latent_dim": self.latent_dim, "embedding_dim": self.embedding_dim, "num_classes": self.num_classes,
            "encoder_channel_multiplier": self.encoder_channel_multiplier, "bn_momentum": self.bn_momentum,
            "output_mode": self.output_mode, "encoder_correlation": self.encoder_correlation,
            "warp_spectral_norm": self.warp_spectral_norm, "warp_logit_scale": self.warp_logit_scale,
            "chain_pooling_radius": self.chain_pooling_radius, "chain_pooling": self.chain_pooling}
