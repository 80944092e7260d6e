"""FusedAdam = keras.optimizers.Adam (same updates, same slots, checkpoints interchangeable), with fewer ops."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import keras
from trivd_gan.training import fused_adam

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _run(optimizer_cls, steps, beta_1, graph):
  rng = np.random.default_rng(0)
  variables = [keras.Variable(rng.normal(size=shape).astype(np.float32), name=f"w{i}")
               for i, shape in enumerate([(3, 4), (5,), (2, 2, 3)])]
  grads = [[tf.constant(rng.normal(size=v.shape).astype(np.float32)) for v in variables] for _ in range(steps)]
  optimizer = optimizer_cls(learning_rate=1e-2, beta_1=beta_1, beta_2=0.999, epsilon=1e-8)
  optimizer.build(variables)
  apply = lambda g: optimizer.apply_gradients(zip(g, variables))
  if graph:
    apply = tf.function(apply, autograph=False)
  for g in grads:
    apply(g)
  return optimizer, variables


@pytest.mark.parametrize("beta_1", [0.0, 0.9])  # 0: the paper's setting (E.2)
@pytest.mark.parametrize("graph", [False, True])
def test_same_updates_and_slots_as_keras_adam(beta_1, graph):
  keras_opt, keras_vars = _run(keras.optimizers.Adam, 5, beta_1, graph)
  fused_opt, fused_vars = _run(fused_adam.FusedAdam, 5, beta_1, graph)
  for a, b in zip(keras_vars, fused_vars):
    np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-6)
  # The same slot variables in the same order. The optimizers' own names ("adam", "fused_adam_2", ...) carry
  # Keras' process-wide uniquifying counters, which depend on what ran before in the process: not compared.
  slots = lambda optimizer: [v.path.split("/", 1)[1] for v in optimizer.variables]
  assert slots(fused_opt) == slots(keras_opt)
  assert all(v.path.startswith("fused_adam") for v in fused_opt.variables)
  for a, b in zip(keras_opt.variables, fused_opt.variables):
    np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-6)
  assert int(fused_opt.iterations.numpy()) == 5


def test_fewer_graph_ops_than_keras_adam():
  def count(optimizer_cls):
    variables = [keras.Variable(tf.zeros([4, 4])) for _ in range(10)]
    optimizer = optimizer_cls(learning_rate=1e-3, beta_1=0.0)
    optimizer.build(variables)
    fn = tf.function(lambda: optimizer.apply_gradients(zip([tf.ones([4, 4])] * 10, variables)), autograph=False)
    return len(fn.get_concrete_function().graph.get_operations())
  fused, plain = count(fused_adam.FusedAdam), count(keras.optimizers.Adam)
  assert fused < 0.5 * plain, (fused, plain)


def test_update_scalars_are_traced_once_per_update_not_per_variable():
  def count(n):
    variables = [keras.Variable(tf.zeros([4, 4])) for _ in range(n)]
    optimizer = fused_adam.FusedAdam(learning_rate=1e-3, beta_1=0.0)
    optimizer.build(variables)
    fn = tf.function(lambda: optimizer.apply_gradients(zip([tf.ones([4, 4])] * n, variables)), autograph=False)
    return len(fn.get_concrete_function().graph.get_operations())
  per_variable = (count(20) - count(10)) / 10
  assert per_variable <= 5, per_variable  # grad cast, 2 slot handles, the variable's, ResourceApplyAdam


def test_two_updates_in_one_graph_use_each_its_own_step():
  """The shared scalars are per update: a graph applying twice equals two eager updates (t = 1, then 2)."""
  def run(graph):
    variables = [keras.Variable(np.full([3], 1.0, np.float32)),
                 keras.Variable(np.full([2, 2], -1.0, np.float32))]
    optimizer = fused_adam.FusedAdam(learning_rate=0.1, beta_1=0.9, beta_2=0.99)
    optimizer.build(variables)
    def twice():
      optimizer.apply_gradients(zip([tf.fill([3], 0.5), tf.fill([2, 2], 2.0)], variables))
      optimizer.apply_gradients(zip([tf.fill([3], -1.0), tf.fill([2, 2], 0.25)], variables))
    (tf.function(twice, autograph=False) if graph else twice)()
    return [v.numpy() for v in variables] + [int(optimizer.iterations.numpy())]
  graph, eager = run(True), run(False)
  assert graph[-1] == eager[-1] == 2
  for a, b in zip(graph[:-1], eager[:-1]):
    np.testing.assert_allclose(a, b, rtol=1e-6)
  # And both equal Keras' Adam.
  keras_vars = [keras.Variable(np.full([3], 1.0, np.float32)),
                keras.Variable(np.full([2, 2], -1.0, np.float32))]
  keras_opt = keras.optimizers.Adam(learning_rate=0.1, beta_1=0.9, beta_2=0.99)
  keras_opt.apply_gradients(zip([tf.fill([3], 0.5), tf.fill([2, 2], 2.0)], keras_vars))
  keras_opt.apply_gradients(zip([tf.fill([3], -1.0), tf.fill([2, 2], 0.25)], keras_vars))
  for a, b in zip(graph[:-1], keras_vars):
    np.testing.assert_allclose(a, b.numpy(), rtol=1e-5, atol=1e-7)


def test_checkpoint_written_by_keras_adam_restores_into_fused_adam(tmp_path):
  keras_opt, keras_vars = _run(keras.optimizers.Adam, 3, 0.0, False)
  path = tf.train.Checkpoint(optimizer=keras_opt, w=keras_vars).save(str(tmp_path / "ckpt"))
  fused_opt = fused_adam.FusedAdam(learning_rate=1e-2, beta_1=0.0)
  fresh = [keras.Variable(tf.zeros(v.shape)) for v in keras_vars]
  fused_opt.build(fresh)
  tf.train.Checkpoint(optimizer=fused_opt, w=fresh).restore(path).assert_existing_objects_matched()
  for a, b in zip(keras_opt.variables, fused_opt.variables):
    np.testing.assert_array_equal(b.numpy(), a.numpy())


_MIRRORED_CHECK = """
import json, numpy as np, tensorflow as tf
tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                           [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from trivd_gan.training import fused_adam
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
out = {}
for cls in (keras.optimizers.Adam, fused_adam.FusedAdam):
  with strategy.scope():
    w = keras.Variable(np.arange(6, dtype=np.float32).reshape(2, 3))
    optimizer = cls(learning_rate=0.1, beta_1=0.0)
    optimizer.build([w])  # under the scope, before strategy.run (Keras 3 in a custom loop)
  def replica_step():
    ctx = tf.distribute.get_replica_context()
    grad = tf.fill([2, 3], tf.cast(ctx.replica_id_in_sync_group + 1, tf.float32))  # replicas differ: 1 and 2
    optimizer.apply_gradients([(grad, w)])
  step = tf.function(lambda: strategy.run(replica_step), autograph=False)
  for _ in range(3):
    step()
  copies = [v.numpy().tolist() for v in strategy.experimental_local_results(w.value)]
  out[cls.__name__] = copies
print(json.dumps(out))
"""


def test_under_mirrored_strategy_every_copy_gets_the_all_reduced_update():
  env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
  proc = subprocess.run([sys.executable, "-c", _MIRRORED_CHECK], env=env, capture_output=True, text=True,
                        timeout=300, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  out = json.loads(proc.stdout.strip().splitlines()[-1])
  keras_copies, fused_copies = np.array(out["Adam"]), np.array(out["FusedAdam"])
  np.testing.assert_allclose(fused_copies, keras_copies, rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(fused_copies[0], fused_copies[1])  # both replicas' copies stay in sync
  assert not np.allclose(fused_copies[0], np.arange(6).reshape(2, 3))  # and they did move
