"""Tests of the evaluation CLI (trivd_gan/evaluate.py): help, bad input, the data named by the run's record, end
to end. (Its library: tests/evaluation/test_report.py, test_accumulators.py, test_eval_data.py,
test_runner.py.)"""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from trivd_gan import evaluate

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_no_truncation_by_default_and_help_says_why():
  # FVD / IS compare sample and data distributions: no truncation; predict and the exporter show samples at 0.8.
  assert evaluate.FLAGS["truncation"].default is None
  result = _run_cli("--help")
  text = " ".join(result.stdout.split())
  assert "--truncation: Latent truncation; default: none" in text, text[-2000:]
  assert "D.1-D.3" in text and "predict's and the exporter's default" in text


def _run_cli(*args, timeout=120):
  env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
  return subprocess.run([sys.executable, "-m", "trivd_gan.evaluate", *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=timeout, check=False)


@pytest.mark.parametrize("case", ["missing_model_dir", "absent_dir", "no_checkpoint", "bad_int", "unknown_flag",
                                  "few_samples", "no_i3d"])
def test_bad_input_is_one_line_exit_2(tmp_path, case):
  empty = tmp_path / "empty"
  empty.mkdir()
  fake = tmp_path / "fake"
  fake.mkdir()
  (fake / "checkpoint").write_text("")
  args = {
      "missing_model_dir": ["--i3d=random"],
      "absent_dir": [f"--model_dir={tmp_path / 'nope'}", "--i3d=random"],
      "no_checkpoint": [f"--model_dir={empty}", "--i3d=random"],
      "bad_int": [f"--model_dir={fake}", "--i3d=random", "--num_samples=many"],
      "unknown_flag": [f"--model_dir={fake}", "--i3d=random", "--num_sample=4"],
      "few_samples": [f"--model_dir={fake}", "--i3d=random", "--num_samples=1"],
      "no_i3d": [f"--model_dir={fake}"],
  }[case]
  result = _run_cli(*args)
  assert result.returncode == 2, result.stderr
  assert "Traceback" not in result.stderr
  lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
  assert len(lines) == 1, result.stderr


def test_num_samples_larger_than_the_split_is_refused_before_the_model_loads(tmp_path):
  # 5000 clips of the 1024-clip synthetic test split used to start, with an ETA of over an hour.
  run = tmp_path / "run"
  run.mkdir()
  (run / "checkpoint").write_text("")  # no real checkpoint: loading the model would fail with another message
  (run / "model_config.json").write_text(json.dumps(
      {"generator": {"num_context_frames": 2, "num_predicted_frames": 2, "resolution": 32}}))
  result = _run_cli(f"--model_dir={run}", "--i3d=random", "--dataset=synthetic", "--num_samples=5000")
  assert result.returncode == 2, result.stderr[-3000:]
  assert "Traceback" not in result.stderr
  assert result.stderr.strip().splitlines()[-1] == (
      "error: --num_samples=5000 is larger than the 'test' split of synthetic (1024 clips); pass "
      "--num_samples <= 1024, or another --split / data set with more clips.")


def test_without_gin_the_data_set_comes_from_the_runs_record(tmp_path):
  # No --dataset and no operative config: the trainer's model_config.json "data" record names the data.
  run = tmp_path / "run"
  run.mkdir()
  (run / "checkpoint").write_text("")
  (run / "model_config.json").write_text(json.dumps(
      {"generator": {"num_context_frames": 2, "num_predicted_frames": 2, "resolution": 32},
       "data": {"dataset_fn": "synthetic_dataset", "data_dir": None}}))
  result = _run_cli(f"--model_dir={run}", "--i3d=random", "--num_samples=5000")
  assert result.returncode == 2, result.stderr[-3000:]
  assert "larger than the 'test' split of synthetic (1024 clips)" in result.stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_end_to_end_tiny_model_with_random_i3d(tmp_path):
  """Trains tiny.gin for one step with the trainer's CLI, then evaluates it (random I3D, 4 clips, 2 runs)."""
  model_dir = tmp_path / "model"
  env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
  train = subprocess.run([sys.executable, "-m", "trivd_gan.train", "--gin_file=gin/base.gin",
                          "--gin_file=gin/tiny.gin", "--gin_param=train.run_eagerly = True",
                          f"--model_dir={model_dir}", "--steps=1"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=900, check=False)
  assert train.returncode == 0, train.stderr[-3000:]
  output = tmp_path / "report.json"
  cache = tmp_path / "cache"
  args = [f"--model_dir={model_dir}", "--i3d=random", "--num_samples=4", "--runs=2", "--batch_size=4",
          "--standing_stats_batches=1", "--standing_stats_batch_size=4", f"--output={output}",
          f"--cache_dir={cache}", "--truncation=0.8"]
  result = _run_cli(*args, timeout=900)
  assert result.returncode == 0, result.stderr[-3000:]
  report = json.loads(output.read_text())
  metrics = report["metrics"]
  for name in ("fvd_random_i3d", "inception_score_random_i3d", "copy_last_frame_fvd_random_i3d", "psnr", "ssim",
               "copy_last_frame_psnr", "copy_last_frame_ssim"):
    assert name in metrics, name
  assert "fvd" not in metrics
  assert metrics["fvd_random_i3d"]["num_runs"] == 2 and metrics["fvd_random_i3d"]["std"] is not None
  assert metrics["inception_score_random_i3d"]["mean"] >= 1.0 - 1e-9
  assert len(metrics["psnr"]["per_frame"]) == 2 and metrics["psnr"]["frames"] == [3, 4]  # tiny.gin: Tc 2, Tp 2
  assert report["fvd_frames"] == {**report["fvd_frames"], "context": 2, "predicted": 2, "total": 4,
                                  "time_repeat": 3}
  assert report["config"]["dataset"] == "synthetic" and report["config"]["standing_statistics_passes"] == 1
  assert not report["config"]["real_statistics_from_cache"]
  assert os.path.exists(report["config"]["real_statistics_cache"])
  assert "| fvd_random_i3d |" in result.stdout
