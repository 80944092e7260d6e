"""The clips an evaluation reads: which data set (named explicitly), its first N clips, the split's size.

The data set is, in this order:
  1. `dataset`, a `data.SOURCES` name (the --dataset flag);
  2. gin's `train.dataset_fn` (the run's operative config, or the --gin_file given), so that the training run's
     gin bindings of its data function (e.g. `bair_dataset.balanced = True`) apply; its source is looked up in
     `DATASET_FUNCTIONS` by the function itself (or, for `make_dataset`, its `make_dataset.name` binding);
  3. the run's model_config.json "data" record, which the trainer writes (its function's name and data_dir).
"""

import hashlib
import json
import os

from absl import logging

from trivd_gan import data as data_lib
from trivd_gan import inference

# The source each of data's gin functions reads (`train.dataset_fn = @moving_mnist_dataset`).
DATASET_FUNCTIONS = {
    data_lib.synthetic_dataset: "synthetic",
    data_lib.moving_mnist_dataset: "moving_mnist",
    data_lib.natural_dataset: "natural",
    data_lib.video_folder_dataset: "video_folder",
    data_lib.kinetics600_dataset: "kinetics600",
    data_lib.ucf101_dataset: "ucf101",
    data_lib.bair_dataset: "bair",
}


def source_dataset_fn(name):
  """dataset_fn(**kwargs) of the source `name` (`data.make_dataset(name, ...)`)."""
  return lambda **kwargs: data_lib.make_dataset(name, **kwargs)


def data_record(model_dir):
  """The "data" section of model_dir's model_config.json (the trainer's record), or None if there is none."""
  try:
    with open(os.path.join(model_dir, inference.MODEL_CONFIG)) as f:
      record = json.load(f).get("data")
  except (OSError, ValueError, AttributeError):
    return None
  return record if isinstance(record, dict) else None


def _gin_dataset():
  """(name, configured dataset_fn, gin's train.data_dir or None), or None if gin's train.dataset_fn is unbound.

  Raises:
    ValueError: train.dataset_fn is bound to a function that is not one of trivd_gan's data sets.
  """
  import gin  # pylint: disable=import-outside-toplevel

  try:
    ref = gin.query_parameter("train.dataset_fn")
  except ValueError:
    return None
  try:
    data_dir = gin.query_parameter("train.data_dir")
  except ValueError:
    data_dir = None
  function = ref.configurable.wrapped
  if function is data_lib.make_dataset:
    try:
      name = gin.query_parameter("make_dataset.name")
    except ValueError:
      name = "synthetic"  # make_dataset's default
  else:
    name = DATASET_FUNCTIONS.get(function)
  if name not in data_lib.SOURCES:
    raise ValueError(f"train.dataset_fn = @{ref.selector.split('.')[-1]} is not a trivd_gan data set; pass "
                     "--dataset=NAME.")
  return name, ref.scoped_configurable_fn, data_dir


def resolve_dataset(dataset=None, data_dir=None, model_dir=None):
  """Returns (name, dataset_fn(**kwargs), data_dir) of the evaluation data (which: the module docstring).

  Args:
    dataset: a `data.SOURCES` name, or None.
    data_dir: the data set's folder; None: gin's train.data_dir if bound, else (for a data set named by the
      run's record) the recorded data_dir.
    model_dir: the training run, whose model_config.json record names the data when gin does not.

  Raises:
    ValueError: an unknown name, or no data set named anywhere.
  """
  if dataset:
    if dataset not in data_lib.SOURCES:
      raise ValueError(f"Unknown --dataset={dataset}; choose one of {sorted(data_lib.SOURCES)}.")
    return dataset, source_dataset_fn(dataset), data_dir
  from_gin = _gin_dataset()
  if from_gin is not None:
    name, dataset_fn, gin_data_dir = from_gin
    return name, dataset_fn, data_dir if data_dir is not None else gin_data_dir
  record = data_record(model_dir) if model_dir else None
  by_function_name = {function.__name__: name for function, name in DATASET_FUNCTIONS.items()}
  if record is None or record.get("dataset_fn") not in by_function_name:
    raise ValueError("no data set: pass --dataset=NAME or a gin file binding train.dataset_fn.")
  name = by_function_name[record["dataset_fn"]]
  return name, source_dataset_fn(name), data_dir if data_dir is not None else record.get("data_dir")


def dataset_cache_key(name, num_frames, image_size, data_dir):
  """Data-set part of the real-statistics cache key: name, frames, size and (if any) a hash of data_dir."""
  key = f"{name}-{num_frames}f-{image_size}px"
  if data_dir:
    key += "-" + hashlib.sha1(os.path.abspath(os.path.expanduser(str(data_dir))).encode()).hexdigest()[:8]
  return key


def clip_batches(dataset_fn, split, data_dir, batch_size, num_frames, image_size, num_samples):
  """Yields (video [b, T, S, S, 3] in [-1, 1], label [b]) of exactly the first num_samples evaluation clips."""
  ds = dataset_fn(split=split, data_dir=data_dir, batch_size=batch_size, num_frames=num_frames,
                  image_size=image_size, training=False)
  seen = 0
  for batch in ds:
    if seen >= num_samples:
      return
    video = batch["video"][:num_samples - seen]
    label = batch["label"][:num_samples - seen]
    seen += int(video.shape[0])
    yield video, label
  if seen < num_samples:
    raise ValueError(f"the {split!r} split has only {seen} clips; use --num_samples <= {seen}.")


def model_clip_shape(model_dir):
  """(Tc, Tp, R) from model_dir/model_config.json without building the model, or None if it cannot be read."""
  try:
    with open(os.path.join(model_dir, inference.MODEL_CONFIG)) as f:
      config = json.load(f)["generator"]
    return (int(config["num_context_frames"]), int(config["num_predicted_frames"]), int(config["resolution"]))
  except (OSError, ValueError, KeyError, TypeError):
    return None


def check_num_samples(dataset_fn, name, split, data_dir, num_samples, num_frames, image_size):
  """Refuses, before any model is built, a --num_samples larger than the evaluation split.

  The split's size is known without reading it for sources with a fixed number of evaluation clips (synthetic:
  1024, moving_mnist: 10000); for the others (video folders, tensorflow-datasets sources, which drop too-short
  videos) it is found only by reading the split, and a too-large N is reported when the split runs out.

  Returns:
    The split's number of clips, or None when it is not known up front.

  Raises:
    ValueError: num_samples > the split's size, with the size and how to fix it.
  """
  ds = dataset_fn(split=split, data_dir=data_dir, batch_size=1, num_frames=num_frames, image_size=image_size,
                  training=False)
  size = int(ds.cardinality())
  if size < 0:  # tf.data.UNKNOWN_CARDINALITY or INFINITE_CARDINALITY
    logging.info("The %r split of %s has a size known only once read; --num_samples=%d is checked then.", split,
                 name, num_samples)
    return None
  if num_samples > size:
    raise ValueError(f"--num_samples={num_samples} is larger than the {split!r} split of {name} ({size} "
                     f"clips); pass --num_samples <= {size}, or another --split / data set with more clips.")
  return size
