"""configurables.py: the gin wrappers of the models have the classes' own parameters and defaults (one source
per hyper-parameter), gin applies their bindings and refuses unknown ones."""

import inspect

import gin
import pytest

from trivd_gan import configurables
from trivd_gan.models import decompositions
from trivd_gan.models import generator

WRAPPERS = [(configurables._generator, generator.Generator),  # pylint: disable=protected-access
            (configurables._discriminator_ensemble,  # pylint: disable=protected-access
             decompositions.DiscriminatorEnsemble)]


@pytest.fixture(autouse=True)
def _clean_gin():
  gin.clear_config()
  yield
  gin.clear_config()


def _class_parameters(cls):
  """(name, kind, default) of cls.__init__'s parameters, without self and **kwargs."""
  parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
  return [(p.name, p.kind, p.default) for p in parameters if p.kind is not inspect.Parameter.VAR_KEYWORD]


@pytest.mark.parametrize("wrapper, cls", WRAPPERS, ids=["Generator", "DiscriminatorEnsemble"])
def test_wrappers_have_the_classes_parameters_and_defaults(wrapper, cls):
  wrapped = [(p.name, p.kind, p.default) for p in inspect.signature(wrapper).parameters.values()]
  assert wrapped == _class_parameters(cls) + [("name", inspect.Parameter.POSITIONAL_OR_KEYWORD, None)]
  # gin reads the parameters through getfullargspec: the same names and defaults, no **kwargs.
  spec = inspect.getfullargspec(wrapper)
  assert spec.varkw is None and spec.args == [name for name, _, _ in wrapped]
  assert spec.defaults == tuple(default for _, _, default in wrapped)


def test_the_default_recurrent_unit_is_written_once():
  # Issue 15: "tsru_p" used to be written in base.gin, configurables.py and generator.py.
  assert "tsru_p" not in inspect.getsource(configurables)
  assert inspect.signature(configurables._generator).parameters[  # pylint: disable=protected-access
      "recurrent_unit"].default == inspect.signature(generator.Generator).parameters["recurrent_unit"].default


def test_gin_applies_bindings_and_refuses_unknown_parameters():
  gin.parse_config(["Generator.channel_multiplier = 1", "Generator.resolution = 32",
                    "DiscriminatorEnsemble.decomposition = 'dvd_gan_fp'",
                    "DiscriminatorEnsemble.num_frames_K = 2"])
  g = gin.get_configurable("Generator")(name="g")
  assert isinstance(g, generator.Generator) and (g.channel_multiplier, g.resolution, g.name) == (1, 32, "g")
  assert g.recurrent_unit == "tsru_p" and g.num_context_frames == 5  # the class's defaults
  d = gin.get_configurable("DiscriminatorEnsemble")(name="d")
  assert (d.decomposition, d.num_frames_K, d.channel_multiplier, d.name) == ("dvd_gan_fp", 2, 48, "d")
  gin.clear_config()
  with pytest.raises(ValueError, match="recurrent_units"):
    gin.parse_config(["Generator.recurrent_units = 'convgru'"])
  with pytest.raises(ValueError, match="name"):  # the layer name comes from the trainer, not from gin
    gin.parse_config(["DiscriminatorEnsemble.name = 'x'"])


def test_positional_and_keyword_calls_build_the_same_model():
  a = configurables._discriminator_ensemble("dvd_gan_fp", 1, name="a")  # pylint: disable=protected-access
  b = decompositions.DiscriminatorEnsemble(decomposition="dvd_gan_fp", channel_multiplier=1, name="b")
  assert (a.decomposition, a.channel_multiplier) == (b.decomposition, b.channel_multiplier)
  with pytest.raises(TypeError):
    configurables._generator(not_a_parameter=1)  # pylint: disable=protected-access


def test_train_has_its_own_and_the_trainers_parameters_declared_once():
  """`train`'s gin signature is its loop arguments plus every Trainer argument, with Trainer's defaults."""
  from trivd_gan.training import loop  # pylint: disable=g-import-not-at-top
  from trivd_gan.training import trainer  # pylint: disable=g-import-not-at-top
  signature = inspect.signature(loop.train)
  trainer_parameters = list(inspect.signature(trainer.Trainer.__init__).parameters.values())[3:]
  assert [p.name for p in trainer_parameters] == [
      p.name for p in signature.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]
  for p in trainer_parameters:
    assert signature.parameters[p.name].default == p.default, p.name
  # The loop's own arguments are not Trainer's, and no argument is declared in both.
  assert {"num_steps", "log_every", "sample_every", "checkpoint_every"} <= set(signature.parameters)
  spec = inspect.getfullargspec(configurables.train)  # what gin reads
  assert spec.varkw is None and not set(spec.args) & set(spec.kwonlyargs)
  # Trainer's argument list is written once: train's source does not restate it.
  source = inspect.getsource(loop.train)
  assert "g_learning_rate=" not in source and "orthogonal_reg_weight=" not in source


def test_gin_records_and_checks_trainer_arguments_of_train():
  gin.parse_config(["train.g_learning_rate = 3e-3"])
  with pytest.raises(ValueError, match="g_learning_rat"):
    gin.parse_config(["train.g_learning_rat = 3e-3"])
  from trivd_gan.training import loop  # pylint: disable=g-import-not-at-top
  with pytest.raises(TypeError, match="not_an_argument"):
    loop.train("/nonexistent", not_an_argument=1)


def test_an_old_operative_config_binding_a_removed_parameter_still_parses(tmp_path, caplog):
  old = tmp_path / "operative_config-100.gin"
  old.write_text("train.inject_nan_at_step = None\ntrain.g_learning_rate = 3e-3\n")
  configurables.parse([str(old)], [])
  assert gin.query_parameter("train.g_learning_rate") == 3e-3
  assert "inject_nan_at_step no longer exists" in caplog.text
  old.write_text("train.inject_nan_at_step = 2\n")
  with pytest.raises(ValueError, match="inject_nan_at_step no longer exists.*delete the binding"):
    configurables.parse([str(old)], [])
  with pytest.raises(ValueError, match="--gin_param.*inject_nan_at_step"):
    configurables.parse([], ["train.inject_nan_at_step = 3"])
