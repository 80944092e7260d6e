"""BigGAN-style frame and video discriminators with projection / mixed projection heads.

Paper appendix A: every sub-discriminator is BigGAN's 64x64 discriminator (five stages of one D residual
block each, the first four average-pooling by 2), followed by ReLU, a sum over space and a projection head
(E.1). The per-frame discriminator processes every frame independently with 2D convolutions; the
spatio-temporal (video) discriminator replaces all convolutions of its first two blocks by 3D ones.

Both take 5-D inputs [B, T, H, W, 3] float32 in [-1, 1]: for the frame discriminator T is the number K of
sampled frames, and the frames are the time steps seen by the head. H and W must be multiples of 16 (four
2x2 poolings), at least 16. Spectral normalization is applied to every weight (convolutions, the heads'
linear map and the class embedding).

Heads (paper E.1), on features h [B, T', C] (T' = T unless `temporal_downsample`):
- "projection" (Miyato & Koyama 2018): h_b = sum_t h_{b,t}; o_b = linear(h_b) + <h_b, embed(y_b)>;
  output [B].
- "mixed_projection" (eq. 15): r_x^{b,t} = linear(h_{b,t}), r_{x,y}^{b',t'} = <h_{b',t'}, embed(y_{b'})>,
  o_{b,b',t} = r_x^{b,t} + sum_{t'} r_{x,y}^{b',t'}; output [B, B, T'] (B x B x T' "output dimensions").
  Under tf.distribute, B is the per-replica batch: pairs (b, b') never cross replicas.
Unconditional models (num_classes=0) use the dummy class 0 of a 1-class embedding (appendix A): its
embedding is a learned vector.
"""

import keras
import tensorflow as tf

from trivd_gan.layers import blocks
from trivd_gan.layers import spectral_norm

HEADS = ("mixed_projection", "projection")

# d_stack average-pools by 2 in all blocks but the last: spatial sizes must be multiples of 2**4.
MIN_SPATIAL_SIZE = 2 ** (len(blocks.D_STACK_WIDTHS) - 1)


def check_spatial_size(height, width, what="discriminator input"):
  """Raises ValueError unless height and width are positive multiples of MIN_SPATIAL_SIZE (16)."""
  for size in (height, width):
    if size is None or size < MIN_SPATIAL_SIZE or size % MIN_SPATIAL_SIZE:
      raise ValueError(
          f"The {what} has spatial size {height}x{width}; the BigGAN discriminator average-pools by 2 four "
          f"times, so height and width must be multiples of {MIN_SPATIAL_SIZE} (16, 32, 64, ...).")


@keras.saving.register_keras_serializable(package="trivd_gan")
class ProjectionHead(keras.layers.Layer):
  """Projection (`mixed=False`) or mixed projection (`mixed=True`) discriminator head, paper E.1.

  Inputs: h [B, T, C] float features (already ReLU'd and summed over space); labels [B] int in
  [0, num_classes) or None (the dummy class 0; required to be None when num_classes=0).
  Output: [B, B, T] (mixed, eq. 15) or [B] (projection) float logits.

  `groups` = G > 1: the batch is G batches of B / G stacked (a D update's real and generated videos, scored in
  one pass); eq. 15 mixes samples only within each: the output is the G outputs of [B / G, B / G, T] stacked,
  [B, B / G, T] (projection: [B], unchanged).
  """

  def __init__(self, num_classes=0, mixed=True, **kwargs):
    super().__init__(**kwargs)
    if num_classes < 0:
      raise ValueError(f"num_classes must be >= 0 (0 = unconditional, dummy class 0), got {num_classes}.")
    self.num_classes = int(num_classes)
    self.mixed = bool(mixed)

  def build(self, h_shape):
    channels = int(h_shape[-1])
    self.linear = spectral_norm.SNDense(1, use_bias=True, name="linear")
    self.linear.build((None, channels))
    # The embedding is a bias-free SN dense layer on one-hot labels: its kernel [num_classes, C] is the
    # embedding table, spectrally normalized like BigGAN's SNEmbedding.
    self.embed = spectral_norm.SNDense(channels, use_bias=False, name="embed")
    self.embed.build((None, max(self.num_classes, 1)))

  def class_embedding(self, labels, batch_size, training=False):
    """[B, C] embeddings of `labels` [B] (or of the dummy class 0 when labels is None)."""
    num_embeddings = max(self.num_classes, 1)
    if labels is None:
      labels = tf.zeros([batch_size], tf.int32)
    elif self.num_classes == 0:
      raise ValueError("This head is unconditional (num_classes=0): pass labels=None.")
    one_hot = tf.one_hot(tf.cast(labels, tf.int32), num_embeddings, dtype=self.compute_dtype)
    return self.embed(one_hot, training=training)

  def call(self, h, labels=None, training=False, groups=1):
    batch_size = tf.shape(h)[0]
    embedding = self.class_embedding(labels, batch_size, training=training)  # [B, C]
    if not self.mixed:
      h_sum = tf.reduce_sum(h, axis=1)  # [B, C]
      r_x = tf.squeeze(self.linear(h_sum, training=training), -1)  # [B]
      return r_x + tf.reduce_sum(h_sum * embedding, axis=-1)
    r_x = tf.squeeze(self.linear(h, training=training), -1)  # [B, T]
    r_xy = tf.reduce_sum(h * embedding[:, None, :], axis=-1)  # [B', T']
    r_xy_sum = tf.reduce_sum(r_xy, axis=1)  # [B']
    # Eq. 15 within each of the G stacked batches (G = 1: o[b, b', t] over the whole batch).
    r_x = tf.reshape(r_x, [groups, batch_size // groups, -1])  # [G, B/G, T]
    r_xy_sum = tf.reshape(r_xy_sum, [groups, batch_size // groups])  # [G, B'/G]
    out = r_x[:, :, None, :] + r_xy_sum[:, None, :, None]  # [G, B/G, B'/G, T]
    return tf.reshape(out, [batch_size, batch_size // groups, -1])  # [B, B'/G, T]

  def get_config(self):
    return {**super().get_config(), "num_classes": self.num_classes, "mixed": self.mixed}


@keras.saving.register_keras_serializable(package="trivd_gan")
class Discriminator(keras.layers.Layer):
  """BigGAN discriminator on [B, T, H, W, 3] with `num_conv3d_blocks` spatio-temporal blocks, appendix A.

  num_conv3d_blocks=0: frame discriminator (frames judged independently, the T frames are the head's time
  steps); 2: video discriminator. `temporal_downsample` also pools time by 2 in the 3D blocks (T must then
  be a multiple of 2**num_conv3d_blocks). Output: the head's logits, [B, B, T'] (mixed projection) or [B].
  """

  def __init__(self, channel_multiplier, num_conv3d_blocks=0, temporal_downsample=False,
               head="mixed_projection", num_classes=0, **kwargs):
    super().__init__(**kwargs)
    if head not in HEADS:
      raise ValueError(f"Unknown head {head!r}; allowed: {HEADS}.")
    if temporal_downsample and num_conv3d_blocks == 0:
      raise ValueError("temporal_downsample needs num_conv3d_blocks > 0 (frame discriminators have no time "
                       "convolutions).")
    self.channel_multiplier = int(channel_multiplier)
    self.num_conv3d_blocks = int(num_conv3d_blocks)
    self.temporal_downsample = bool(temporal_downsample)
    self.head_type = head
    self.num_classes = int(num_classes)
    self.blocks = blocks.d_stack(self.channel_multiplier, self.num_conv3d_blocks, self.temporal_downsample,
                                 name="d")
    self.head = ProjectionHead(self.num_classes, mixed=head == "mixed_projection", name="head")

  def output_num_frames(self, num_frames):
    """T' (time steps seen by the head) for an input of `num_frames` frames."""
    if not self.temporal_downsample:
      return num_frames
    factor = 2 ** sum(1 for b in self.blocks if b.conv3d and b.downsample)
    if num_frames % factor:
      raise ValueError(f"With temporal_downsample the number of frames must be a multiple of {factor}, got "
                       f"{num_frames}.")
    return num_frames // factor

  def build(self, input_shape):
    if len(input_shape) != 5:
      raise ValueError(f"Discriminator inputs must be [B, T, H, W, C], got shape {input_shape}.")
    _, t, h, w, c = input_shape
    check_spatial_size(h, w, f"{self.name} input")
    t = int(t)
    for block in self.blocks:
      if block.conv3d:
        block.build((None, t, h, w, c))
        if block.downsample and block.temporal_downsample:
          t //= 2
      else:
        block.build((None, h, w, c))
      if block.downsample:
        h, w = h // 2, w // 2
      c = block.out_channels
    self.output_num_frames(int(input_shape[1]))
    self.head.build((None, t, c))

  def features(self, x, training=False):
    """[B, T, H, W, 3] -> h [B, T', C]: the blocks, ReLU, sum over space."""
    if not self.built:
      self.build(x.shape)
      self.built = True
    h = x
    num_frames = x.shape[1]
    folded = False
    for block in self.blocks:
      if not block.conv3d and not folded:
        num_frames = h.shape[1]
        h = blocks.fold_time(h)
        folded = True
      h = block(h, training=training)
    if folded:
      h = blocks.unfold_time(h, num_frames)
    return tf.reduce_sum(tf.nn.relu(h), axis=[2, 3])

  def call(self, x, labels=None, training=False, groups=1):
    """x [B, T, H, W, 3] -> the head's logits; `groups`: see `ProjectionHead` (its eq. 15 within groups)."""
    return self.head(self.features(x, training=training), labels, training=training, groups=groups)

  def get_config(self):
    return {**super().get_config(), "channel_multiplier": self.channel_multiplier,
            "num_conv3d_blocks": self.num_conv3d_blocks, "temporal_downsample": self.temporal_downsample,
            "head": self.head_type, "num_classes": self.num_classes}


@keras.saving.register_keras_serializable(package="trivd_gan")
class FrameDiscriminator(Discriminator):
  """Per-frame (spatial) discriminator D_S: input frames [B, K, H, W, 3], each judged by 2D blocks."""

  def __init__(self, channel_multiplier, head="mixed_projection", num_classes=0, **kwargs):
    kwargs.pop("num_conv3d_blocks", None)
    kwargs.pop("temporal_downsample", None)
    super().__init__(channel_multiplier, num_conv3d_blocks=0, temporal_downsample=False, head=head,
                     num_classes=num_classes, **kwargs)


@keras.saving.register_keras_serializable(package="trivd_gan")
class VideoDiscriminator(Discriminator):
  """Spatio-temporal discriminator D_T: input [B, T, H, W, 3]; 3D convolutions in the first two blocks."""

  def __init__(self, channel_multiplier, temporal_downsample=False, head="mixed_projection", num_classes=0,
               **kwargs):
    kwargs.pop("num_conv3d_blocks", None)
    super().__init__(channel_multiplier, num_conv3d_blocks=2, temporal_downsample=temporal_downsample,
                     head=head, num_classes=num_classes, **kwargs)
