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
  """Nearest-neighbour x2 spatial upsampling of [N, H, W, C]: each pixel repeated into a 2 x 2 block.

  depth_to_space of the channels repeated four times: each of the four phases gets x. A tile along channels and
  a depth_to_space (and their gradients) compile under XLA (a resize's gradient does not: XLA has no kernel for
  ResizeNearestNeighborGrad), and the gradient is faster on the CPU than a [N, H, 2, W, 2, C] tile's (a sum
  over the tiled axes: the slowest op of the last G block's backward pass at the demo's size).
  """
  return tf.nn.depth_to_space(tf.tile(x, [1, 1, 1, 4]), 2)


def upsampled_conv(conv, x, training=False):
  """conv(upsample_nearest(x)) for a 3x3, stride-1, 'same' `SNConv2D` `conv`, computed at x's resolution.

  Each output pixel (2i + a, 2j + b) sees a 3x3 window of the upsampled input that covers only 2x2 pixels of x,
  so phase (a, b) of the output is a convolution of x with a kernel whose taps on the same pixel of x are summed
  (`phase_kernels`). One convolution of x with the four phase kernels stacked, then depth_to_space: the same
  function (equal up to float rounding, in value and gradient), with no 4x larger input to build, and
  convolutions with 4x the output channels, which run faster at small widths (docs/benchmarks.md).

  Args:
    conv: a built SNConv2D with kernel_size (3, 3), strides (1, 1) and 'same' padding.
    x: [N, H, W, Cin].
    training: updates conv's spectral-norm vector u when true (as conv(...) does).

  Returns:
    [N, 2H, 2W, filters].
  """
  if conv.kernel_size != (3, 3) or conv.strides != (1, 1) or conv.padding != "same":
    raise ValueError(f"upsampled_conv needs a 3x3, stride-1, 'same' convolution; {conv.name} has kernel "
                     f"{conv.kernel_size}, strides {conv.strides}, padding {conv.padding!r}.")
  kernel = phase_kernels(tf.cast(conv.normalized_kernel(training), tf.float32))
  y = tf.nn.depth_to_space(tf.nn.conv2d(x, tf.cast(kernel, x.dtype), 1, "SAME"), 2)
  if conv.bias is not None:
    y += tf.cast(conv.bias, y.dtype)
  return y


def phase_kernels(kernel):
  """[3, 3, Cin, Cout] -> [3, 3, Cin, 4 Cout]: the kernels of the four output phases of `upsampled_conv`.

  Along each spatial axis, even outputs 2i read upsampled rows 2i - 1, 2i, 2i + 1, i.e. rows i - 1, i, i of x
  (taps [k0, k1 + k2, 0] on rows i - 1, i, i + 1); odd outputs 2i + 1 read rows i, i, i + 1 (taps [0, k0 + k1,
  k2]). Output channels are ordered (a, b, c) for phase (a, b), as depth_to_space expects.
  """
  def phases(k, axis):
    taps = tf.unstack(k, axis=axis)
    zero = tf.zeros_like(taps[0])
    return (tf.stack([taps[0], taps[1] + taps[2], zero], axis=axis),
            tf.stack([zero, taps[0] + taps[1], taps[2]], axis=axis))

  return tf.concat([p for rows in phases(kernel, 0) for p in phases(rows, 1)], axis=-1)


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
      self.conv_sc.build((None, height, width, in_channels))  # applied before the upsampling

  def call(self, x, cond, training=False):
    num_frames = x.shape[1]
    h = tf.nn.relu(self.bn1(x, cond, training=training))
    h = fold_time(h)
    h = upsampled_conv(self.conv1, h, training) if self.upsample else self.conv1(h, training=training)
    h = unfold_time(h, num_frames)
    h = tf.nn.relu(self.bn2(h, cond, training=training))
    h = self.conv2(fold_time(h), training=training)
    # BigGAN's shortcut is conv1x1(upsample(x)). A 1x1 convolution acts on each pixel alone, so it commutes with
    # nearest-neighbour upsampling: upsample(conv1x1(x)) is the same function, on a quarter of the pixels.
    shortcut = fold_time(x)
    if self.learnable_shortcut:
      shortcut = self.conv_sc(shortcut, training=training)
    if self.upsample:
      shortcut = upsample_nearest(shortcut)
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
