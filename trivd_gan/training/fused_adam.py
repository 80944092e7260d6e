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

  _step_scalars = None  # {(dtype, device): scalars} while `apply` runs in a graph; None otherwise

  def apply(self, grads, trainable_variables=None):
    # One update's scalars (t, beta powers, ...) are the same for every variable: traced once per dtype and
    # device instead of ~11 ops per variable (~1,650 fewer ops in the demo's G update: faster graph building).
    # Per `apply` call, never across calls: `iterations` moves between two updates in one graph.
    self._step_scalars = None if tf.executing_eagerly() else {}
    try:
      return super().apply(grads, trainable_variables)
    finally:
      self._step_scalars = None

  def _scalars(self, dtype, device, learning_rate):
    """(beta1^t, beta2^t, lr, beta1, beta2, epsilon) in `dtype`, t = iterations + 1."""
    key = (dtype, device)
    if self._step_scalars is not None and key in self._step_scalars:
      return self._step_scalars[key]
    t = tf.cast(self.iterations + 1, dtype)
    beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
    scalars = (tf.pow(beta_1, t), tf.pow(beta_2, t), tf.cast(learning_rate, dtype), beta_1, beta_2,
               tf.cast(self.epsilon, dtype))
    if self._step_scalars is not None:
      self._step_scalars[key] = scalars
    return scalars

  def update_step(self, gradient, variable, learning_rate):
    if self.amsgrad or isinstance(gradient, tf.IndexedSlices):
      return super().update_step(gradient, variable, learning_rate)
    dtype = variable.dtype
    # Keyed by the variable's device too: under a tf.distribute strategy this runs inside `extended.update`,
    # once per replica's copy, and each copy's update reads scalars made on its own device.
    beta1_power, beta2_power, lr, beta_1, beta_2, epsilon = self._scalars(dtype, variable.device, learning_rate)
    m, v = compat.adam_slots(self, variable)
    # Each handle is this device's copy.
    return tf.raw_ops.ResourceApplyAdam(
        var=variable.handle, m=m.handle, v=v.handle, beta1_power=beta1_power, beta2_power=beta2_power, lr=lr,
        beta1=beta_1, beta2=beta_2, epsilon=epsilon, grad=tf.cast(gradient, dtype), use_locking=False)
