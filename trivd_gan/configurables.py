"""The one place that registers trivd_gan objects with gin (docs/CONVENTIONS.md).

Names usable in gin files (gin/base.gin, gin/demo.gin, gin/tiny.gin):
  train                      training.loop.train (model_dir, strategy and data_dir come from the CLI)
  Generator                  models.generator.Generator           (train.generator_fn = @Generator)
  DiscriminatorEnsemble      models.decompositions.DiscriminatorEnsemble (train.discriminator_fn = ...)
  synthetic_dataset, moving_mnist_dataset, natural_dataset, video_folder_dataset, kinetics600_dataset,
  ucf101_dataset, bair_dataset, make_dataset (train.dataset_fn = @synthetic_dataset)
  apply_standing_statistics  inference.apply_standing_statistics
"""

import inspect
import os
import tempfile

from absl import logging
import gin

from trivd_gan import cli_setup
from trivd_gan import data
from trivd_gan import inference
from trivd_gan.models import decompositions
from trivd_gan.models import generator
from trivd_gan.training import loop

_REGISTERED = False
# The gin-configured `loop.train` (gin's wrapper; calling loop.train directly ignores the bindings).
train = None


def _factory_of(cls, function_name):
  """A function that builds `cls`, with `cls.__init__`'s own parameters (names, order, defaults) plus `name`.

  Keras layers' __new__ bypasses gin's class wrapping (bindings of a Keras class are not applied), so the
  models are registered through such factories. The factory's `__signature__`, which gin reads, is the class's
  signature without `self` and `**kwargs` (Keras' layer options), plus the layer `name`: a binding of a
  parameter the class does not have fails, and the defaults are the class's own, written once, in the class
  (tests/test_configurables.py checks both).
  """
  init_parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]  # [1:]: self
  parameters = [p for p in init_parameters if p.kind is not inspect.Parameter.VAR_KEYWORD]
  parameters.append(inspect.Parameter("name", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None))
  signature = inspect.Signature(parameters)

  def factory(*args, **kwargs):
    return cls(**signature.bind(*args, **kwargs).arguments)

  factory.__signature__ = signature
  # gin names the function in its errors ("<function _generator at 0x...>", which cli_setup trims).
  factory.__name__ = factory.__qualname__ = function_name
  factory.__doc__ = f"`{cls.__module__}.{cls.__name__}` from keyword arguments (gin name `{cls.__name__}`)."
  return factory


_generator = _factory_of(generator.Generator, "_generator")
_discriminator_ensemble = _factory_of(decompositions.DiscriminatorEnsemble, "_discriminator_ensemble")


def register():
  """Registers every configurable once (idempotent; importing this module calls it)."""
  global _REGISTERED
  if _REGISTERED:
    return
  global train
  train = gin.external_configurable(loop.train, "train",
                                    denylist=["model_dir", "strategy", "operative_config_fn"])
  gin.external_configurable(_generator, "Generator", denylist=["name"])
  gin.external_configurable(_discriminator_ensemble, "DiscriminatorEnsemble", denylist=["name"])
  for name in ("make_dataset", "synthetic_dataset", "moving_mnist_dataset", "natural_dataset",
               "video_folder_dataset",
               "kinetics600_dataset", "ucf101_dataset", "bair_dataset"):
    gin.external_configurable(getattr(data, name), name)
  gin.external_configurable(inference.apply_standing_statistics, "apply_standing_statistics")
  _REGISTERED = True


def parse(gin_files, bindings, skip_unknown=False):
  """Parses gin files and bindings with the repository's search paths, so that `include 'gin/base.gin'` works
  from any directory and from a file's own folder (`cli_setup.gin_search_paths`). Every program parses here.

  Args:
    gin_files: paths of .gin files (parsed in order); bindings: "name.param = value" strings (applied after).
    skip_unknown: gin's: ignore bindings of unregistered names.
  """
  for folder in cli_setup.gin_search_paths(gin_files):
    if folder not in _SEARCH_PATHS:  # gin keeps a list: add each folder once
      gin.add_config_file_search_path(folder)
      _SEARCH_PATHS.add(folder)
  bindings = _drop_removed_bindings(list(bindings), "--gin_param")
  with tempfile.TemporaryDirectory() as folder:
    files = []
    for path in gin_files:
      if not os.path.isfile(path):  # gin finds it on its search paths (or says it cannot)
        files.append(path)
        continue
      with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
      kept = _drop_removed_bindings(lines, path)
      if len(kept) != len(lines):  # parse a copy without the removed bindings
        path = os.path.join(folder, f"{len(files)}_{os.path.basename(path)}")
        with open(path, "w", encoding="utf-8") as f:
          f.write("\n".join(kept) + "\n")
      files.append(path)
    gin.parse_config_files_and_bindings(files, bindings, skip_unknown=skip_unknown)


# Parameters removed from gin-configurable functions, with why. Every checkpoint's operative_config-<step>.gin
# binds all of `train`'s parameters, so older runs still bind these (to their defaults): such a binding is
# dropped with a warning, for one release; any other value is an error.
REMOVED_BINDINGS = {
    "train.inject_nan_at_step": "test hook, removed from the public API after 0.1.0 (tests patch the Trainer)",
}
_REMOVED_DEFAULT = "None"


def _drop_removed_bindings(lines, where):
  """`lines` without those that bind a REMOVED_BINDINGS parameter to its old default (warned); raises
  ValueError for another value."""
  kept = []
  for line in lines:
    name, _, value = line.partition("=")
    if "=" in line and name.strip() in REMOVED_BINDINGS:
      reason = REMOVED_BINDINGS[name.strip()]
      if value.strip() != _REMOVED_DEFAULT:
        raise ValueError(f"{where}: `{line.strip()}`: {name.strip()} no longer exists ({reason}); delete "
                         "the binding.")
      logging.warning("%s: ignoring `%s`: %s no longer exists (%s). Delete the line; a later release will "
                      "refuse it.", where, line.strip(), name.strip(), reason)
      continue
    kept.append(line)
  return kept


_SEARCH_PATHS = set()
register()
