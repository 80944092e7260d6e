"""The context encoder E of DVD-GAN-FP (paper appendix A and F.3).

E is the spatial discriminator's network applied to each conditioning frame. For each recurrent unit of G,
the features at that unit's resolution are folded (time into channels) and compressed by a 3x3 convolution
and a ReLU into the unit's initial state.

`correlation=True` (a departure, off by default: docs/learning.md experiment 8) also gives each compression the
local correlations of consecutive context frames' features (`local_correlation`), a direct measure of how the
content moved: per-frame features folded into channels reach the state only through one linear convolution,
from which G's warping units did not learn to read the motion at CPU scale.
"""

import keras
import tensorflow as tf

from trivd_gan.layers import blocks
from trivd_gan.layers import spectral_norm

# Largest displacement, in feature cells of each level, of the context correlations (`correlation=True`).
CORRELATION_RADIUS = 1


def local_correlation(current, previous, radius=1):
  """Cosine similarity of each position's features with the previous frame's around it (a cost volume).

  out[b, y, x, (dy + r) * (2r + 1) + (dx + r)] = <f_t(y, x), f_{t-1}(y - dy, x - dx)> with f the features
  l2-normalized over channels and zero outside the frame: large where content moved by (dy, dx) from t-1 to t
  (the displacement convention of `warping.expected_flow`).

  Args:
    current, previous: [B, H, W, C] float features of frames t and t-1.
    radius: r >= 0, the largest displacement per axis (in feature cells).

  Returns:
    [B, H, W, (2r + 1)^2] float32 in [-1, 1].
  """
  if radius < 0:
    raise ValueError(f"radius must be >= 0, got {radius}.")
  current = tf.math.l2_normalize(tf.cast(current, tf.float32), axis=-1, epsilon=1e-6)
  previous = tf.math.l2_normalize(tf.cast(previous, tf.float32), axis=-1, epsilon=1e-6)
  height, width = tf.shape(current)[1], tf.shape(current)[2]
  padded = tf.pad(previous, [[0, 0], [radius, radius], [radius, radius], [0, 0]])
  channels = []
  for dy in range(-radius, radius + 1):
    for dx in range(-radius, radius + 1):
      # previous(y - dy, x - dx) sits at padded(y - dy + r, x - dx + r).
      shifted = padded[:, radius - dy:radius - dy + height, radius - dx:radius - dx + width, :]
      channels.append(tf.reduce_sum(current * shifted, axis=-1))
  return tf.stack(channels, axis=-1)


@keras.saving.register_keras_serializable(package="trivd_gan")
class ContextEncoder(keras.layers.Layer):
  """Context frames -> the initial state of each recurrent unit of G.

  Args:
    channel_multiplier: ch of the discriminator-like network (blocks of ch, 2ch, 4ch channels).
    state_channels: channels of each recurrent unit's state, coarse to fine (G's units at 8x8, 16x16, 32x32
      for 64x64 frames).
    num_context_frames: Tc.
    correlation: also compress the `local_correlation` (radius 1) of each consecutive pair of context frames'
      features at the level, (Tc - 1) * 9 more input channels per compression (a departure, see above).

  Call: context [B, Tc, H, W, 3] float32 in [-1, 1] -> list of [B, H/2^(n-i), W/2^(n-i), state_channels[i]],
  coarse to fine, where n = len(state_channels). Only the blocks that reach the coarsest state resolution
  are built: the spatial discriminator's later blocks would feed no recurrent unit.
  """

  def __init__(self, channel_multiplier, state_channels, num_context_frames, correlation=False, **kwargs):
    super().__init__(**kwargs)
    self.correlation = bool(correlation)
    if num_context_frames < 1:
      raise ValueError(f"num_context_frames must be >= 1, got {num_context_frames}.")
    self.channel_multiplier = int(channel_multiplier)
    self.state_channels = tuple(int(c) for c in state_channels)
    self.num_context_frames = int(num_context_frames)
    num_levels = len(self.state_channels)
    if not 1 <= num_levels <= 4:
      raise ValueError(f"The encoder feeds 1 to 4 recurrent units, got {num_levels}.")
    self.frame_blocks = blocks.d_stack(self.channel_multiplier, name="encoder")[:num_levels]
    # Fine-to-coarse blocks feed coarse-to-fine states: the last block built feeds the first unit.
    self.compress = [
        spectral_norm.SNConv2D(c, 3, name=f"compress_{i}") for i, c in enumerate(self.state_channels)]

  def build(self, context_shape):
    """Creates every variable from the context shape [B, Tc, H, W, 3] alone (no forward pass)."""
    shape = (None,) + tuple(context_shape[2:])
    features = []
    for block in self.frame_blocks:
      block.build(shape)
      shape = block.compute_output_shape(shape)
      features.append(shape)
    for level, conv in enumerate(self.compress):
      f = features[len(features) - 1 - level]
      conv.build((None, f[1], f[2], self.num_context_frames * f[3] + self._correlation_channels()))

  def _correlation_channels(self):
    return (self.num_context_frames - 1) * (2 * CORRELATION_RADIUS + 1) ** 2 if self.correlation else 0

  def call(self, context, training=False):
    if context.shape[1] != self.num_context_frames:
      raise ValueError(f"Expected {self.num_context_frames} context frames, got {context.shape[1]} "
                       f"(context shape {context.shape}).")
    h = blocks.fold_time(context)
    features = []
    for block in self.frame_blocks:
      h = block(h, training=training)
      features.append(h)
    states = []
    for level, conv in enumerate(self.compress):
      f = features[len(features) - 1 - level]
      f = blocks.unfold_time(f, self.num_context_frames)  # [B, Tc, h, w, C]
      per_frame = f
      f = tf.transpose(f, [0, 2, 3, 1, 4])
      shape = tf.shape(f)
      # Fold time into channels: [B, h, w, Tc * C].
      f = tf.reshape(f, [shape[0], f.shape[1], f.shape[2], self.num_context_frames * f.shape[4]])
      if self.correlation:
        pairs = [local_correlation(per_frame[:, t], per_frame[:, t - 1], CORRELATION_RADIUS)
                 for t in range(1, self.num_context_frames)]
        f = tf.concat([f] + [tf.cast(c, f.dtype) for c in pairs], axis=-1)
      states.append(tf.nn.relu(conv(f, training=training)))
    return states

  def get_config(self):
    return {**super().get_config(), "channel_multiplier": self.channel_multiplier,
            "state_channels": self.state_channels, "num_context_frames": self.num_context_frames,
            "correlation": self.correlation}
