"""Checkpoint layout of a model_dir, which the trainer writes and `trivd_gan.inference` reads.

model_dir/
  ckpt-<n>.*, checkpoint      tf.train.CheckpointManager (the last `max_to_keep`): generator, ema_generator,
                              discriminator, g_optimizer, d_optimizer, step, rng (tf.random.Generator state)
  model_config.json           the Generator and DiscriminatorEnsemble configs (get_config) of the run, and
                              "data": the dataset function, data_dir, global batch size, clip length and
                              resolution it trains on (a resume on other data is refused unless
                              train.allow_data_change = True); a resume may change only the generator
                              options that hold no variables (`OPTIONS_WITHOUT_VARIABLES`), for staged recipes
  operative_config-<step>.gin the gin configuration in force, written with each checkpoint
  train/                      TensorBoard summaries; samples/ GIFs of sample videos

Reading a model_dir (`load_generator`, `variables_by_path`, `latest_checkpoint`, `MODEL_CONFIG`) lives in
`trivd_gan.inference`, which must not import training; this module holds what only the trainer needs: the
model_config.json record and its check on resume.
"""

import json
import math
import os

from absl import logging
import tensorflow as tf

from trivd_gan import inference


# Generator options that change how G computes but create no variables: a resume may change them (staged
# recipes, e.g. gin/pretrained/moving_mnist_pooled_2.gin; the change is logged and the previous configs kept in
# model_config.json under "previous_generator"). Every other difference is another architecture, refused.
OPTIONS_WITHOUT_VARIABLES = ("warp_logit_scale", "chain_pooling_radius", "chain_pooling")


def _config_of(layer):
  config = dict(layer.get_config())
  for key in ("name", "trainable", "dtype"):  # not part of the architecture
    config.pop(key, None)
  return config


def model_config(generator, discriminator):
  """{"generator": config, "discriminator": config} (JSON-serializable) of the two models."""
  return json.loads(json.dumps({"generator": _config_of(generator),
                                "discriminator": _config_of(discriminator)}))


def dataset_name(dataset_fn):
  """A stable name of a dataset function (`synthetic_dataset`, a partial's function's name), for the record."""
  while hasattr(dataset_fn, "func"):  # functools.partial
    dataset_fn = dataset_fn.func
  return getattr(dataset_fn, "__name__", None) or type(dataset_fn).__name__


def data_config(dataset_fn, data_dir, global_batch_size, num_frames, resolution):
  """The "data" section of model_config.json: what the run trains on (JSON-serializable)."""
  return {"dataset_fn": dataset_name(dataset_fn),
          "data_dir": os.path.abspath(os.path.expanduser(data_dir)) if data_dir else None,
          "global_batch_size": int(global_batch_size), "num_frames": int(num_frames),
          "resolution": int(resolution)}


def _write(path, config):
  with tf.io.gfile.GFile(path, "w") as f:
    json.dump(config, f, indent=2, sort_keys=True)


def check_or_write_model_config(model_dir, generator, discriminator, write=True, data=None,
                                allow_data_change=False):
  """Checks model_dir's model_config.json against this run, or writes it (first run of model_dir).

  Args:
    model_dir: the run's folder.
    generator, discriminator: the run's models; another architecture is always refused (a change of
      `OPTIONS_WITHOUT_VARIABLES` only is logged and recorded).
    write: write/update the file (the chief only).
    data: `data_config(...)` of this run, or None (not checked, not recorded).
    allow_data_change: resume even if `data` differs from the recorded data (the change is logged and the
      record updated; the previous data are kept under "previous_data"). Files written before the data were
      recorded (no "data" section) are accepted and get one.

  Raises:
    ValueError: model_dir holds another architecture, or (without allow_data_change) other data.
  """
  path = os.path.join(model_dir, inference.MODEL_CONFIG)
  current = model_config(generator, discriminator)
  if data is not None:
    current["data"] = json.loads(json.dumps(data))
  if not tf.io.gfile.exists(path):
    if write:
      tf.io.gfile.makedirs(model_dir)
      _write(path, current)
    return
  with tf.io.gfile.GFile(path) as f:
    saved = json.load(f)
  diffs, option_changes = [], []
  for part in ("generator", "discriminator"):
    for key in sorted(set(saved.get(part, {})) | set(current[part])):
      if saved.get(part, {}).get(key) != current[part].get(key):
        change = f"{part}.{key}: {saved.get(part, {}).get(key)!r} -> {current[part].get(key)!r}"
        is_option = part == "generator" and key in OPTIONS_WITHOUT_VARIABLES
        (option_changes if is_option else diffs).append(change)
  if diffs:
    raise ValueError(f"--model_dir={model_dir} holds a checkpoint of a different model ({'; '.join(diffs)}); "
                     "use a new --model_dir, or the gin configuration that model_dir was trained with.")
  if option_changes:
    logging.warning("Resuming %s with changed generator options (they hold no variables): %s", model_dir,
                    "; ".join(option_changes))
    current["previous_generator"] = saved.get("previous_generator", []) + [saved["generator"]]
  first_record = data is not None and "data" not in saved  # written before the data were recorded
  if first_record:
    logging.info("%s has no data record (an older run); recording this run's data: %s", path, current["data"])
  changes = [] if data is None or first_record else [
      f"{key}: {saved['data'].get(key)!r} -> {current['data'].get(key)!r}"
      for key in sorted(set(saved["data"]) | set(current["data"]))
      if saved["data"].get(key) != current["data"].get(key)]
  if not (changes or first_record or option_changes):
    return
  if changes:
    if not allow_data_change:
      raise ValueError(f"--model_dir={model_dir} was trained on other data ({'; '.join(changes)}); resume with "
                       "the data settings it was trained with (train.dataset_fn, --data_dir, "
                       "train.global_batch_size), use a new --model_dir, or, to continue training on the new "
                       "data on purpose, pass --gin_param='train.allow_data_change = True'.")
    logging.warning("Resuming %s on changed data (train.allow_data_change = True): %s", model_dir,
                    "; ".join(changes))
    current["previous_data"] = saved.get("previous_data", []) + [saved["data"]]
  if write:
    _write(path, {**saved, **current})


def keep_configured_learning_rates(rates):
  """After a restore, sets each optimizer's learning rate back to the configured one (logging any change).

  Keras optimizers checkpoint their learning rate: without this a resume with other learning rates (e.g.
  `--gin_param='train.g_learning_rate = 1e-4'`) would silently keep the old ones.

  Args:
    rates: {name for the log: (Keras optimizer, the configured learning rate)}.
  """
  for name, (optimizer, rate) in rates.items():
    restored = float(optimizer.learning_rate.numpy())
    if not math.isclose(restored, rate, rel_tol=1e-6):
      logging.info("%s learning rate: %g from the configuration (the checkpoint had %g).", name, rate, restored)
      optimizer.learning_rate.assign(rate)
