"""evaluation/report.py: summaries over runs (unbiased std), per-frame curves, random-I3D labels, strict JSON,
which frames enter FVD."""

import json

import numpy as np
import pytest

from trivd_gan.evaluation import report


def _report(random_embedder, runs=3, tp=3, best_of_l=0):
  rng = np.random.default_rng(0)
  return report.assemble_report(
      embedder_name="random-i3d400-seed0" if random_embedder else "i3d-hub-i3d-kinetics-400_1",
      random_embedder=random_embedder, fvd_runs=[100.0, 110.0, 120.0][:runs], is_runs=[1.5, 1.7, 1.6][:runs],
      copy_fvd=330.0, psnr_runs=rng.uniform(10, 30, [runs, tp]), ssim_runs=rng.uniform(0, 1, [runs, tp]),
      copy_psnr=np.full([tp], np.inf), copy_ssim=np.ones([tp]), num_context=5, num_predicted=tp,
      best_of_l=best_of_l, best_of_l_ssim=np.full([tp], 0.5) if best_of_l else None)


def test_summarize_runs_mean_and_unbiased_std():
  values = [3.0, 5.0, 10.0]
  summary = report.summarize_runs(values)
  assert summary["mean"] == pytest.approx(6.0)
  # Unbiased (N - 1), as the paper's std over runs: sqrt(((-3)^2 + (-1)^2 + 4^2) / 2).
  assert summary["std"] == pytest.approx(np.sqrt(13.0))
  assert summary["num_runs"] == 3 and summary["per_run"] == values
  one = report.summarize_runs([7.0])
  assert one["mean"] == 7.0 and one["std"] is None
  with pytest.raises(ValueError):
    report.summarize_runs([])


def test_summarize_per_frame_curves_and_frame_numbers():
  curves = [[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]]
  summary = report.summarize_per_frame(curves, first_frame=6)
  assert summary["per_frame"] == [2.0, 3.0, 4.0]
  assert summary["frames"] == [6, 7, 8]
  assert summary["per_run"] == [2.0, 4.0]
  assert summary["std"] == pytest.approx(np.std([2.0, 4.0], ddof=1))


def test_random_embedder_labels_every_i3d_figure():
  result = _report(random_embedder=True)
  names = set(result["metrics"])
  assert {"fvd_random_i3d", "inception_score_random_i3d", "copy_last_frame_fvd_random_i3d"} <= names
  assert not {"fvd", "inception_score", "copy_last_frame_fvd"} & names
  assert result["random_embedder"] and "RANDOM" in result["notes"][0]
  assert result["metrics"]["fvd_random_i3d"]["mean"] == pytest.approx(110.0)
  assert result["metrics"]["fvd_random_i3d"]["std"] == pytest.approx(10.0)
  table = report.markdown_table(result)
  assert "| fvd_random_i3d | 110.000 | 10.000 | 3 |" in table
  assert "| fvd |" not in table


def test_real_embedder_names_and_json_round_trip():
  result = _report(random_embedder=False, best_of_l=100)
  assert {"fvd", "inception_score", "copy_last_frame_fvd", "psnr", "ssim", "copy_last_frame_psnr",
          "copy_last_frame_ssim", "best_of_100_ssim"} == set(result["metrics"])
  assert not any("random" in name for name in result["metrics"])
  assert result["metrics"]["copy_last_frame_fvd"]["std"] is None
  # Identical frames give PSNR = inf: stored as null so that the file is strict JSON.
  assert result["metrics"]["copy_last_frame_psnr"]["per_frame"] == [None] * 3
  text = json.dumps(result, allow_nan=False)
  assert json.loads(text)["metrics"]["psnr"]["frames"] == [6, 7, 8]


def test_frames_description_says_which_frames_enter_fvd():
  paper = report.frames_description(5, 11)
  assert "frames 1-5 are the real context frames" in paper and "frames 6-16" in paper
  assert "not comparable" not in paper
  tiny = report.frames_description(2, 2, time_repeat=3)
  assert "not comparable" in tiny and "repeated 3 times" in tiny
  assert report.time_repeat_factor(16) == 1 and report.time_repeat_factor(9) == 1
  assert report.time_repeat_factor(4) == 3 and report.time_repeat_factor(2) == 5
