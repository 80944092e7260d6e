"""The train CLI: bad input gives a one-line error; slow tests run every unit/decomposition and strategy."""

import glob
import json
import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest

from tests import data_paths

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--gin_file=gin/base.gin", "--gin_file=gin/tiny.gin", "--gin_param=train.run_eagerly = True"]


def run_cli(*args, env=None, timeout=600):
  env = {**os.environ, "PYTHONPATH": ROOT, **(env or {})}
  return subprocess.run([sys.executable, "-m", "trivd_gan.train", *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(result, pattern):
  assert result.returncode != 0
  assert "Traceback" not in result.stderr, result.stderr[-3000:]
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith("error:") and pattern in last, result.stderr[-3000:]


def test_missing_gin_file(tmp_path):
  assert_one_line_error(run_cli("--gin_file=gin/nope.gin", f"--model_dir={tmp_path}"), "not found")


def test_unknown_binding(tmp_path):
  result = run_cli(*TINY, "--gin_param=train.no_such_option = 1", f"--model_dir={tmp_path}")
  assert_one_line_error(result, "bad gin configuration")


def test_missing_model_dir():
  assert_one_line_error(run_cli(*TINY), "--model_dir is required")


def test_incompatible_model_dir(tmp_path):
  with open(tmp_path / "model_config.json", "w") as f:
    json.dump({"generator": {"channel_multiplier": 99}, "discriminator": {}}, f)
  result = run_cli(*TINY, f"--model_dir={tmp_path}", "--steps=1")
  assert_one_line_error(result, "different model")


def test_video_folder_run_exits_promptly(tmp_path):
  # A tf.data iterator still alive at interpreter shutdown waited forever for its in-flight Python decode: the
  # run logged "Done" and hung. Several copies of the clip keep the decoding generator busy at the end.
  videos = tmp_path / "videos"
  videos.mkdir()
  for i in range(6):
    shutil.copy(data_paths.REALSHORT_MP4, videos / f"clip_{i}.mp4")
  # Also: the CLI applies train.intra_op_threads before TensorFlow's runtime starts (later it cannot).
  result = run_cli(*TINY, "--gin_file=gin/video_folder.gin", f"--data_dir={videos}", "--steps=2",
                   "--gin_param=train.intra_op_threads = 1", f"--model_dir={tmp_path / 'run'}", timeout=240)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "Done: step 2" in result.stderr
  assert "Intra-op threads: 1 per op" in result.stderr and "not applied" not in result.stderr
  assert "First (eager) step done in" in result.stderr  # the first step's time is reported


def test_missing_data_dir_is_refused_before_building_models(tmp_path):
  # The paper's model takes minutes to build: the data arguments are checked first.
  result = run_cli("--gin_file=gin/trivd_gan_fp_kinetics600.gin", f"--model_dir={tmp_path / 'k600'}")
  assert_one_line_error(result, "the kinetics600 data set needs --data_dir")
  assert not os.path.exists(tmp_path / "k600")  # restore() never wrote model_config.json
  result = run_cli(*TINY, "--gin_file=gin/video_folder.gin", f"--data_dir={tmp_path / 'nope'}",
                   f"--model_dir={tmp_path / 'vf'}")
  assert_one_line_error(result, "is not a folder; the video_folder data set needs a folder of video files")


def test_gin_include_from_another_directory_and_trimmed_messages(tmp_path):
  # trivd_gan_fp_kinetics600.gin includes 'gin/base.gin': found from any working directory. Parsing succeeds,
  # so the run stops at the data check.
  env = {**os.environ, "PYTHONPATH": ROOT}
  env.pop("TF_CPP_MIN_LOG_LEVEL", None)
  result = subprocess.run([sys.executable, "-m", "trivd_gan.train",
                           f"--gin_file={ROOT}/gin/trivd_gan_fp_kinetics600.gin",
                           f"--model_dir={tmp_path / 'a'}"],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=600)
  assert_one_line_error(result, "the kinetics600 data set needs --data_dir")
  if not glob.glob("/dev/nvidia[0-9]*"):
    assert "cuInit" not in result.stderr  # TensorFlow's C++ noise is off on machines without a GPU
  # An error raised inside train() ends without gin's "In call to configurable 'train' (<function ...>)".
  result = run_cli(*TINY, "--gin_param=train.global_batch_size = 0", f"--model_dir={tmp_path / 'b'}")
  assert_one_line_error(result, "global_batch_size and d_steps_per_g_step must be >= 1, got 0 and 2.")
  assert "In call to configurable" not in result.stderr.strip().splitlines()[-1]


# ------------------------------------------------------------------------------------ slow: full runs
def _checkpoint_values(model_dir):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  reader = tf.train.load_checkpoint(model_dir)
  return {name: reader.get_tensor(name) for name, _ in tf.train.list_variables(model_dir)
          if "save_counter" not in name and "iterator" not in name and not name.startswith("_CHECKPOINTABLE")}


@pytest.mark.slow
@pytest.mark.parametrize("unit", ["convgru", "convlstm", "k_trajgru", "tsru_c", "tsru_p", "tsru_s", "ptsru_s"])
def test_every_recurrent_unit_trains(tmp_path, unit):
  result = run_cli(*TINY, f"--gin_param=Generator.recurrent_unit = '{unit}'",
                   "--gin_param=DiscriminatorEnsemble.decomposition = 'dvd_gan_fp_faster'",
                   f"--model_dir={tmp_path}")
  assert result.returncode == 0, result.stderr[-3000:]
  assert os.path.exists(tmp_path / "operative_config-3.gin")


@pytest.mark.slow
@pytest.mark.parametrize("decomposition", ["clip", "downsampled", "cropped", "cropped_downsampled",
                                           "mocogan_like_k1", "mocogan_like_k8", "dvd_gan_fp",
                                           "dvd_gan_fp_faster", "dvd_gan_fp_stronger"])
def test_every_decomposition_trains(tmp_path, decomposition):
  result = run_cli(*TINY, "--gin_param=Generator.recurrent_unit = 'convgru'",
                   f"--gin_param=DiscriminatorEnsemble.decomposition = '{decomposition}'",
                   f"--model_dir={tmp_path}")
  assert result.returncode == 0, result.stderr[-3000:]


MIRRORED = """
import sys, tensorflow as tf
tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                           [tf.config.LogicalDeviceConfiguration()] * 2)
from absl import flags
from trivd_gan import train
flags.FLAGS(["train"] + sys.argv[1:])
result = train.run(flags.FLAGS)
assert result["trainer"].num_replicas == 2 and result["step"] == 3
"""


@pytest.mark.slow
def test_mirrored_two_cpu_devices(tmp_path):
  env = {**os.environ, "PYTHONPATH": ROOT}
  result = subprocess.run([sys.executable, "-c", MIRRORED, *TINY, "--strategy=mirrored",
                           f"--model_dir={tmp_path}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]


def _free_ports(n):
  sockets = [socket.socket() for _ in range(n)]
  for s in sockets:
    s.bind(("127.0.0.1", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


@pytest.mark.slow
def test_multi_worker_two_local_workers(tmp_path):
  workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
  env = {**os.environ, "PYTHONPATH": ROOT}
  procs = []
  for index in range(2):
    tf_config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
    procs.append(subprocess.Popen(
        [sys.executable, "-m", "trivd_gan.train", *TINY, "--strategy=multi_worker", "--steps=2",
         f"--model_dir={tmp_path}"], cwd=ROOT, env={**env, "TF_CONFIG": tf_config}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True))
  outputs = [p.communicate(timeout=600) for p in procs]
  for p, (_, err) in zip(procs, outputs):
    assert p.returncode == 0, err[-3000:]
  chief, other = _checkpoint_values(str(tmp_path)), _checkpoint_values(str(tmp_path / "worker_1"))
  assert sorted(chief) == sorted(other)
  for name in chief:
    np.testing.assert_array_equal(chief[name], other[name], err_msg=name)


@pytest.mark.slow
def test_jit_compile_and_mixed_precision_step(tmp_path):
  result = run_cli("--gin_file=gin/base.gin", "--gin_file=gin/tiny.gin", "--gin_param=train.jit_compile = True",
                   "--gin_param=train.d_steps_per_g_step = 1", "--steps=1", f"--model_dir={tmp_path / 'jit'}")
  assert result.returncode == 0, result.stderr[-3000:]
  result = run_cli(*TINY, "--gin_param=train.mixed_precision = True", "--steps=1",
                   f"--model_dir={tmp_path / 'bf16'}")
  assert result.returncode == 0, result.stderr[-3000:]
