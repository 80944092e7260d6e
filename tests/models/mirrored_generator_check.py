"""Run by test_generator.py in a subprocess: G forward/backward under MirroredStrategy on 2 logical CPUs.

This is also the suite's check that G's gradient, traced in a graph as the trainer traces it, reaches every
trainable variable (TSRU_p; the other units are checked eagerly in test_generator.py).

Logical devices must be configured before TensorFlow initializes its devices, hence a separate process.
Prints one JSON line with the checks' numbers.
"""

import json

import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from trivd_gan.models import generator  # pylint: disable=g-import-not-at-top,wrong-import-position


def main():
  strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
  kwargs = dict(channel_multiplier=1, recurrent_unit="tsru_p", num_context_frames=1, num_predicted_frames=2,
                resolution=32)
  with strategy.scope():
    g = generator.Generator(**kwargs).build_for_shapes()
  single = generator.Generator(**kwargs).build_for_shapes()
  for a, b in zip(single.weights, g.weights):
    a.assign(b.numpy())
  context = tf.random.stateless_uniform([4, 1, 32, 32, 3], seed=[1, 2], minval=-1, maxval=1)
  z = tf.random.stateless_normal([4, 128], seed=[3, 4])

  without_gradient = set()  # variables the traced gradient does not reach (known at tracing time)

  @tf.function(autograph=False)  # as the trainer traces its steps
  def step(ctx, zz):
    def replica_fn(c, lat):
      with tf.GradientTape() as tape:
        frames = g(c, lat, training=True)
        loss = tf.reduce_mean(frames ** 2)
      grads = tape.gradient(loss, g.trainable_variables)
      without_gradient.update(v.path for v, gr in zip(g.trainable_variables, grads) if gr is None)
      return frames, tf.add_n([tf.reduce_sum(tf.abs(gr)) for gr in grads if gr is not None])
    return strategy.run(replica_fn, args=(ctx, zz))

  def split(x):
    return strategy.experimental_distribute_values_from_function(
        lambda ctx: x[ctx.replica_id_in_sync_group * 2:(ctx.replica_id_in_sync_group + 1) * 2])

  frames, grad_norm = step(split(context), split(z))
  distributed = np.concatenate([f.numpy() for f in strategy.experimental_local_results(frames)])
  reference = single(context, z, training=True).numpy()
  bn = g.stage_blocks[0][0].bn1.bn
  replica_means = [v.numpy() for v in strategy.experimental_local_results(bn.moving_mean.value)]
  single_bn = single.stage_blocks[0][0].bn1.bn
  print(json.dumps({
      "max_output_difference": float(np.abs(distributed - reference).max()),
      "replica_moving_mean_difference": float(np.abs(replica_means[0] - replica_means[1]).max()),
      "moving_mean_vs_single_device": float(np.abs(replica_means[0] - single_bn.moving_mean.numpy()).max()),
      "grad_norms": [float(x.numpy()) for x in strategy.experimental_local_results(grad_norm)],
      "variables_without_gradient": sorted(without_gradient),
      "output_shape": list(distributed.shape), "max_abs_output": float(np.abs(distributed).max()),
  }))


if __name__ == "__main__":
  main()
