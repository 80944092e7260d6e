"""trivd_gan.compat: each private TensorFlow / Keras use works, on the versions it was checked on."""

import ast
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from trivd_gan import compat
from trivd_gan.training import fused_adam

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _major_minor(version):
  return ".".join(version.split(".")[:2])


def test_the_installed_versions_are_the_checked_ones():
  installed = {"tensorflow": _major_minor(tf.__version__), "keras": _major_minor(keras.__version__)}
  assert installed == compat.CHECKED_ON, (
      f"trivd_gan/compat.py's private TensorFlow/Keras uses were checked on {compat.CHECKED_ON}; this is "
      f"{installed}. Run this file's other tests, fix what fails in compat.py, then update CHECKED_ON.")


def test_op_determinism_can_be_read_and_set_both_ways():
  assert compat.op_determinism_enabled() in (False, True)
  before = compat.op_determinism_enabled()
  try:
    compat.set_op_determinism(True)
    assert compat.op_determinism_enabled()
    compat.set_op_determinism(False)
    assert not compat.op_determinism_enabled()
  finally:
    compat.set_op_determinism(before)


def test_flatten_layers_recurses_into_attribute_sublayers():
  class Outer(keras.layers.Layer):

    def __init__(self):
      super().__init__()
      self.inner = keras.Sequential([keras.layers.Dense(2), keras.layers.Dense(3)])

    def call(self, x):
      return self.inner(x)

  outer = Outer()
  outer(tf.zeros([1, 4]))
  layers = compat.flatten_layers(outer)
  assert layers[0] is outer
  assert sum(isinstance(layer, keras.layers.Dense) for layer in layers) == 2


def test_adam_slots_are_the_moments_adam_updates():
  variable = tf.Variable([1.0, -2.0])
  optimizer = keras.optimizers.Adam(0.1, beta_1=0.5)
  optimizer.build([variable])
  optimizer.apply_gradients([(tf.constant([0.5, 1.0]), variable)])
  m, v = compat.adam_slots(optimizer, variable)
  # One step from zero moments: m = (1 - beta1) g, v = (1 - beta2) g^2.
  np.testing.assert_allclose(m.numpy(), [0.25, 0.5], rtol=1e-6)
  np.testing.assert_allclose(v.numpy(), [0.00025, 0.001], rtol=1e-5)
  fused = fused_adam.FusedAdam(0.1, beta_1=0.5)
  other = tf.Variable([1.0, -2.0])
  fused.build([other])
  fused.apply_gradients([(tf.constant([0.5, 1.0]), other)])
  np.testing.assert_allclose(other.numpy(), variable.numpy(), rtol=1e-6)


def test_release_iterator_destroys_only_live_tf_data_iterators():
  iterator = iter(tf.data.Dataset.range(3))
  assert next(iterator).numpy() == 0
  assert not compat.release_iterator(object())
  assert compat.release_iterator(iterator)
  assert not compat.release_iterator(iterator)  # already released
  with pytest.raises(AttributeError):
    next(iterator)


def test_graph_functions_lists_the_functions_a_graph_calls():
  inner = tf.function(lambda x: x * 2.0, autograph=False)
  outer = tf.function(lambda x: inner(x) + 1.0, autograph=False).get_concrete_function(tf.zeros([2]))
  functions = compat.graph_functions(outer.graph)
  assert len(functions) == 1
  (function,) = functions.values()
  assert any(op.type == "Mul" for op in function.graph.get_operations())


def test_in_xla_context_is_true_only_while_tracing_for_xla():
  seen = {}

  def record(name):
    seen[name] = compat.in_xla_context()
    return tf.zeros([])

  tf.function(lambda: record("jit"), jit_compile=True, autograph=False)()
  tf.function(lambda: record("graph"), autograph=False)()
  record("eager")
  assert seen == {"jit": True, "graph": False, "eager": False}


def test_parse_profiler_trace_reads_a_profile_written_by_tensorflow(tmp_path):
  f = tf.function(lambda x: tf.matmul(x, x))
  x = tf.ones([8, 8])
  f(x)
  tf.profiler.experimental.start(str(tmp_path))
  f(x)
  tf.profiler.experimental.stop()
  (path,) = tmp_path.rglob("*.xplane.pb")
  space = compat.parse_profiler_trace(path.read_bytes())
  names = {m.name for plane in space.planes for m in plane.event_metadata.values()}
  assert any(name.endswith("MatMul") for name in names), sorted(names)[:50]


def test_no_private_tensorflow_or_keras_use_outside_compat():
  bad = []
  for path in sorted((ROOT / "trivd_gan").rglob("*.py")):
    if path.name == "compat.py":
      continue
    text = path.read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(text)):
      if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(
          ("tensorflow.python", "tensorflow.tsl", "keras.src")):
        bad.append(f"{path.relative_to(ROOT)}: from {node.module} import ...")
    for name in ("._flatten_layers", "_iterator_resource", "._get_variable_index", "._momentums",
                 "._velocities", "._functions"):
      if name in text:
        bad.append(f"{path.relative_to(ROOT)}: {name}")
  assert not bad, "private TensorFlow/Keras uses belong in trivd_gan/compat.py:\n" + "\n".join(bad)


def test_grappler_off_instantiates_the_functions_of_the_block_unoptimized():
  from tensorflow.python.eager import context  # pylint: disable=g-direct-tensorflow-import

  def optimized_ops(fn, x):  # the op types of the graphs the runtime instantiated for this call (new ones only)
    context.enable_run_metadata()
    try:
      fn(x)
      metadata = context.export_run_metadata()
    finally:
      context.disable_run_metadata()
    return [node.op for graph in metadata.function_graphs for node in graph.post_optimization_graph.node]

  @tf.function
  def f(x):
    return x + tf.constant(2.0) * tf.constant(3.0)

  x = tf.ones([2])
  assert "Mul" not in optimized_ops(f, x)  # Grappler folded the constant product
  with compat.grappler_off():
    assert "Mul" in optimized_ops(f, x)  # a second instantiation, unoptimized
  assert optimized_ops(f, x) == []  # outside the block again: the first (optimized) instantiation is reused
