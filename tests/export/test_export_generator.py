"""Export of the generator (export/export_generator.py): CLI, four loaders, bad input, no-package loading."""

import fcntl
import glob
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from trivd_gan import export as export_lib
from trivd_gan import inference
from trivd_gan.data import video_folder
from trivd_gan.models import generator as generator_lib
from trivd_gan.training import checkpoints
from tests import data_paths

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VIDEO = data_paths.REALSHORT_MP4
T_IN, T_OUT = 2, 3
SEED = [3, 4]


def write_model_dir(model_dir, recurrent_unit="tsru_p", **options):
  """A model_dir as the trainer writes it (model_config.json + an EMA-generator checkpoint) of a tiny G."""
  g = generator_lib.Generator(channel_multiplier=1, resolution=64, num_context_frames=T_IN,
                              num_predicted_frames=T_OUT, recurrent_unit=recurrent_unit,
                              **options).build_for_shapes(1)
  rng = np.random.default_rng(0)
  for v in g.variables:  # non-trivial statistics, to see that the export keeps them
    if "moving_mean" in v.path:
      v.assign(rng.uniform(-0.1, 0.1, v.shape).astype(np.float32))
    elif "moving_variance" in v.path:
      v.assign(rng.uniform(0.5, 1.5, v.shape).astype(np.float32))
  os.makedirs(model_dir, exist_ok=True)
  with open(os.path.join(model_dir, inference.MODEL_CONFIG), "w") as f:
    json.dump({"generator": checkpoints._config_of(g),  # pylint: disable=protected-access
               "discriminator": {}}, f)
  # The trainer's layout: models tracked as {path: variable} dicts (inference.variables_by_path).
  tf.train.Checkpoint(ema_generator=inference.variables_by_path(g)).save(os.path.join(model_dir, "ckpt"))
  return g


def real_context():
  """[1, T_IN, 64, 64, 3] float32 in [-1, 1] from a real clip, center-cropped as in evaluation."""
  frames = video_folder.decode_video(VIDEO, image_size=64, max_frames=T_IN)
  top, left = (frames.shape[1] - 64) // 2, (frames.shape[2] - 64) // 2
  return (frames[None, :, top:top + 64, left:left + 64].astype(np.float32) / 127.5 - 1.0)


def clean_env(**extra):
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  env.update(extra)
  return env


class _Exported(tuple):
  written = None
  stderr = ""


def _export_once(base):
  """Writes a tiny run's model_dir in `base` and exports it through the CLI (stderr and weights kept)."""
  model_dir, out = str(base / "run"), str(base / "exported")
  written = write_model_dir(model_dir)
  result = subprocess.run([sys.executable, os.path.join(ROOT, "export", "export_generator.py"),
                           f"--model_dir={model_dir}", f"--output={out}", "--truncation=0.7"],
                          capture_output=True, text=True, cwd=str(base), check=False,
                          env={k: v for k, v in clean_env().items() if k != "TF_CPP_MIN_LOG_LEVEL"})
  assert result.returncode == 0, result.stderr[-3000:]
  with open(base / "stderr.txt", "w") as f:
    f.write(result.stderr)
  with open(base / "written.pkl", "wb") as f:
    pickle.dump({v.path.split("/", 1)[1]: v.numpy() for v in written.variables}, f)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
  """One export per test run, shared by the xdist workers (under a file lock: the first worker writes it)."""
  shared = os.environ.get("PYTEST_XDIST_WORKER") is not None  # then the base temp's parent is this run's own
  base = (tmp_path_factory.getbasetemp().parent if shared else tmp_path_factory.getbasetemp()) / "cli_export"
  base.mkdir(exist_ok=True)
  with open(base / "lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
    if not (base / "written.pkl").exists():
      _export_once(base)
  result = _Exported((str(base / "run"), str(base / "exported")))
  with open(base / "written.pkl", "rb") as f:
    result.written = pickle.load(f)
  with open(base / "stderr.txt") as f:
    result.stderr = f.read()
  return result


@pytest.fixture(scope="module")
def loaded(exported):
  """The export loaded once for the tests that only call it (each load takes seconds)."""
  return tf.saved_model.load(exported[1])


def test_export_log_has_no_expected_noise(exported):
  # Saving listed hundreds of renamed internal input names in one INFO line; no GPU: no cuInit error line.
  assert "unsupported characters which will be renamed" not in exported.stderr
  assert "unsaved custom gradients" not in exported.stderr
  if not glob.glob("/dev/nvidia[0-9]*"):  # the program's own TF_CPP_MIN_LOG_LEVEL default (3) applies
    assert "cuInit" not in exported.stderr
  assert "Exported the generator to" in exported.stderr


def test_export_writes_savedmodel_and_description(exported):
  _, out = exported
  assert os.path.isfile(os.path.join(out, "saved_model.pb"))
  for name in ("README.md", "module.md"):
    text = open(os.path.join(out, name)).read()
    for needle in ("predict_uint8", "[-1, 1]", "motion_field", "Licence", "Training data", "0.7"):
      assert needle in text, (name, needle)


def test_saved_model_matches_generator_and_has_motion_fields(loaded):
  module = loaded
  context = real_context()
  result = module.predict(tf.constant(context), tf.constant(SEED, tf.int64), tf.constant(0.8))
  frames = result["frames"]
  assert result["frames"].shape == (1, T_OUT, 64, 64, 3)
  assert result["motion_field"].shape == (1, T_OUT, 64, 64, 2)
  for i, size in enumerate((8, 16, 32)):
    level = result[f"motion_level_{i}"].numpy()
    assert level.shape == (1, T_OUT, size, size, 2)
    assert np.abs(level).max() <= 1.0 + 1e-5  # k = 3: an expected offset is within one pixel
  # uint8 signature: the same frames, quantized.
  u8 = module.predict_uint8(tf.constant(np.round((context + 1) * 127.5).astype(np.uint8)),
                            tf.constant(SEED, tf.int64), tf.constant(0.8))["frames"].numpy()
  assert u8.dtype == np.uint8 and u8.shape == (1, T_OUT, 64, 64, 3)
  assert np.abs(u8.astype(np.float32) - (frames.numpy() + 1) * 127.5).max() <= 1.0
  # Same seed -> same sample; another seed -> another future.
  again = module.predict(tf.constant(context), tf.constant(SEED, tf.int64), tf.constant(0.8))["frames"]
  np.testing.assert_array_equal(again.numpy(), result["frames"].numpy())
  other = module.predict(tf.constant(context), tf.constant([9, 9], tf.int64), tf.constant(0.8))["frames"]
  assert np.abs(other.numpy() - result["frames"].numpy()).max() > 0


def test_saved_model_equals_the_checkpointed_generator(exported):
  model_dir, out = exported
  g = inference.load_generator(model_dir)
  restored = {v.path.split("/", 1)[1]: v.numpy() for v in g.variables}
  lost = sorted(k for k, v in exported.written.items() if not np.array_equal(v, restored[k]))
  assert not lost, f"load_generator did not restore {len(lost)} variables, e.g. {lost[:3]}"
  module = tf.saved_model.load(out)
  context = real_context()
  result = module.predict(tf.constant(context), tf.constant(SEED, tf.int64), tf.constant(0.8))
  z = generator_lib.sample_latents(1, g.latent_dim, 0.8, tf.constant(SEED, tf.int64))
  frames = g.generate(tf.constant(context), z, training=False)[0]  # eagerly: the export is the graph checked
  np.testing.assert_allclose(result["frames"].numpy(), frames.numpy(), atol=1e-3)


def test_hub_load_and_tfsm_layer_agree(exported):
  import keras  # pylint: disable=import-outside-toplevel
  import tensorflow_hub as hub  # pylint: disable=import-outside-toplevel

  _, out = exported
  context = tf.constant(np.concatenate([real_context(), -real_context()]))
  seed, trunc = tf.constant(SEED, tf.int64), tf.constant(0.8)
  loaded, hub_module = tf.saved_model.load(out), hub.load(out)  # keep them referenced while their functions run
  reference = loaded.signatures["predict"](context=context, seed=seed, truncation=trunc)
  from_hub = hub_module.predict(context, seed, trunc)
  layer = keras.layers.TFSMLayer(out, call_endpoint="predict")
  from_layer = layer(context, seed=seed, truncation=trunc)  # TFSMLayer.call(inputs, **kwargs)
  for key in ("frames", "motion_field", "motion_level_0"):
    np.testing.assert_array_equal(from_hub[key].numpy(), reference[key].numpy())
    np.testing.assert_array_equal(np.asarray(from_layer[key]), reference[key].numpy())


LEGACY_CODE = """
import sys, numpy as np, tensorflow as tf, tensorflow_hub as hub, tf_keras
assert not any(m == "trivd_gan" or m.startswith("trivd_gan.") for m in sys.modules)
out, ctx = sys.argv[1], np.load(sys.argv[2])
seed, trunc = tf.constant([3, 4], tf.int64), tf.constant(0.8)
loaded = tf.saved_model.load(out)
plain = loaded.predict(tf.constant(ctx), seed, trunc)["frames"].numpy()
layer = hub.KerasLayer(out, signature="predict", signature_outputs_as_dict=True)
keras_out = layer({"context": tf.constant(ctx), "seed": seed, "truncation": trunc})["frames"].numpy()
try:
  import trivd_gan
  raise SystemExit("trivd_gan must not be importable here")
except ImportError:
  pass
np.save(sys.argv[3], np.stack([plain, keras_out]))
"""


def test_loads_without_package_and_with_tf_keras_hub_layer(exported, tmp_path):
  _, out = exported
  context = real_context()
  np.save(tmp_path / "ctx.npy", context)
  result = subprocess.run([sys.executable, "-c", LEGACY_CODE, out, "ctx.npy", "res.npy"], cwd=str(tmp_path),
                          env=clean_env(TF_USE_LEGACY_KERAS="1"), capture_output=True, text=True, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  plain, keras_out = np.load(tmp_path / "res.npy")
  loaded = tf.saved_model.load(out)
  reference = loaded.predict(tf.constant(context), tf.constant(SEED, tf.int64),
                             tf.constant(0.8))["frames"].numpy()
  np.testing.assert_array_equal(plain, reference)
  np.testing.assert_array_equal(keras_out, reference)


@pytest.mark.parametrize("context,message", [
    (np.zeros([1, T_IN, 64, 64], np.float32), "context must"),
    (np.zeros([1, T_IN + 1, 64, 64, 3], np.float32), "context must be [B, 2, 64, 64, 3]"),
    (np.zeros([1, T_IN, 32, 32, 3], np.float32), "context must be [B, 2, 64, 64, 3]"),
    (np.full([1, T_IN, 64, 64, 3], 2.0, np.float32), "context must be in [-1, 1]"),
    (np.full([1, T_IN, 64, 64, 3], np.nan, np.float32), "context must be"),
])
def test_bad_input_gives_clear_errors(loaded, context, message):
  module = loaded
  with pytest.raises(tf.errors.InvalidArgumentError, match=message.replace("[", r"\[").replace("]", r"\]")):
    module.predict(tf.constant(context), tf.constant(SEED, tf.int64), tf.constant(0.8))


def test_bad_truncation_and_dtype(loaded):
  module = loaded
  context = tf.zeros([1, T_IN, 64, 64, 3])
  with pytest.raises(tf.errors.InvalidArgumentError, match="truncation must be >= 0"):
    module.predict(context, tf.constant(SEED, tf.int64), tf.constant(-1.0))
  with pytest.raises((TypeError, ValueError)):
    module.predict(tf.zeros([1, T_IN, 64, 64, 3], tf.float64), tf.constant(SEED, tf.int64), tf.constant(0.8))


def test_standing_statistics_export_twice_in_one_process(tmp_path):
  """E.2's standing statistics from the user's videos (the exporter's --standing_stats_data path), exported
  twice from one process: both exports equal the in-process generator with those statistics."""

  model_dir = str(tmp_path / "run")
  write_model_dir(model_dir)
  g = inference.load_generator(model_dir)
  folder = tmp_path / "videos"
  folder.mkdir()
  (folder / "clip.mp4").write_bytes(open(VIDEO, "rb").read())
  (folder / "notes.txt").write_text("not a video")
  batches = inference.video_batches(g, str(folder), batch_size=2, seed=0)
  context, z = batches(0)
  assert context.shape == (2, T_IN, 64, 64, 3) and z.shape == (2, g.latent_dim)
  assert -1.0 <= float(tf.reduce_min(context)) and float(tf.reduce_max(context)) <= 1.0
  np.testing.assert_array_equal(
      inference.video_batches(g, str(folder), 2, seed=0)(0)[0].numpy(), context.numpy())

  before = {v.path: v.numpy() for v in g.variables if "moving_" in v.path}
  inference.apply_standing_statistics(g, batches, num_batches=2)
  changed = [p for p, v in before.items() if not np.allclose(v, next(w for w in g.variables if w.path == p))]
  assert len(changed) == len(before), "every moving statistic is replaced by the standing one"

  context = tf.constant(real_context())
  z = generator_lib.sample_latents(1, g.latent_dim, 0.8, tf.constant(SEED, tf.int64))
  expected = g.generate(context, z, training=False)[0].numpy()  # eagerly: the exports are the graphs checked
  for name in ("a", "b"):
    out = str(tmp_path / name)
    export_lib.export_generator(g, out, truncation=0.8, model_dir=model_dir, standing_batches=2)
    assert "standing statistics over 2 batches" in open(os.path.join(out, "README.md")).read()
    loaded = tf.saved_model.load(out)  # held: a loaded module's variables die with it
    frames = loaded.predict(context, tf.constant(SEED, tf.int64), tf.constant(0.8))["frames"]
    np.testing.assert_allclose(frames.numpy(), expected, atol=1e-3)

  for bad in (tmp_path / "empty", tmp_path / "missing.mp4"):
    if bad.suffix == "":
      bad.mkdir()
    with pytest.raises(ValueError, match="neither a video file nor a folder of videos"):
      inference.video_batches(g, str(bad), 2)


def test_export_cli_bad_flags(tmp_path):
  result = subprocess.run([sys.executable, os.path.join(ROOT, "export", "export_generator.py"),
                           f"--model_dir={tmp_path / 'missing'}", f"--output={tmp_path / 'out'}"],
                          capture_output=True, text=True, env=clean_env(), check=False)
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1].startswith("error: ") and "Traceback" not in result.stderr
  result = subprocess.run([sys.executable, os.path.join(ROOT, "export", "export_generator.py"),
                           f"--model_dir={tmp_path}", f"--output={tmp_path / 'out'}",
                           "--standing_stats_batches=2",
                           "--standing_stats_data=x.mp4", "--standing_stats_dataset=moving_mnist"],
                          capture_output=True, text=True, env=clean_env(), check=False)
  assert result.returncode == 2 and "not both" in result.stderr.strip().splitlines()[-1]
  model_dir = str(tmp_path / "run")
  write_model_dir(model_dir)  # keeps ckpt-1
  for flag, message in (("--checkpoint=7", "has no checkpoint of step(s) [7]; it has [1]"),
                        ("--weights=best", "--weights must be one of ['ema', 'raw']"),
                        ("--chain_pooling=object", "has output_mode 'pixels' and chain_pooling_radius 0")):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "export", "export_generator.py"),
                             f"--model_dir={model_dir}", f"--output={tmp_path / 'out'}", flag],
                            capture_output=True, text=True, env=clean_env(), check=False)
    assert result.returncode == 2 and message in result.stderr.strip().splitlines()[-1], result.stderr[-2000:]


def test_chain_pooling_is_chosen_at_export(tmp_path):
  """A warp_chain run trained with window pooling, loaded with object pooling (the option holds no variables):
  the same weights, the chosen pooling's frames, and the description says which pooling the export uses."""
  model_dir = str(tmp_path / "run")
  written = write_model_dir(model_dir, output_mode="warp_chain", chain_pooling_radius=2)
  context, z = tf.constant(real_context()), tf.zeros([1, written.latent_dim])
  window = written.generate(context, z, training=False)[0].numpy()
  written.chain_pooling = "object"  # read at call time
  expected = written.generate(context, z, training=False)[0].numpy()
  assert np.abs(expected - window).max() > 1e-4  # the two poolings differ on this clip
  g = inference.load_generator(model_dir, chain_pooling="object")
  assert (g.chain_pooling, g.chain_pooling_radius) == ("object", 2)
  np.testing.assert_allclose(g.generate(context, z, training=False)[0].numpy(), expected, atol=1e-5)
  assert inference.load_generator(model_dir).chain_pooling == "window"  # by default the run's own
  assert ("output_mode `warp_chain`, each step's field pooled by `object` (chain_pooling_radius 2)"
          in export_lib.module_description(g, "run", 0.0, 0))
  with pytest.raises(ValueError, match="Unknown chain_pooling 'objects'; allowed: window, object"):
    inference.load_generator(model_dir, chain_pooling="objects")
  # "none": the same weights, each step's field as G draws it (chain_pooling_radius 0).
  written.chain_pooling_radius = 0
  unpooled = written.generate(context, z, training=False)[0].numpy()
  assert np.abs(unpooled - window).max() > 1e-4
  g = inference.load_generator(model_dir, chain_pooling="none")
  assert g.chain_pooling_radius == 0
  np.testing.assert_allclose(g.generate(context, z, training=False)[0].numpy(), unpooled, atol=1e-5)
  assert "pooled" not in export_lib.module_description(g, "run", 0.0, 0)


def test_the_description_says_which_weights_were_exported():
  g = generator_lib.Generator(channel_multiplier=1, resolution=64, num_context_frames=T_IN,
                              num_predicted_frames=T_OUT).build_for_shapes(1)
  assert "SavedModel of the EMA generator" in export_lib.module_description(g, "run", 0.8, 0)
  assert "SavedModel of the raw generator" in export_lib.module_description(g, "run", 0.8, 0, weights="raw")
  with pytest.raises(ValueError, match="--weights must be one of"):
    export_lib.export_generator(g, "/nonexistent/never_written", weights="best")


def test_help_says_why_the_default_truncation_is_0_8():
  # evaluate samples without truncation, the exporter and predict with 0.8: each --help gives the reason.
  result = subprocess.run([sys.executable, os.path.join(ROOT, "export", "export_generator.py"), "--help"],
                          capture_output=True, text=True, env=clean_env(), timeout=120, check=False)
  text = " ".join(result.stdout.split())
  assert "--truncation: Truncation the description recommends" in text, text[-2000:]
  assert "(default: '0.8')" in text and "D.1" in text and "without truncation" in text


def test_existing_output_is_not_replaced_without_overwrite(exported, tmp_path):
  model_dir, out = exported
  pb = os.path.join(out, "saved_model.pb")
  before = os.stat(pb).st_mtime_ns
  script = os.path.join(ROOT, "export", "export_generator.py")
  result = subprocess.run([sys.executable, script, f"--model_dir={model_dir}", f"--output={out}"],
                          capture_output=True, text=True, env=clean_env(), check=False)
  assert result.returncode == 2
  assert "already exists and is not empty; pass --overwrite" in result.stderr.strip().splitlines()[-1]
  assert os.stat(pb).st_mtime_ns == before
  # --overwrite replaces exports only, never another non-empty folder.
  (tmp_path / "notes.txt").write_text("mine")
  result = subprocess.run([sys.executable, script, f"--model_dir={model_dir}", f"--output={tmp_path}",
                           "--overwrite"], capture_output=True, text=True, env=clean_env(), check=False)
  assert result.returncode == 2 and "not an export" in result.stderr
  assert (tmp_path / "notes.txt").read_text() == "mine"


def test_predict_cli_runs_from_the_export(exported, tmp_path, caplog):
  from trivd_gan import predict  # pylint: disable=import-outside-toplevel
  from PIL import Image  # pylint: disable=import-outside-toplevel

  out = str(tmp_path / "from_export.gif")
  video = predict.run(model=exported[1], input_path=VIDEO, output=out, num_samples=2, motion_fields_column=True,
                      scale=1, captions=False)
  # The export has no custom gradients on purpose: loading it does not warn about them.
  assert not [r for r in caplog.records if "unsaved custom gradients" in r.getMessage()]
  assert video.shape == (T_IN + T_OUT, 128, 192, 3)
  with Image.open(out) as gif:
    assert gif.n_frames == T_IN + T_OUT and gif.size == (192, 128)


def test_export_traces_the_generator_once(tmp_path, monkeypatch):
  # Concrete functions taken before tf.saved_model.save were traced again by the save: two forwards traced.
  calls = []
  run = export_lib.GeneratorModule._run  # pylint: disable=protected-access
  monkeypatch.setattr(export_lib.GeneratorModule, "_run", lambda self, *a: calls.append(1) or run(self, *a))
  g = generator_lib.Generator(channel_multiplier=1, resolution=64, num_context_frames=T_IN,
                              num_predicted_frames=T_OUT).build_for_shapes(1)
  export_lib.export_generator(g, str(tmp_path / "once"))
  assert len(calls) == 1
