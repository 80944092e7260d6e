"""Tests of the evaluation CLI (trivd_gan/evaluate.py): report assembly, streaming pieces, bad input,
end to end."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from trivd_gan import evaluate

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _report(random_embedder, runs=3, tp=3, best_of_l=0):
  rng = np.random.default_rng(0)
  return evaluate.assemble_report(
      embedder_name="random-i3d400-seed0" if random_embedder else "i3d-hub-i3d-kinetics-400_1",
      random_embedder=random_embedder, fvd_runs=[100.0, 110.0, 120.0][:runs], is_runs=[1.5, 1.7, 1.6][:runs],
      copy_fvd=330.0, psnr_runs=rng.uniform(10, 30, [runs, tp]), ssim_runs=rng.uniform(0, 1, [runs, tp]),
      copy_psnr=np.full([tp], np.inf), copy_ssim=np.ones([tp]), num_context=5, num_predicted=tp,
      best_of_l=best_of_l, best_of_l_ssim=np.full([tp], 0.5) if best_of_l else None)


def test_summarize_runs_mean_and_unbiased_std():
  values = [3.0, 5.0, 10.0]
  summary = evaluate.summarize_runs(values)
  assert summary["mean"] == pytest.approx(6.0)
  # Unbiased (N - 1), as the paper's std over runs: sqrt(((-3)^2 + (-1)^2 + 4^2) / 2).
  assert summary["std"] == pytest.approx(np.sqrt(13.0))
  assert summary["num_runs"] == 3 and summary["per_run"] == values
  one = evaluate.summarize_runs([7.0])
  assert one["mean"] == 7.0 and one["std"] is None
  with pytest.raises(ValueError):
    evaluate.summarize_runs([])


def test_summarize_per_frame_curves_and_frame_numbers():
  curves = [[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]]
  summary = evaluate.summarize_per_frame(curves, first_frame=6)
  assert summary["per_frame"] == [2.0, 3.0, 4.0]
  assert summary["frames"] == [6, 7, 8]
  assert summary["per_run"] == [2.0, 4.0]
  assert summary["std"] == pytest.approx(np.std([2.0, 4.0], ddof=1))


def test_random_embedder_labels_every_i3d_figure():
  report = _report(random_embedder=True)
  names = set(report["metrics"])
  assert {"fvd_random_i3d", "inception_score_random_i3d", "copy_last_frame_fvd_random_i3d"} <= names
  assert not {"fvd", "inception_score", "copy_last_frame_fvd"} & names
  assert report["random_embedder"] and "RANDOM" in report["notes"][0]
  assert report["metrics"]["fvd_random_i3d"]["mean"] == pytest.approx(110.0)
  assert report["metrics"]["fvd_random_i3d"]["std"] == pytest.approx(10.0)
  table = evaluate.markdown_table(report)
  assert "| fvd_random_i3d | 110.000 | 10.000 | 3 |" in table
  assert "| fvd |" not in table


def test_real_embedder_names_and_json_round_trip():
  report = _report(random_embedder=False, best_of_l=100)
  assert {"fvd", "inception_score", "copy_last_frame_fvd", "psnr", "ssim", "copy_last_frame_psnr",
          "copy_last_frame_ssim", "best_of_100_ssim"} == set(report["metrics"])
  assert not any("random" in name for name in report["metrics"])
  assert report["metrics"]["copy_last_frame_fvd"]["std"] is None
  # Identical frames give PSNR = inf: stored as null so that the file is strict JSON.
  assert report["metrics"]["copy_last_frame_psnr"]["per_frame"] == [None] * 3
  text = json.dumps(report, allow_nan=False)
  assert json.loads(text)["metrics"]["psnr"]["frames"] == [6, 7, 8]


def test_frames_description_says_which_frames_enter_fvd():
  paper = evaluate.frames_description(5, 11)
  assert "frames 1-5 are the real context frames" in paper and "frames 6-16" in paper
  assert "not comparable" not in paper
  tiny = evaluate.frames_description(2, 2, time_repeat=3)
  assert "not comparable" in tiny and "repeated 3 times" in tiny
  assert evaluate.time_repeat_factor(16) == 1 and evaluate.time_repeat_factor(9) == 1
  assert evaluate.time_repeat_factor(4) == 3 and evaluate.time_repeat_factor(2) == 5


def test_per_frame_mean_streams():
  acc = evaluate.PerFrameMean()
  data = np.arange(12.0).reshape(6, 2)
  acc.update(data[:4])
  acc.update(data[4:])
  np.testing.assert_allclose(acc.result(), data.mean(axis=0))


def test_streaming_best_of_l_equals_best_of_l_ssim():
  from trivd_gan import evaluation as ev  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(1)
  targets = rng.uniform(-1, 1, [3, 2, 16, 16, 3]).astype(np.float32)
  # Samples are noisy copies of the targets with different noise levels, so the best one differs by context.
  samples = np.stack([np.clip(targets + rng.normal(0, s, targets.shape), -1, 1) for s in (0.8, 0.2, 0.5, 0.2)])
  samples = samples.astype(np.float32)
  expected, _ = ev.best_of_l_ssim(samples, targets)
  chooser = evaluate.StreamingBestOfL()
  for sample in samples:
    chooser.update(ev.ssim_per_frame(sample, targets))
  np.testing.assert_allclose(chooser.result(), expected.numpy(), rtol=1e-6)


def test_dataset_cache_key_separates_frames_size_and_folder():
  a = evaluate.dataset_cache_key("kinetics600", 16, 64, None)
  assert a == "kinetics600-16f-64px"
  assert evaluate.dataset_cache_key("kinetics600", 16, 64, "/data/a") != evaluate.dataset_cache_key(
      "kinetics600", 16, 64, "/data/b")


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


def test_split_size_unknown_up_front_is_left_to_the_run():
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  def folder_like(**kwargs):  # a from_generator pipeline (video folders): size unknown until read
    del kwargs
    return tf.data.Dataset.from_generator(lambda: iter([1, 2]), output_signature=tf.TensorSpec([], tf.int32))

  assert evaluate.check_num_samples(folder_like, "video_folder", "test", None, 50, 4, 32) is None
  sized = lambda **kw: tf.data.Dataset.range(10).batch(kw["batch_size"])
  assert evaluate.check_num_samples(sized, "x", "test", None, 10, 4, 32) == 10
  with pytest.raises(ValueError, match=r"\(10 clips\); pass --num_samples <= 10"):
    evaluate.check_num_samples(sized, "x", "test", None, 11, 4, 32)


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


# Not a raw string: the backslash-newline below is dropped, so the program runs the `g = ...` line as one line.
_MIRRORED_CHECK = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from trivd_gan import evaluate
from trivd_gan.models.generator import Generator, sample_latents
g = Generator(channel_multiplier=1, num_context_frames=2, num_predicted_frames=2, \
resolution=32).build_for_shapes(1)
s = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice())
ctx = tf.random.uniform([3, 2, 32, 32, 3], -1, 1, seed=1)
z = sample_latents(3, seed=tf.constant([1, 2], tf.int64))
a = evaluate.make_generate_fn(g, None)(ctx, z, None)
b = evaluate.make_generate_fn(g, s)(ctx, z, None)  # 3 clips on 2 replicas: padded to 4, cut back to 3
assert s.num_replicas_in_sync == 2 and b.shape == a.shape, (b.shape, a.shape)
assert float(tf.reduce_max(tf.abs(a - b))) < 1e-4
print("OK")
"""


@pytest.mark.slow
def test_mirrored_generation_equals_single_device():
  env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
  result = subprocess.run([sys.executable, "-c", _MIRRORED_CHECK], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
  assert result.returncode == 0 and "OK" in result.stdout, result.stderr[-3000:]
