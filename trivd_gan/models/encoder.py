"""The context encoder E of DVD-GAN-FP (paper appendix A and F.3).

E is the spatial discriminator's network applied to each conditioning frame. For each recurrent unit of G,
the features at that unit's resolution are folded (time into channels) and compressed by a 3x3 convolution
and a ReLU into the unit's initial state.
"""

import keras
import tensorflow as tf

from trivd_gan.layers import blocks
from trivd_gan.layers import spectral_norm


def block_output_shape(block, shape):
  """Output shape of a 2D DBlock for an input shape [N, H, W, C]."""
  n, height, width, _ = shape
  if block.downsample:
    height, width = height // 2, width // 2
  return (n, height, width, block.out_channels)


@keras.saving.register_keras_serializable(package="trivd_gan")
class ContextEncoder(keras.layers.Layer):
  """Context frames -> the initial state of each recurrent unit of G.

  Args:
    channel_multiplier: ch of the discriminator-like network (blocks of ch, 2ch, 4ch channels).
    state_channels: channels of each recurrent unit's state, coarse to fine (G's units at 8x8, 16x16, 32x32
      for 64x64 frames).
    num_context_frames: Tc.

  Call: context [B, Tc, H, W, 3] float32 in [-1, 1] -> list of [B, H/2^(n-i), W/2^(n-i), state_channels[i]],
  coarse to fine, where n = len(state_channels). Only the blocks that reach the coarsest state resolution
  are built: the spatial discriminator's later blocks would feed no recurrent unit.
  """

  def __init__(self, channel_multiplier, state_channels, num_context_frames, **kwargs):
    super().__init__(**kwargs)
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
      shape = block_output_shape(block, shape)
      features.append(shape)
    for level, conv in enumerate(self.compress):
      f = features[len(features) - 1 - level]
      conv.build((None, f[1], f[2], self.num_context_frames * f[3]))

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
      f = tf.transpose(f, [0, 2, 3, 1, 4])
      shape = tf.shape(f)
      # Fold time into channels: [B, h, w, Tc * C].
      f = tf.reshape(f, [shape[0], f.shape[1], f.shape[2], self.num_context_frames * f.shape[4]])
      states.append(tf.nn.relu(conv(f, training=training)))
    return states

  def get_config(self):
    return {**super().get_config(), "channel_multiplier": self.channel_multiplier,
            "state_channels": self.state_channels, "num_context_frames": self.num_context_frames}
