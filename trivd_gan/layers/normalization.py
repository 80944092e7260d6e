"""Batch normalization with cross-replica statistics, standing statistics, and BigGAN's conditional variant.

Paper E.2 and section 4.1: batch statistics are computed across all replicas ("cross-replica batch
statistics", as in BigGAN); the batch-norm layers of G are conditional (scale and offset are affine
functions of the 256-d conditioning vector [z; class embedding]) except the last one; evaluation uses
"standing statistics" (see `trivd_gan.inference.apply_standing_statistics`), which this layer supports through
its `momentum` variable: momentum = n / (n + 1) turns the moving average into a cumulative average.
"""

import keras
import tensorflow as tf

from trivd_gan.layers import spectral_norm


@keras.saving.register_keras_serializable(package="trivd_gan")
class BatchNorm(keras.layers.Layer):
  """Batch normalization over the last axis with synchronized (cross-replica) moments.

  Inputs [B, ..., C]. With `per_time_step=True` and 5-D inputs [B, T, H, W, C], each time step is
  normalized with its own statistics (DVD-GAN-FP's G applies its batch norms "independently for each time
  step", appendix A); the moving statistics are then [T, C].

  In training the batch moments are used and the moving statistics are updated as
  moving <- momentum * moving + (1 - momentum) * batch; otherwise the moving statistics are used.
  `momentum` is a (non-trainable) variable so that `standing_stats` can set it to n / (n + 1).
  """

  def __init__(self, momentum=0.99, epsilon=1e-4, center=True, scale=True, per_time_step=False,
               synchronized=True, **kwargs):
    super().__init__(**kwargs)
    if not 0.0 <= momentum < 1.0:
      raise ValueError(f"momentum must be in [0, 1), got {momentum}.")
    self.initial_momentum = float(momentum)
    self.epsilon = float(epsilon)
    self.center = center
    self.scale = scale
    self.per_time_step = per_time_step
    self.synchronized = synchronized

  def build(self, input_shape):
    channels = int(input_shape[-1])
    if self.per_time_step:
      if len(input_shape) != 5 or input_shape[1] is None:
        raise ValueError(f"per_time_step needs static [B, T, H, W, C] inputs, got shape {input_shape}.")
      stat_shape = (int(input_shape[1]), channels)
    else:
      stat_shape = (channels,)
    self._reduce_axes = [a for a in range(len(input_shape) - 1) if not (self.per_time_step and a == 1)]
    # Broadcast shape of the statistics against the input.
    self._stat_broadcast = [1] * len(input_shape)
    self._stat_broadcast[-1] = channels
    if self.per_time_step:
      self._stat_broadcast[1] = stat_shape[0]
    self.gamma = self.add_weight(name="gamma", shape=(channels,), initializer="ones") if self.scale else None
    self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros") if self.center else None
    # Every replica computes the same synchronized moments, so averaging the replicas' updates is exact.
    self.moving_mean = self.add_weight(name="moving_mean", shape=stat_shape, initializer="zeros",
                                       trainable=False, aggregation="mean", autocast=False)
    self.moving_variance = self.add_weight(name="moving_variance", shape=stat_shape, initializer="ones",
                                           trainable=False, aggregation="mean", autocast=False)
    # Statistics stay float32 under mixed precision (autocast=False): they are averages of many batches.
    self.momentum = self.add_weight(name="momentum", shape=(), trainable=False,
                                    aggregation="only_first_replica", autocast=False,
                                    initializer=keras.initializers.Constant(self.initial_momentum))

  def statistics(self, inputs, training=False):
    """(mean, 1 / sqrt(variance + epsilon)): float32, shaped to broadcast against `inputs` ([1, T, 1, 1, C] per
    time step, else [1, ..., 1, C]). The batch moments in training (which also update the moving statistics),
    else the moving statistics."""
    if training:
      # One replica has nothing to synchronize with: the all-reduce path would only add ops (three all-reduces
      # with their custom gradients, a ones_like count) to every step graph.
      replica = tf.distribute.get_replica_context()
      synchronized = self.synchronized and replica is not None and replica.num_replicas_in_sync > 1
      mean, variance = keras.ops.moments(tf.cast(inputs, tf.float32), axes=self._reduce_axes,
                                         synchronized=synchronized)
      m = tf.convert_to_tensor(self.momentum)
      self.moving_mean.assign(m * self.moving_mean + (1.0 - m) * mean)
      self.moving_variance.assign(m * self.moving_variance + (1.0 - m) * variance)
    else:
      mean, variance = tf.convert_to_tensor(self.moving_mean), tf.convert_to_tensor(self.moving_variance)
    mean = tf.reshape(mean, self._stat_broadcast)
    return mean, tf.math.rsqrt(tf.reshape(variance, self._stat_broadcast) + self.epsilon)

  def call(self, inputs, training=False):
    mean, inverse_std = self.statistics(inputs, training)
    # gamma and beta are read in the compute dtype under mixed precision: the statistics stay float32.
    scale = inverse_std * tf.cast(self.gamma, tf.float32) if self.gamma is not None else inverse_std
    offset = -mean * scale
    if self.beta is not None:
      offset += tf.cast(self.beta, tf.float32)
    return scale_and_shift(inputs, scale, offset)

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self):
    return {**super().get_config(), "momentum": self.initial_momentum, "epsilon": self.epsilon,
            "center": self.center, "scale": self.scale, "per_time_step": self.per_time_step,
            "synchronized": self.synchronized}


@keras.saving.register_keras_serializable(package="trivd_gan")
class ConditionalBatchNorm(keras.layers.Layer):
  """BigGAN conditional batch norm (paper E.2): y = BN(x) * (1 + gain(cond)) + bias(cond).

  gain and bias are spectrally normalized linear maps of the conditioning vector (appendix A: every linear
  layer of G has spectral norm except the first embedding). Inputs: x [B, ..., C] and cond [B, D_cond]
  (256-d in the paper: z and the class embedding); output like x.
  """

  def __init__(self, momentum=0.99, epsilon=1e-4, per_time_step=False, synchronized=True, **kwargs):
    super().__init__(**kwargs)
    self.momentum = momentum
    self.epsilon = epsilon
    self.per_time_step = per_time_step
    self.synchronized = synchronized

  def build(self, inputs_shape, cond_shape=None):
    input_shape = inputs_shape
    channels = int(input_shape[-1])
    self.bn = BatchNorm(momentum=self.momentum, epsilon=self.epsilon, center=False, scale=False,
                        per_time_step=self.per_time_step, synchronized=self.synchronized, name="bn")
    self.bn.build(input_shape)
    self.gain = spectral_norm.SNDense(channels, name="gain")
    self.bias = spectral_norm.SNDense(channels, name="bias")
    if cond_shape is not None:
      self.gain.build(cond_shape)
      self.bias.build(cond_shape)
    self._rank = len(input_shape)

  def call(self, inputs, cond, training=False):
    mean, inverse_std = self.bn.statistics(inputs, training=training)
    # [B, C] -> [B, 1, ..., 1, C] so that one conditioning vector modulates every position and time step.
    shape = [-1] + [1] * (self._rank - 2) + [int(inputs.shape[-1])]
    gain = tf.reshape(1.0 + tf.cast(self.gain(cond, training=training), tf.float32), shape)
    bias = tf.reshape(tf.cast(self.bias(cond, training=training), tf.float32), shape)
    scale = inverse_std * gain  # [B, T or 1, 1, 1, C]
    return scale_and_shift(inputs, scale, bias - mean * scale)

  def get_config(self):
    return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon,
            "per_time_step": self.per_time_step, "synchronized": self.synchronized}


def scale_and_shift(inputs, scale, offset):
  """inputs * scale + offset, computed in float32, in inputs' dtype: a batch norm as one multiply and one add.

  (x - mean) / std * gamma + beta = x * scale + offset with scale = gamma / std and offset = beta - mean * scale
  on the (small) statistics: two passes over the activations instead of four, forward and in the gradient.
  """
  return tf.cast(tf.cast(inputs, tf.float32) * scale + offset, inputs.dtype)
