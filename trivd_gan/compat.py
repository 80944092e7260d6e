"""Every use of a private TensorFlow or Keras API in trivd_gan, in one place.

Each function below reaches one thing that has no public alias. They were checked on the versions in
`CHECKED_ON` (requirements.txt pins them); `tests/test_compat.py` exercises each one and fails, naming this
module, when the installed TensorFlow or Keras is another version, so that an upgrade re-checks them here
instead of failing somewhere deep in a training run.
"""

import contextlib

import tensorflow as tf
from tensorflow.core.protobuf import config_pb2 as _config_pb2  # pylint: disable=g-direct-tensorflow-import
from tensorflow.python.eager import context as _context  # pylint: disable=g-direct-tensorflow-import
from tensorflow.python.framework import config as _tf_config  # pylint: disable=g-direct-tensorflow-import
from tensorflow.python.ops import control_flow_util as _cf_util  # pylint: disable=g-direct-tensorflow-import

# Major.minor versions these private uses were checked on.
CHECKED_ON = {"tensorflow": "2.21", "keras": "3.15"}


def op_determinism_enabled() -> bool:
  """Whether `tf.config.experimental.enable_op_determinism()` is in force (TF has a setter, no getter)."""
  return _tf_config.is_op_determinism_enabled()


def set_op_determinism(enabled: bool):
  """Turns deterministic ops on or off (TF's public API can only turn them on; tests need both)."""
  if enabled:
    tf.config.experimental.enable_op_determinism()
  else:
    _tf_config.disable_op_determinism()


def flatten_layers(model):
  """Every layer inside `model`, `model` included, depth first (Keras' `Layer._flatten_layers`).

  Keras' public `model.layers` lists direct children only, and custom layers that hold sub-layers as
  attributes (the generator's blocks, conditional batch norms) are not `Model`s whose `layers` would recurse.
  """
  return list(model._flatten_layers(include_self=True, recursive=True))  # pylint: disable=protected-access


def adam_slots(optimizer, variable):
  """(m, v): the Keras Adam slot variables of `variable` (first and second moment estimates).

  Keras 3 keeps them in `_momentums` / `_velocities`, indexed by `_get_variable_index`.
  """
  # pylint: disable=protected-access
  index = optimizer._get_variable_index(variable)
  return optimizer._momentums[index], optimizer._velocities[index]


def release_iterator(obj) -> bool:
  """Destroys the resource of `obj` if it is a live tf.data iterator; returns whether it did.

  The iterator's resource is its private `_iterator_resource`; dropping the last reference runs its destructor
  now. The iterator is unusable afterwards.
  """
  return isinstance(obj, tf.data.Iterator) and obj.__dict__.pop("_iterator_resource", None) is not None


def graph_functions(graph):
  """{name: function} of the functions defined in `graph` (a FuncGraph or tf.Graph): those its call, loop and
  branch ops run (`Graph._functions`)."""
  return dict(graph._functions.items())  # pylint: disable=protected-access


def in_xla_context() -> bool:
  """True while tracing for XLA (`tf.function(jit_compile=True)`, TPUStrategy's replicated steps): TF marks
  such graphs with an XLA control-flow context and has no public way to ask."""
  return _cf_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph())


def parse_profiler_trace(data: bytes):
  """The `XSpace` proto of a TF profiler trace file (`*.xplane.pb`); TensorFlow ships its module privately."""
  from tensorflow.tsl.profiler.protobuf import xplane_pb2  # pylint: disable=g-import-not-at-top
  space = xplane_pb2.XSpace()
  space.ParseFromString(data)
  return space


@contextlib.contextmanager
def grappler_off():
  """Within the block, the tf.functions this thread calls are instantiated without Grappler.

  TF's public switch (`tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})`) is
  process-wide; this sets the thread's function call options (`context.function_call_options`, the config
  each function call passes to the runtime) for the block only. A function is instantiated (and optimized)
  once per config: called later outside the block it is instantiated again, with Grappler.
  """
  ctx = _context.context()
  previous = ctx.function_call_options
  config = _config_pb2.ConfigProto.FromString(previous.config_proto_serialized)
  config.graph_options.rewrite_options.disable_meta_optimizer = True
  ctx.function_call_options = _context.FunctionCallOptions(executor_type=previous.executor_type,
                                                           config_proto=config)
  try:
    yield
  finally:
    ctx.function_call_options = previous
