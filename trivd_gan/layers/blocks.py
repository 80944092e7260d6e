"""BigGAN residual blocks as DVD-GAN (Clark et al. 2019) parametrizes them (paper appendix A).

GBlock: x -> CBN -> ReLU -> [nearest x2] -> conv3x3 -> CBN -> ReLU -> conv3x3, plus a shortcut
[nearest x2] -> conv1x1 whenever the shape changes. Applied framewise to videos [B, T, H, W, C]; its batch
norms are conditional on the 256-d vector and take their statistics independently for each time step.

DBlock: [ReLU] -> conv3x3 -> ReLU -> conv3x3 -> [avg-pool /2], plus a shortcut conv1x1 and pooling
(BigGAN's order: pool after the conv for pre-activation blocks, before it for the first block). 2D blocks
take [N, H, W, C]; 3D blocks take [N, T, H, W, C] and use 3x3x3 convolutions.
"""

import keras
import tensorflow as tf

from trivd_gan.layers import normalization
from trivd_gan.layers import spectral_norm


# Static sizes where the shapes are known: a shape computed in the graph costs several ops per call (shape,
# slices, pack, concat), and these run in every block of every step graph.
def fold_time(x):
  """[B, T, H, W, C] -> [B*T, H, W, C] (frames become batch elements for framewise 2D processing)."""
  if None not in x.shape[2:]:
    return tf.reshape(x, [-1] + list(x.shape[2:]))
  shape = tf.shape(x)
  return tf.reshape(x, tf.concat([[shape[0] * shape[1]], shape[2:]], axis=0))


def unfold_time(x, num_frames):
  """[B*T, H, W, C] -> [B, T, H, W, C]."""
  if None not in x.shape[1:]:
    return tf.reshape(x, [-1, num_frames] + list(x.shape[1:]))
  shape = tf.shape(x)
  return tf.reshape(x, tf.concat([[-1, num_frames], shape[1:]], axis=0))


def upsample_nearest(x):
  """Nearest-neighbour x2 spatial upsampling of [N, H, W, C]: each pixel tiled into a 2 x 2 block."""
  if None in x.shape[1:]:
    return tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)
  _, height, width, channels = x.shape
  tiled = tf.tile(x[:, :, None, :, None, :], [1, 1, 2, 1, 2, 1])  # [N, H, 2, W, 2, C]
  return tf.reshape(tiled, [-1, 2 * height, 2 * width, channels])


@keras.saving.register_keras_serializable(package="trivd_gan")
class GBlock(keras.layers.Layer):
  """BigGAN generator residual block, framewise over time.

  Inputs: x [B, T, H, W, C_in] and cond [B, D_cond]. Output [B, T, s*H, s*W, out_channels], s = 2 if
  `upsample` else 1.
  """

  def __init__(self, out_channels, upsample=False, bn_momentum=0.99, bn_epsilon=1e-4, **kwargs):
    super().__init__(**kwargs)
    if out_channels < 1:
      raise ValueError(f"GBlock needs out_channels >= 1, got {out_channels}.")
    self.out_channels = int(out_channels)
    self.upsample = upsample
    self.bn_momentum = bn_momentum
    self.bn_epsilon = bn_epsilon

  def build(self, x_shape, cond_shape=None):
    input_shape = x_shape
    in_channels = int(input_shape[-1])
    num_frames = int(input_shape[1])
    height, width = int(input_shape[2]), int(input_shape[3])
    s = 2 if self.upsample else 1
    bn_args = dict(momentum=self.bn_momentum, epsilon=self.bn_epsilon, per_time_step=True)
    self.bn1 = normalization.ConditionalBatchNorm(name="bn1", **bn_args)
    self.bn1.build(input_shape, cond_shape)
    self.conv1 = spectral_norm.SNConv2D(self.out_channels, 3, name="conv1")
    self.conv1.build((None, s * height, s * width, in_channels))
    self.bn2 = normalization.ConditionalBatchNorm(name="bn2", **bn_args)
    self.bn2.build((None, num_frames, s * height, s * width, self.out_channels), cond_shape)
    self.conv2 = spectral_norm.SNConv2D(self.out_channels, 3, name="conv2")
    self.conv2.build((None, s * height, s * width, self.out_channels))
    self.learnable_shortcut = in_channels != self.out_channels or self.upsample
    if self.learnable_shortcut:
      self.conv_sc = spectral_norm.SNConv2D(self.out_channels, 1, name="conv_sc")
      self.conv_sc.build((None, s * height, s * width, in_channels))

  def call(self, x, cond, training=False):
    num_frames = x.shape[1]
    h = tf.nn.relu(self.bn1(x, cond, training=training))
    h = fold_time(h)
    if self.upsample:
      h = upsample_nearest(h)
    h = unfold_time(self.conv1(h, training=training), num_frames)
    h = tf.nn.relu(self.bn2(h, cond, training=training))
    h = self.conv2(fold_time(h), training=training)
    shortcut = fold_time(x)
    if self.upsample:
      shortcut = upsample_nearest(shortcut)
    if self.learnable_shortcut:
      shortcut = self.conv_sc(shortcut, training=training)
    return unfold_time(h + shortcut, num_frames)

  def get_config(self):
    return {**super().get_config(), "out_channels": self.out_channels, "upsample": self.upsample,
            "bn_momentum": self.bn_momentum, "bn_epsilon": self.bn_epsilon}


@keras.saving.register_keras_serializable(package="trivd_gan")
class DBlock(keras.layers.Layer):
  """BigGAN discriminator residual block, 2D or 3D.

  Input [N, H, W, C] (2D) or [N, T, H, W, C] (3D, `conv3d=True`). With `downsample`, output spatial size
  is halved by 2x2 average pooling (and time too when `temporal_downsample`). `preactivation=False` is for
  the first block, which sees the image itself.
  """

  def __init__(self, out_channels, downsample=True, conv3d=False, preactivation=True,
               temporal_downsample=False, **kwargs):
    super().__init__(**kwargs)
    if out_channels < 1:
      raise ValueError(f"DBlock needs out_channels >= 1, got {out_channels}.")
    if temporal_downsample and not conv3d:
      raise ValueError("temporal_downsample needs conv3d=True: 2D blocks see single frames.")
    self.out_channels = int(out_channels)
    self.downsample = downsample
    self.conv3d = conv3d
    self.preactivation = preactivation
    self.temporal_downsample = temporal_downsample

  def build(self, input_shape):
    in_channels = int(input_shape[-1])
    conv = spectral_norm.SNConv3D if self.conv3d else spectral_norm.SNConv2D
    self.conv1 = conv(self.out_channels, 3, name="conv1")
    self.conv1.build(input_shape)
    self.conv2 = conv(self.out_channels, 3, name="conv2")
    self.conv2.build(tuple(input_shape[:-1]) + (self.out_channels,))
    self.learnable_shortcut = in_channels != self.out_channels or self.downsample
    if self.learnable_shortcut:
      self.conv_sc = conv(self.out_channels, 1, name="conv_sc")
      self.conv_sc.build(input_shape)

  def _pool(self, x):
    if not self.downsample:
      return x
    if self.conv3d:
      window = (2 if self.temporal_downsample else 1, 2, 2)
      return tf.nn.avg_pool3d(x, (1, *window, 1), (1, *window, 1), "VALID")
    return tf.nn.avg_pool2d(x, 2, 2, "VALID")

  def call(self, x, training=False):
    h = tf.nn.relu(x) if self.preactivation else x
    h = self.conv1(h, training=training)
    h = self.conv2(tf.nn.relu(h), training=training)
    h = self._pool(h)
    shortcut = x
    if self.learnable_shortcut:
      if self.preactivation:
        shortcut = self._pool(self.conv_sc(shortcut, training=training))
      else:
        shortcut = self.conv_sc(self._pool(shortcut), training=training)
    return h + shortcut

  def compute_output_shape(self, input_shape):
    """[N, H, W, C] -> [N, H/2, W/2, out] with `downsample` (2D); [N, T, H, W, C] -> [N, T', H/2, W/2, out]
    (3D; T' = T/2 with `temporal_downsample`)."""
    shape = list(input_shape[:-1]) + [self.out_channels]
    if self.downsample:
      first_spatial = 2 if self.conv3d else 1
      for axis in (first_spatial, first_spatial + 1):
        shape[axis] = None if shape[axis] is None else shape[axis] // 2
      if self.temporal_downsample:
        shape[1] = None if shape[1] is None else shape[1] // 2
    return tuple(shape)

  def get_config(self):
    return {**super().get_config(), "out_channels": self.out_channels, "downsample": self.downsample,
            "conv3d": self.conv3d, "preactivation": self.preactivation,
            "temporal_downsample": self.temporal_downsample}


# BigGAN's 64x64 discriminator widths, as multiples of the channel multiplier (Brock et al. 2019, table 7):
# five blocks, the first four downsampling by 2 (appendix A: 64 -> 32 -> 16 -> 8 -> 4 -> 4).
D_STACK_WIDTHS = (1, 2, 4, 8, 16)


def d_stack(channel_multiplier, num_conv3d_blocks=0, temporal_downsample=False, name="d"):
  """The five DBlocks of the spatial (num_conv3d_blocks=0) or spatio-temporal (2) discriminator network.

  Also the network of the context encoder (appendix A). Block i has
  channel_multiplier * D_STACK_WIDTHS[i] channels; the first block is not pre-activated.
  """
  if channel_multiplier < 1:
    raise ValueError(f"channel_multiplier must be >= 1, got {channel_multiplier}.")
  if not 0 <= num_conv3d_blocks <= len(D_STACK_WIDTHS):
    raise ValueError(f"num_conv3d_blocks must be in [0, {len(D_STACK_WIDTHS)}], got {num_conv3d_blocks}.")
  return [
      DBlock(channel_multiplier * width, downsample=i < 4, conv3d=i < num_conv3d_blocks, preactivation=i > 0,
             temporal_downsample=temporal_downsample and i < num_conv3d_blocks, name=f"{name}_block{i}")
      for i, width in enumerate(D_STACK_WIDTHS)
  ]
