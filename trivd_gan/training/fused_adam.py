"""Adam (paper E.2: beta1 = 0, beta2 = 0.999) whose per-variable update is one fused TensorFlow kernel.

`keras.optimizers.Adam` writes each variable's update as ~39 elementwise graph ops; with two D updates and one
G update per training step that is ~13,000 of the demo step graph's ~97,000 ops, all traced in Python and then
optimized by Grappler before the first step. `FusedAdam` computes the same update with `ResourceApplyAdam`:
  m <- m + (1 - beta1) (g - m);  v <- v + (1 - beta2) (g^2 - v);
  w <- w - lr sqrt(1 - beta2^t) / (1 - beta1^t) . m / (sqrt(v) + epsilon),  t = iterations + 1,
i.e. Keras' formula, on Keras' own slot variables (`adam/..._momentum`, `..._velocity`), so checkpoints written
by either optimizer restore into the other. Everything else (learning-rate schedules, gradient all-reduce across
replicas, the `iterations` counter) is Keras'.
"""

import keras
import tensorflow as tf

from trivd_gan import compat


@keras.saving.register_keras_serializable(package="trivd_gan")
class FusedAdam(keras.optimizers.Adam):
  """`keras.optimizers.Adam` with a fused per-variable update (TensorFlow backend, dense gradients)."""

  def update_step(self, gradient, variable, learning_rate):
    if self.amsgrad or isinstance(gradient, tf.IndexedSlices):
      return super().update_step(gradient, variable, learning_rate)
    dtype = variable.dtype
    t = tf.cast(self.iterations + 1, dtype)
    beta_1 = tf.cast(self.beta_1, dtype)
    beta_2 = tf.cast(self.beta_2, dtype)
    m, v = compat.adam_slots(self, variable)
    # Under a tf.distribute strategy this runs inside `extended.update`: each handle is this device's copy.
    return tf.raw_ops.ResourceApplyAdam(
        var=variable.handle, m=m.handle, v=v.handle,
        beta1_power=tf.pow(beta_1, t), beta2_power=tf.pow(beta_2, t), lr=tf.cast(learning_rate, dtype),
        beta1=beta_1, beta2=beta_2, epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype),
        use_locking=False)
