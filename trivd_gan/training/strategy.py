"""The one tf.distribute strategy factory of the trainer (`--strategy`).

Every strategy runs the same step (`trainer.Trainer`): per-replica losses scaled to the global batch,
cross-replica batch statistics (the generator's BatchNorm syncs its moments in replica context).
"""

import json
import os

from absl import logging
import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


def make_strategy(name="default", tpu=None):
  """Returns a tf.distribute.Strategy.

  Args:
    name: "default" (one device, no distribution), "mirrored" (all local GPUs, or the logical CPU devices),
      "multi_worker" (MultiWorkerMirroredStrategy; the cluster comes from the TF_CONFIG environment variable),
      "tpu" (TPUStrategy on the TPU named by `tpu`, via TPUClusterResolver).
    tpu: the TPU name or grpc address for name == "tpu" ("" or "local" for a TPU VM).

  Must be called before any other TensorFlow op runs when name == "multi_worker" or "tpu".
  """
  if name not in STRATEGIES:
    raise ValueError(f"Unknown strategy {name!r}; allowed: {', '.join(STRATEGIES)}.")
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
    # NCCL needs GPUs; on CPU (tests, logical devices) the reduction goes through host memory.
    cross_device_ops = None if gpus else tf.distribute.ReductionToOneDevice()
    return tf.distribute.MirroredStrategy(devices, cross_device_ops=cross_device_ops)
  if name == "multi_worker":
    if "TF_CONFIG" not in os.environ:
      raise ValueError("--strategy=multi_worker needs the TF_CONFIG environment variable (cluster and task), "
                       "see https://www.tensorflow.org/guide/distributed_training#TF_CONFIG.")
    try:
      json.loads(os.environ["TF_CONFIG"])
    except json.JSONDecodeError as e:
      raise ValueError(f"TF_CONFIG is not valid JSON ({e}); fix the environment variable.") from e
    return tf.distribute.MultiWorkerMirroredStrategy()
  if tpu is None:
    raise ValueError("--strategy=tpu needs --tpu=NAME (the TPU name, or 'local' on a TPU VM).")
  resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu="" if tpu == "local" else tpu)
  tf.config.experimental_connect_to_cluster(resolver)
  tf.tpu.experimental.initialize_tpu_system(resolver)
  logging.info("TPU devices: %s", tf.config.list_logical_devices("TPU"))
  return tf.distribute.TPUStrategy(resolver)


def is_chief(strategy):
  """Whether this process writes checkpoints, summaries and samples (worker 0 / the only process)."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
    return True
  task_type, task_id = resolver.task_type, resolver.task_id
  return task_type is None or (task_type in ("chief",)) or (task_type == "worker" and task_id == 0 and
                                                            "chief" not in resolver.cluster_spec().as_dict())


def worker_index(strategy):
  """The task index of this process in a multi-worker cluster, 0 otherwise."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and resolver is not None:
    return int(resolver.task_id or 0)
  return 0
