"""FLOPs of a traced TensorFlow graph, and the device's measured matmul peak: the model FLOPs utilization (MFU)
of `python -m trivd_gan.bench` is `graph_flops(step graph) / step time / matmul_peak_flops(dtype)`."""

import time

from absl import logging
import tensorflow as tf

from trivd_gan import compat


def matmul_peak_flops(n=2048, reps=10, dtype="float32"):
  """Measured FLOP/s of an [n, n] x [n, n] tf.matmul in `dtype` on the default device (2 n^3 FLOPs each)."""
  a = tf.random.normal([n, n], dtype=dtype)
  b = tf.random.normal([n, n], dtype=dtype)

  @tf.function(autograph=False)  # a plain Python loop: nothing to convert
  def run(a, b):
    c = a
    for _ in range(reps):
      c = tf.matmul(c, b) * 1e-3
    return tf.reduce_sum(c)
  run(a, b).numpy()
  best = float("inf")
  for _ in range(3):
    t = time.perf_counter()
    run(a, b).numpy()
    best = min(best, time.perf_counter() - t)
  return 2.0 * n ** 3 * reps / best


def graph_flops(graph):
  """FLOPs of one run of `graph`: its own ops plus, for every op that runs a function, that function's FLOPs.

  A function called twice (e.g. the jit-compiled D gradients, once per D update) counts twice; nested calls
  recurse; a loop or branch body counts once. tf.compat.v1.profiler "float_ops" counts the ops of one graph only
  (registered op FLOP statistics).
  """
  functions = {}

  def collect(g):
    for name, fn in compat.graph_functions(g).items():
      if name not in functions and hasattr(fn, "graph"):
        functions[name] = fn
        collect(fn.graph)
  collect(graph)
  opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
  opts["output"] = "none"
  memo = {}

  def flops(g):
    if g.name in memo:
      return memo[g.name]
    try:
      total = tf.compat.v1.profiler.profile(g, options=opts).total_float_ops
    except Exception as e:  # pylint: disable=broad-except
      logging.warning("FLOP count of %s failed: %s", g.name, e)
      total = 0
    for op in g.get_operations():
      for attr in op.node_def.attr.values():  # call ops' "f", while loops' "body", branches of If / Case
        for name in [attr.func.name] + [f.name for f in attr.list.func]:
          if name in functions:
            total += flops(functions[name].graph)
    memo[g.name] = total
    return total
  return int(flops(graph))
