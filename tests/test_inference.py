"""trivd_gan/inference.py: a checkpoint and its SavedModel export predict the same, standing statistics (paper
E.2, against a NumPy average), motion fields (paper 4.4), loading errors, and the import rule (inference,
predict, evaluate and the exporter do not load through training)."""

import ast
import json
import os
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from trivd_gan import export as export_lib
from trivd_gan import inference
from trivd_gan.layers import normalization
from trivd_gan.layers import spectral_norm
from trivd_gan.models import generator as generator_lib
from trivd_gan.training import checkpoints

ROOT = pathlib.Path(__file__).resolve().parents[1]
T_IN, T_OUT, RES = 2, 3, 32
SEED = [3, 4]


def tiny_generator(unit="tsru_p", resolution=RES):
  return generator_lib.Generator(channel_multiplier=1, resolution=resolution, num_context_frames=T_IN,
                                 num_predicted_frames=T_OUT, recurrent_unit=unit).build_for_shapes(1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """(generator, model_dir, export_dir): a tiny G saved as the trainer saves it, and exported from memory.

  The BatchNorm statistics are non-trivial, so a loader that kept fresh statistics would predict otherwise.
  """
  base = tmp_path_factory.mktemp("inference")
  model_dir, export_dir = str(base / "run"), str(base / "export")
  g = tiny_generator()
  rng = np.random.default_rng(0)
  for v in g.variables:
    if "moving_mean" in v.path:
      v.assign(rng.uniform(-0.1, 0.1, v.shape).astype(np.float32))
    elif "moving_variance" in v.path:
      v.assign(rng.uniform(0.5, 1.5, v.shape).astype(np.float32))
  os.makedirs(model_dir)
  with open(os.path.join(model_dir, inference.MODEL_CONFIG), "w") as f:
    json.dump({"generator": checkpoints._config_of(g),  # pylint: disable=protected-access
               "discriminator": {}}, f)
  tf.train.Checkpoint(ema_generator=inference.variables_by_path(g)).save(os.path.join(model_dir, "ckpt"))
  export_lib.export_generator(g, export_dir, truncation=0.8, model_dir=model_dir)
  return g, model_dir, export_dir


def test_checkpoint_and_its_export_predict_the_same(trained):
  g, model_dir, export_dir = trained
  from_checkpoint = inference.Predictor(model_dir=model_dir)
  from_export = inference.Predictor(model=export_dir)
  for p in (from_checkpoint, from_export):
    assert (p.num_context_frames, p.num_predicted_frames, p.resolution) == (T_IN, T_OUT, RES)
  context = np.random.default_rng(1).integers(0, 256, (2, T_IN, RES, RES, 3)).astype(np.uint8)
  a = from_checkpoint.predict(context, SEED, 0.8)
  b = from_export.predict(context, SEED, 0.8)
  assert a["frames"].shape == (2, T_OUT, RES, RES, 3) and a["motion_field"].shape == (2, T_OUT, RES, RES, 2)
  np.testing.assert_allclose(a["frames"], b["frames"], atol=1e-4)
  np.testing.assert_allclose(a["motion_field"], b["motion_field"], atol=1e-4)
  # Both equal the generator that was saved, run with the one truncated-normal sampler.
  z = generator_lib.truncated_latents(2, g.latent_dim, tf.constant(0.8), tf.constant(SEED, tf.int64))
  frames, _ = g.generate(tf.cast(context, tf.float32) / 127.5 - 1.0, z, training=False)
  np.testing.assert_allclose(a["frames"], frames.numpy(), atol=1e-4)
  assert np.abs(a["motion_field"]).max() > 0  # a TSRU warps: the fields are not the zeros of a ConvGRU
  other = from_checkpoint.predict(context, [9, 9], 0.8)["frames"]
  assert np.abs(other - a["frames"]).max() > 0  # another seed, another future


def test_standing_statistics_change_what_the_loaded_generator_predicts(trained):
  _, model_dir, _ = trained
  g = inference.load_generator(model_dir)
  context = tf.zeros([2, T_IN, RES, RES, 3])
  z = generator_lib.sample_latents(2, g.latent_dim, 0.8, tf.constant(SEED, tf.int64))
  before = g.generate(context, z, training=False)[0].numpy()
  trainable = [v.numpy() for v in g.trainable_variables]
  passes = inference.apply_standing_statistics(g, lambda i: (context, z), num_batches=2, log_every=0)
  assert passes == 2
  assert np.abs(g.generate(context, z, training=False)[0].numpy() - before).max() > 1e-4
  for old, new in zip(trainable, g.trainable_variables):
    np.testing.assert_array_equal(old, new.numpy())


# Standing statistics (paper E.2) against a NumPy average of per-batch moments.


class TinyG(keras.Model):
  """Stands in for a Generator: call(context, z, labels, training); BN on 2 z + 1, then an SN layer."""

  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    self.bn = normalization.BatchNorm(momentum=0.9)
    self.dense = spectral_norm.SNDense(3, name="dense")

  def call(self, context, z, labels=None, training=False):
    return self.dense(self.bn(2.0 * z + 1.0, training=training), training=training)


def _model():
  model = TinyG(name="tiny_g")
  model(None, tf.zeros([2, 4]), training=False)
  return model


def test_standing_statistics_match_numpy_average_and_restore_momentum_and_u():
  model = _model()
  rng = np.random.default_rng(0)
  zs = [rng.normal(size=(5, 4)).astype(np.float32) * (i + 1) for i in range(6)]
  model.bn.moving_mean.assign(np.full([4], 7.0, np.float32))  # must be discarded
  u_before = model.dense.sn_u.numpy().copy()
  weights_before = [w.numpy().copy() for w in model.trainable_variables]

  passes = inference.apply_standing_statistics(model, [(None, z) for z in zs], num_batches=100)

  assert passes == len(zs)
  x = [2.0 * z + 1.0 for z in zs]
  np.testing.assert_allclose(model.bn.moving_mean.numpy(), np.mean([v.mean(0) for v in x], 0), rtol=1e-5,
                             atol=1e-5)
  np.testing.assert_allclose(model.bn.moving_variance.numpy(), np.mean([v.var(0) for v in x], 0), rtol=1e-5,
                             atol=1e-5)
  np.testing.assert_allclose(model.bn.momentum.numpy(), 0.9, rtol=1e-6)
  np.testing.assert_array_equal(model.dense.sn_u.numpy(), u_before)
  for before, after in zip(weights_before, model.trainable_variables):
    np.testing.assert_array_equal(before, after.numpy())


def test_standing_statistics_callable_source_and_num_batches():
  model = _model()
  zs = [np.full((3, 4), float(i), np.float32) + np.arange(3, dtype=np.float32)[:, None] for i in range(10)]
  inference.apply_standing_statistics(model, lambda i: (None, zs[i]), num_batches=4)
  np.testing.assert_allclose(model.bn.moving_mean.numpy(), np.mean([2 * z.mean(0) + 1 for z in zs[:4]], 0),
                             rtol=1e-5)


def test_standing_statistics_find_every_batch_norm_of_the_generator():
  g = generator_lib.Generator(channel_multiplier=1, recurrent_unit="convgru", num_context_frames=1,
                              num_predicted_frames=1, resolution=32)
  g.build_for_shapes(1)
  bns = inference.batch_norms(g)
  # G's output BN plus the conditional BNs of its GBlocks (two per block, six blocks).
  assert len(bns) >= 13
  assert len(inference.spectral_norm_vectors(g)) > 10


def test_dataset_batches_reads_training_contexts_once():
  g = generator_lib.Generator(channel_multiplier=1, num_context_frames=2, num_predicted_frames=2, resolution=32)
  batches = inference.dataset_batches("synthetic", None, g, num_batches=3, batch_size=2, seed=5)
  context, z = batches(1)
  assert context.shape == (2, 2, 32, 32, 3) and z.shape == (2, g.latent_dim)
  assert float(tf.reduce_max(tf.abs(context))) <= 1.0
  again, z_again = batches(1)
  np.testing.assert_array_equal(context.numpy(), again.numpy())  # read once, up front
  np.testing.assert_array_equal(z.numpy(), z_again.numpy())  # z is a function of (seed, i)
  assert not np.array_equal(batches(0)[0].numpy(), context.numpy())


def test_standing_statistics_log_progress_with_an_eta(caplog):
  # 100 passes of 256 clips took minutes with a single log line before them.
  model = _model()
  zs = [np.full((3, 4), float(i), np.float32) for i in range(25)]
  with caplog.at_level("INFO", logger="absl"):  # the absl logger: an earlier test may have raised its level
    inference.apply_standing_statistics(model, lambda i: (None, zs[i]), num_batches=25)
  lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Standing statistics: pass")]
  assert [line.split(",")[0] for line in lines] == ["Standing statistics: pass 10/25",
                                                   "Standing statistics: pass 20/25",
                                                   "Standing statistics: pass 25/25"]
  assert "s per pass, ETA 0h00m" in lines[0] and lines[-1].endswith("ETA 0h00m00s.")
  caplog.clear()
  with caplog.at_level("INFO", logger="absl"):  # the absl logger: an earlier test may have raised its level
    inference.apply_standing_statistics(model, lambda i: (None, zs[i]), num_batches=25, log_every=0)
  assert not [r for r in caplog.records if "Standing statistics" in r.getMessage()]


def test_loading_errors_say_what_is_wrong(tmp_path):
  with pytest.raises(ValueError, match="has no model_config.json"):
    inference.load_generator(str(tmp_path))
  with pytest.raises(ValueError, match="not a SavedModel folder"):
    inference.load_saved_model(str(tmp_path))
  with pytest.raises(ValueError, match="exactly one of --model"):
    inference.Predictor()
  with pytest.raises(FileNotFoundError, match="does not exist"):
    inference.Predictor(model_dir=str(tmp_path / "missing"))


def _shift_weights(batch, size, dy, dx, k=3):
  """Warping weights [B, T_OUT, size, size, k^2] putting all mass on the offset that moves content by
  (dy, dx)."""
  pad = (k - 1) // 2
  q = (pad - dy) * k + (pad - dx)  # eq. 11 samples at (m - pad, n - pad) = -(dy, dx)
  return tf.one_hot(tf.fill([batch, T_OUT, size, size], q), k * k)


def test_motion_fields_combine_levels_coarse_to_fine():
  g = tiny_generator(resolution=64)
  weights = [_shift_weights(2, s, 0, 1) for s in (8, 16, 32)]
  combined, levels = inference.motion_fields(g, weights, 2)
  assert combined.shape == (2, T_OUT, 64, 64, 2)
  for level, size in zip(levels, (8, 16, 32)):
    assert level.shape == (2, T_OUT, size, size, 2)
    np.testing.assert_allclose(level[..., 1], 1.0)
  # 1 px at 8x8 is 4 px at 32x32, 1 px at 16x16 is 2: 4 + 2 + 1 = 7 px at 32x32, i.e. 14 px at 64x64.
  np.testing.assert_allclose(combined[..., 1], 14.0)
  np.testing.assert_allclose(combined[..., 0], 0.0)
  down = inference.motion_fields(g, [_shift_weights(1, s, 1, 0) for s in (8, 16, 32)], 1)[0]
  np.testing.assert_allclose(down[..., 0], 14.0)


def test_motion_fields_are_zero_without_warping():
  g = tiny_generator("convgru", resolution=64)
  combined, levels = inference.motion_fields(g, [None, None, None], 3)
  assert combined.shape == (3, T_OUT, 64, 64, 2) and not np.any(combined.numpy())
  assert [lv.shape[2] for lv in levels] == [8, 16, 32]


# The import rule. Inference is what a trained model needs; training writes what it reads and may import it,
# never the reverse. The programs that use a trained model load it through inference, and no library module
# imports a program (the exporter used to import the predict program for its motion fields).
PROGRAMS = ("trivd_gan.predict", "trivd_gan.evaluate", "trivd_gan.train", "trivd_gan.probe", "trivd_gan.bench",
            "trivd_gan.bench_motion", "trivd_gan.demo_figures")
NO_TRAINING = ("trivd_gan/inference.py", "trivd_gan/export.py", "trivd_gan/predict.py",
               "export/export_generator.py", "trivd_gan/evaluation/runner.py",
               "trivd_gan/evaluation/eval_data.py")
# evaluate still imports training.strategy to spread evaluation over replicas (not to load a model).
TRAINING_LOADERS = ("trivd_gan.training.checkpoints", "trivd_gan.training.trainer")


def imported_modules(source):
  """Every module `source` imports, anywhere in the file: `from a.b import c` gives a.b and a.b.c."""
  names = set()
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Import):
      names.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
      names.add(node.module)
      names.update(f"{node.module}.{alias.name}" for alias in node.names)
  return names


def forbidden(source, prefixes):
  return sorted(n for n in imported_modules(source) if any(n == p or n.startswith(p + ".") for p in prefixes))


def test_the_import_checker_sees_every_form_of_import():
  source = ("import trivd_gan.training.trainer\n"
            "def f():\n  from trivd_gan import training\n  from trivd_gan.training import checkpoints\n")
  assert forbidden(source, ("trivd_gan.training",)) == [
      "trivd_gan.training", "trivd_gan.training.checkpoints", "trivd_gan.training.trainer"]
  assert not forbidden("from trivd_gan import inference\nimport trivd_gan.trainer_notes\n",
                       ("trivd_gan.training", "trivd_gan.train"))


@pytest.mark.parametrize("path", NO_TRAINING)
def test_inference_and_its_users_do_not_import_training(path):
  bad = forbidden((ROOT / path).read_text(), ("trivd_gan.training",))
  assert not bad, f"{path} imports {bad}: load and predict through trivd_gan.inference instead."


def test_evaluate_loads_through_inference():
  bad = forbidden((ROOT / "trivd_gan/evaluate.py").read_text(), TRAINING_LOADERS)
  assert not bad, f"trivd_gan/evaluate.py imports {bad}: use trivd_gan.inference."


# cli_setup is how programs start and fail (exit_with_error); library code raises instead.
CLI_MODULES = PROGRAMS + ("trivd_gan.cli_setup",)


@pytest.mark.parametrize("path", ["trivd_gan/inference.py", "trivd_gan/export.py",
                                  "trivd_gan/evaluation/runner.py", "trivd_gan/evaluation/eval_data.py"])
def test_the_libraries_import_no_program(path):
  bad = forbidden((ROOT / path).read_text(), CLI_MODULES)
  assert not bad, f"{path} imports {bad}; move what it needs into a library module."


def test_the_exporter_program_imports_no_other_program():
  bad = forbidden((ROOT / "export/export_generator.py").read_text(), PROGRAMS)
  assert not bad, f"export/export_generator.py imports the program(s) {bad}; use trivd_gan.inference."
