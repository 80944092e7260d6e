"""Inflated Inception-v1 (I3D, Carreira & Zisserman 2017) in Keras 3: the FVD / IS embedding network.

The paper (section 4.1, appendix E.2) evaluates with the pre-softmax logits of an I3D trained on Kinetics-400,
fed with videos bilinearly resized to 224x224. This module is the network only; weights come from
`trivd_gan.evaluation.i3d_weights` (official kinetics-i3d checkpoints) or are randomized with
`randomize_weights` (tests, benchmarks; never report numbers from random weights).

Architecture facts (the public kinetics-i3d `i3d.py`; docs/evaluation.md):
- Unit3D = Conv3D (SAME, no bias) -> BatchNorm (offset only, no scale, epsilon 1e-3) -> ReLU.
- Stem, nine Inception ("Mixed") blocks with three max-pools in between, then AvgPool3D(2x7x7, VALID) ->
  Logits/Conv3d_0c_1x1 (bias, no BN, no ReLU) -> mean over the remaining time steps.

Every variable carries its TF1 checkpoint name (without the `RGB/inception_i3d/` prefix) through
`I3D.checkpoint_variables()`, so loading a checkpoint is a name lookup, not a positional guess.
"""

import keras
import numpy as np
import tensorflow as tf

SUPPORTED_NUM_CLASSES = (400, 600)
MIN_FRAMES = 9
INPUT_SIZE = 224
BN_EPSILON = 1e-3

# (block name, (b0, b1a, b1b, b2a, b2b, b3)) in network order; the string entries are max-pools between blocks.
_MIXED_SPECS = (
    ("Mixed_3b", (64, 96, 128, 16, 32, 32)),
    ("Mixed_3c", (128, 128, 192, 32, 96, 64)),
    "MaxPool3d_4a_3x3",
    ("Mixed_4b", (192, 96, 208, 16, 48, 64)),
    ("Mixed_4c", (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", (128, 128, 256, 24, 64, 64)),
    ("Mixed_4e", (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", (256, 160, 320, 32, 128, 128)),
    "MaxPool3d_5a_2x2",
    ("Mixed_5b", (256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", (384, 192, 384, 48, 128, 128)),
)

# Max-pool (window, strides), all SAME padding, [T, H, W] order.
_POOLS = {
    "MaxPool3d_2a_3x3": ((1, 3, 3), (1, 2, 2)),
    "MaxPool3d_3a_3x3": ((1, 3, 3), (1, 2, 2)),
    "MaxPool3d_4a_3x3": ((3, 3, 3), (2, 2, 2)),
    "MaxPool3d_5a_2x2": ((2, 2, 2), (2, 2, 2)),
}

# Ordered endpoint names, as in kinetics-i3d (`Logits` is the time-averaged logits).
ENDPOINTS = ("Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2b_1x1", "Conv3d_2c_3x3", "MaxPool3d_3a_3x3",
             "Mixed_3b", "Mixed_3c", "MaxPool3d_4a_3x3", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e",
             "Mixed_4f", "MaxPool3d_5a_2x2", "Mixed_5b", "Mixed_5c", "Logits")


@keras.saving.register_keras_serializable(package="trivd_gan")
class Unit3D(keras.layers.Layer):
  """Conv3D (SAME) -> optional BatchNorm (offset only) -> optional ReLU, as kinetics-i3d's Unit3D.

  Input [B, T, H, W, C_in] float32; output [B, T', H', W', filters] float32.
  """

  def __init__(self, filters, kernel_size=(1, 1, 1), strides=(1, 1, 1), use_batch_norm=True,
               activation=True, use_bias=False, scope="", **kwargs):
    super().__init__(**kwargs)
    self.filters = int(filters)
    self.kernel_size = tuple(kernel_size)
    self.strides = tuple(strides)
    self.use_batch_norm = bool(use_batch_norm)
    self.activation = bool(activation)
    self.use_bias = bool(use_bias)
    # TF1 variable scope of this unit inside `inception_i3d`, e.g. "Mixed_3b/Branch_1/Conv3d_0b_3x3".
    self.scope = scope
    self.conv = keras.layers.Conv3D(
        self.filters, self.kernel_size, strides=self.strides, padding="same", use_bias=self.use_bias,
        name="conv_3d")
    self.bn = (keras.layers.BatchNormalization(epsilon=BN_EPSILON, center=True, scale=False,
                                               momentum=0.999, name="batch_norm")
               if self.use_batch_norm else None)

  def build(self, input_shape):
    self.conv.build(input_shape)
    if self.bn is not None:
      self.bn.build(tuple(input_shape[:-1]) + (self.filters,))
    self.built = True

  def call(self, inputs, training=False):
    x = self.conv(inputs)
    if self.bn is not None:
      x = self.bn(x, training=training)
    if self.activation:
      x = tf.nn.relu(x)
    return x

  def checkpoint_variables(self):
    """{TF1 name relative to `inception_i3d/`: keras variable}; BN tensors use their [C] shape."""
    out = {f"{self.scope}/conv_3d/w": self.conv.kernel}
    if self.use_bias:
      out[f"{self.scope}/conv_3d/b"] = self.conv.bias
    if self.bn is not None:
      out[f"{self.scope}/batch_norm/beta"] = self.bn.beta
      out[f"{self.scope}/batch_norm/moving_mean"] = self.bn.moving_mean
      out[f"{self.scope}/batch_norm/moving_variance"] = self.bn.moving_variance
    return out

  def get_config(self):
    config = super().get_config()
    config.update(filters=self.filters, kernel_size=self.kernel_size, strides=self.strides,
                  use_batch_norm=self.use_batch_norm, activation=self.activation, use_bias=self.use_bias,
                  scope=self.scope)
    return config


@keras.saving.register_keras_serializable(package="trivd_gan")
class MixedBlock(keras.layers.Layer):
  """Inception block: four branches concatenated on channels.

  Branch_0: 1x1; Branch_1: 1x1 -> 3x3x3; Branch_2: 1x1 -> 3x3x3; Branch_3: 3x3x3 max-pool (stride 1) -> 1x1.
  Input [B, T, H, W, C_in]; output [B, T, H, W, b0 + b1b + b2b + b3].
  """

  def __init__(self, channels, block_name, **kwargs):
    kwargs.setdefault("name", block_name)
    super().__init__(**kwargs)
    self.channels = tuple(int(c) for c in channels)
    self.block_name = block_name
    b0, b1a, b1b, b2a, b2b, b3 = self.channels
    # Quirk of the released checkpoints: Mixed_5b's Branch_2 second conv is named Conv3d_0a_3x3.
    b2_second = "Conv3d_0a_3x3" if block_name == "Mixed_5b" else "Conv3d_0b_3x3"
    s = block_name
    self.b0 = Unit3D(b0, scope=f"{s}/Branch_0/Conv3d_0a_1x1", name="b0_0a")
    self.b1a = Unit3D(b1a, scope=f"{s}/Branch_1/Conv3d_0a_1x1", name="b1_0a")
    self.b1b = Unit3D(b1b, (3, 3, 3), scope=f"{s}/Branch_1/Conv3d_0b_3x3", name="b1_0b")
    self.b2a = Unit3D(b2a, scope=f"{s}/Branch_2/Conv3d_0a_1x1", name="b2_0a")
    self.b2b = Unit3D(b2b, (3, 3, 3), scope=f"{s}/Branch_2/{b2_second}", name="b2_0b")
    self.b3 = Unit3D(b3, scope=f"{s}/Branch_3/Conv3d_0b_1x1", name="b3_0b")
    self.units = (self.b0, self.b1a, self.b1b, self.b2a, self.b2b, self.b3)

  def build(self, input_shape):
    input_shape = tuple(input_shape)
    mid = lambda c: input_shape[:-1] + (c,)  # noqa: E731
    self.b0.build(input_shape)
    self.b1a.build(input_shape)
    self.b1b.build(mid(self.channels[1]))
    self.b2a.build(input_shape)
    self.b2b.build(mid(self.channels[3]))
    self.b3.build(input_shape)
    self.built = True

  def call(self, inputs, training=False):
    x0 = self.b0(inputs, training=training)
    x1 = self.b1b(self.b1a(inputs, training=training), training=training)
    x2 = self.b2b(self.b2a(inputs, training=training), training=training)
    pooled = tf.nn.max_pool3d(inputs, ksize=(1, 3, 3, 3, 1), strides=(1, 1, 1, 1, 1), padding="SAME")
    x3 = self.b3(pooled, training=training)
    return tf.concat([x0, x1, x2, x3], axis=-1)

  def checkpoint_variables(self):
    out = {}
    for unit in self.units:
      out.update(unit.checkpoint_variables())
    return out

  def get_config(self):
    config = super().get_config()
    config.update(channels=self.channels, block_name=self.block_name)
    return config


@keras.saving.register_keras_serializable(package="trivd_gan")
class I3D(keras.Model):
  """RGB Inflated Inception-v1 returning time-averaged pre-softmax logits.

  Call: videos [B, T, 224, 224, 3] float32 in [-1, 1], T >= 9 -> logits [B, num_classes] float32 (pre-softmax,
  averaged over the temporal positions left after the 2x7x7 average pool), or (logits, endpoints dict) with
  `return_endpoints=True`. Use `trivd_gan.evaluation.fvd.i3d_preprocess` to get the input from model videos.
  """

  def __init__(self, num_classes=400, dropout_rate=0.0, **kwargs):
    kwargs.setdefault("name", "inception_i3d")
    super().__init__(**kwargs)
    if num_classes not in SUPPORTED_NUM_CLASSES:
      raise ValueError(f"I3D num_classes must be one of {SUPPORTED_NUM_CLASSES} (Kinetics-400 / Kinetics-600 "
                       f"checkpoints), got {num_classes}.")
    self.num_classes = int(num_classes)
    # The FVD reference runs I3D with keep_prob 1.0, so dropout is off by default.
    self.dropout_rate = float(dropout_rate)
    self.conv1a = Unit3D(64, (7, 7, 7), (2, 2, 2), scope="Conv3d_1a_7x7", name="Conv3d_1a_7x7")
    self.conv2b = Unit3D(64, scope="Conv3d_2b_1x1", name="Conv3d_2b_1x1")
    self.conv2c = Unit3D(192, (3, 3, 3), scope="Conv3d_2c_3x3", name="Conv3d_2c_3x3")
    self.mixed = [MixedBlock(spec[1], spec[0]) for spec in _MIXED_SPECS if not isinstance(spec, str)]
    self.dropout = keras.layers.Dropout(self.dropout_rate)
    self.logits_conv = Unit3D(self.num_classes, use_batch_norm=False, activation=False, use_bias=True,
                              scope="Logits/Conv3d_0c_1x1", name="Logits_Conv3d_0c_1x1")

  def build(self, input_shape=None):
    # Kernel shapes depend only on channel counts, so build from shapes: no forward pass (seconds on CPU).
    if self.built:
      return
    shape = lambda c: (None, None, None, None, c)  # noqa: E731
    self.conv1a.build(shape(3))
    self.conv2b.build(shape(64))
    self.conv2c.build(shape(64))
    channels = 192
    for block in self.mixed:
      block.build(shape(channels))
      channels = block.channels[0] + block.channels[2] + block.channels[4] + block.channels[5]
    self.logits_conv.build(shape(channels))
    self.built = True

  @staticmethod
  def _max_pool(x, name):
    window, strides = _POOLS[name]
    return tf.nn.max_pool3d(x, ksize=(1,) + window + (1,), strides=(1,) + strides + (1,), padding="SAME")

  def call(self, inputs, training=False, return_endpoints=False):
    x = tf.convert_to_tensor(inputs, tf.float32)
    shape = x.shape
    if shape.rank != 5 or shape[-1] != 3:
      raise ValueError(f"I3D expects videos [B, T, 224, 224, 3], got shape {shape}.")
    if shape[1] is not None and shape[1] < MIN_FRAMES:
      raise ValueError(f"I3D needs at least {MIN_FRAMES} frames (the 2x7x7 average pool after three temporal "
                       f"stride-2 stages), got T={shape[1]}.")
    if (shape[2] is not None and shape[2] != INPUT_SIZE) or (shape[3] is not None and shape[3] != INPUT_SIZE):
      raise ValueError(f"I3D expects {INPUT_SIZE}x{INPUT_SIZE} frames, got {shape[2]}x{shape[3]}: resize "
                       "with trivd_gan.evaluation.fvd.i3d_preprocess first.")
    ends = {}
    x = ends["Conv3d_1a_7x7"] = self.conv1a(x, training=training)
    x = ends["MaxPool3d_2a_3x3"] = self._max_pool(x, "MaxPool3d_2a_3x3")
    x = ends["Conv3d_2b_1x1"] = self.conv2b(x, training=training)
    x = ends["Conv3d_2c_3x3"] = self.conv2c(x, training=training)
    x = ends["MaxPool3d_3a_3x3"] = self._max_pool(x, "MaxPool3d_3a_3x3")
    blocks = iter(self.mixed)
    for spec in _MIXED_SPECS:
      if isinstance(spec, str):
        x = ends[spec] = self._max_pool(x, spec)
      else:
        x = ends[spec[0]] = next(blocks)(x, training=training)
    x = tf.nn.avg_pool3d(x, ksize=(1, 2, 7, 7, 1), strides=(1, 1, 1, 1, 1), padding="VALID")
    x = self.dropout(x, training=training)
    x = self.logits_conv(x, training=training)  # [B, T'', 1, 1, num_classes]
    logits = tf.reduce_mean(tf.squeeze(x, axis=[2, 3]), axis=1)
    ends["Logits"] = logits
    if return_endpoints:
      return logits, ends
    return logits

  def checkpoint_variables(self):
    """{TF1 name relative to `inception_i3d/`: keras variable} for all 230 variables (builds if needed)."""
    if not self.built:
      self.build()
    out = {}
    for unit in (self.conv1a, self.conv2b, self.conv2c):
      out.update(unit.checkpoint_variables())
    for block in self.mixed:
      out.update(block.checkpoint_variables())
    out.update(self.logits_conv.checkpoint_variables())
    return out

  def get_config(self):
    config = super().get_config()
    config.update(num_classes=self.num_classes, dropout_rate=self.dropout_rate)
    return config


def randomize_weights(model, seed=0):
  """Deterministic random weights (He-normal kernels, small BN statistics) for tests and benchmarks.

  Numbers computed with these weights are NOT FVDs: callers must label them as random-embedder results.
  """
  rng = np.random.default_rng(seed)
  for name, var in sorted(model.checkpoint_variables().items()):
    shape = tuple(var.shape)
    if name.endswith("/w"):
      fan_in = int(np.prod(shape[:-1]))
      value = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
    elif name.endswith("/moving_variance"):
      value = rng.uniform(0.5, 1.5, shape)
    else:  # beta, moving_mean, logits bias
      value = rng.normal(0.0, 0.1, shape)
    var.assign(value.astype(np.float32))
  return model
