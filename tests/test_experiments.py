"""The programs of docs/learning.md's experiments (experiments/): motion_readout, walls, field_finetune,
pooled_fields."""

import gzip
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from experiments import field_finetune
from experiments import motion_readout
from experiments import pooled_fields
from experiments import walls
from trivd_gan import data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = os.path.join(ROOT, "pretrained", "moving_mnist")


def test_motion_readout_trains_and_scores_the_held_out_pans():
  lines = []
  curve = motion_readout.run(steps=2, batch_size=2, channel_multiplier=1, resolution=32, eval_every=1,
                             num_eval_clips=16, encoder_correlation=True, warp_spectral_norm=False,
                             flow_weight=1.0, log=lines.append)
  assert [c["step"] for c in curve] == [1, 2] and len(lines) == 2 and "motion cosine" in lines[0]
  for c in curve:
    assert -1.0 <= c["mean_cosine"] <= 1.0 and 0.0 <= c["fraction_above_0.5"] <= 1.0
    assert np.isfinite(c["train_loss"]) and c["train_loss"] > 0
    assert 0 < c["l1_first_frame"] <= 2 and 0 < c["copy_last_l1_first_frame"] < c["copy_last_l1_mean"]
  assert curve[0]["l1_mean"] != curve[1]["l1_mean"]  # G was trained between the two scores


# experiments/walls.py: each digit's ink at its true position, before and after it bounces (learning.md 17).


@pytest.fixture(scope="module")
def test_digits_dir(tmp_path_factory):
  """A folder of MNIST files (test and train): 50 random 28x28 "digits" each, ink only 4 px or more from the
  edge."""
  root = tmp_path_factory.mktemp("mnist_test")
  for name, seed in (("t10k-images-idx3-ubyte.gz", 1), ("train-images-idx3-ubyte.gz", 2)):
    digits = np.zeros((50, 28, 28), np.uint8)
    digits[:, 4:24, 4:24] = np.random.default_rng(seed).integers(0, 2, (50, 20, 20)) * 255
    with gzip.open(root / name, "wb") as f:
      f.write(np.array([2051, 50, 28, 28], ">u4").tobytes() + digits.tobytes())
  return str(root)


def test_walls_regenerates_the_probes_held_out_clips_with_their_positions(test_digits_dir):
  seqs = walls.held_out_sequences(test_digits_dir, 6, 20)
  ds = data.make_dataset("moving_mnist", split="test", data_dir=test_digits_dir, batch_size=6, num_frames=20,
                         image_size=64, training=False)
  video = next(iter(ds))["video"].numpy()
  np.testing.assert_allclose(seqs["video"] / 127.5 - 1.0, video[..., 0], atol=1e-6)
  # Each frame is the max of its digits drawn at their positions.
  redrawn = np.zeros_like(seqs["video"])
  for i, j, k in np.ndindex(*seqs["positions"].shape[:3]):
    y, x = seqs["positions"][i, j, k]
    np.maximum(redrawn[i, j, y:y + 28, x:x + 28], seqs["digits"][i, k], out=redrawn[i, j, y:y + 28, x:x + 28])
  np.testing.assert_array_equal(redrawn, seqs["video"])
  with pytest.raises(ValueError, match="20 frames"):
    walls.held_out_sequences(test_digits_dir, 1, 21)


def test_digit_recall_counts_the_ink_at_the_true_position_within_the_tolerance(test_digits_dir):
  seqs = walls.held_out_sequences(test_digits_dir, 3, 4)
  frames, positions, digits = seqs["video"] / 255.0, seqs["positions"], seqs["digits"]
  np.testing.assert_allclose(walls.digit_recall(frames, positions, digits), 1.0)
  assert np.all(walls.digit_recall(np.zeros_like(frames), positions, digits) == 0.0)
  shifted = np.roll(frames, 2, axis=2)  # 2 px down (digits keep 4 px of black border: nothing wraps)
  assert walls.digit_recall(shifted, positions, digits).mean() < 0.8
  np.testing.assert_allclose(walls.digit_recall(shifted, positions, digits, tolerance=2), 1.0)
  # A NumPy reference of one digit: sum min(frame, digit) / sum digit, the frame half as bright.
  y, x = positions[1, 2, 0]
  digit = digits[1, 0] / 255.0
  expected = np.minimum(0.5 * frames[1, 2, y:y + 28, x:x + 28], digit).sum() / digit.sum()
  np.testing.assert_allclose(walls.digit_recall(0.5 * frames, positions, digits)[1, 2, 0], expected)


def test_bounce_phase_splits_the_predicted_frames_at_the_first_turn():
  tc, tp = 3, 5
  velocities = np.ones((1, tc + tp, 4, 2), np.float32)
  velocities[0, tc + 2:, 1, 0] = -1  # digit 1 turns at frame tc + 2: it moves back from frame tc + 3 on
  velocities[0, tc:, 2, 1] = -1  # digit 2 turns at the first predicted frame
  velocities[0, tc + tp - 1:, 3] = -1  # digit 3 turns at the last predicted frame: no predicted frame follows
  phase = walls.bounce_phase(velocities, tc)
  np.testing.assert_array_equal(phase[0].T,
                                [[0, 0, 0, 0, 0], [1, 1, 1, 2, 2], [1, 2, 2, 2, 2], [0, 0, 0, 0, 0]])
  np.testing.assert_array_equal(walls.frames_since_bounce(phase)[0, :, 1], [0, 0, 0, 1, 2])
  report = walls.phase_report(np.full((1, tp, 4), 0.5), np.full((1, tp, 4), 0.25), phase)
  assert report["after_bounce"]["count"] == [0, 1, 1, 2, 2] and report["after_bounce"]["model"][0] is None
  assert report["no_bounce"]["model"] == [0.5] * tp
  assert report["before_bounce"]["copy_last_frame"][:3] == [0.25] * 3
  assert report["after_bounce_by_frames_since"]["count"] == [2, 2, 1, 1]


def test_track_digits_finds_each_digit_where_the_frames_moved_it(test_digits_dir):
  seqs = walls.held_out_sequences(test_digits_dir, 3, 4)
  frames, positions, digits = seqs["video"] / 255.0, seqs["positions"], seqs["digits"]
  np.testing.assert_array_equal(walls.track_digits(frames, positions, digits), 0)
  moved = np.zeros_like(frames)
  moved[:, :, 3:, :-2] = frames[:, :, :-3, 2:]  # everything 3 px down and 2 px left
  offsets = walls.track_digits(moved, positions, digits)
  # No digit is cut (their ink keeps 4 px from their box, boxes stay inside the frame): all found at (3, -2).
  np.testing.assert_array_equal(offsets, np.broadcast_to([3, -2], offsets.shape))
  np.testing.assert_array_equal(walls.track_digits(np.zeros_like(frames), positions, digits), 0)  # ties: (0, 0)


def test_field_report_slope_is_one_for_the_true_displacement_and_half_for_half_of_it():
  rng = np.random.default_rng(0)
  displacement = rng.normal(size=(20, 3, 2, 2))
  phase = np.zeros((20, 3, 2), int)
  phase[:, 1:] = 2
  report = walls.field_report(0.5 * displacement, displacement, phase)
  for entry in report["all"]:
    np.testing.assert_allclose(entry["slope_dy_dx"], 0.5)
    np.testing.assert_allclose(entry["correlation_dy_dx"], 1.0)
  assert report["after_bounce"][0] is None and report["no_bounce"][1] is None
  assert report["no_bounce"][0]["slope_dy_dx"] == pytest.approx([0.5] * 2)
  assert report["after_bounce"][1]["slope_dy_dx"] == pytest.approx([0.5] * 2)
  reverse = walls.field_report(-displacement, displacement, phase)
  assert reverse["all"][0]["slope_dy_dx"] == pytest.approx([-1] * 2)
  # The field of a digit is its mean over the digit's ink at its true position.
  digits = np.zeros((1, 1, 28, 28), np.uint8)
  digits[0, 0, 10:12, 10:12] = 255
  fields = np.zeros((1, 1, 64, 64, 2))
  fields[0, 0, 15:17, 20:22] = (3.0, -1.0)
  np.testing.assert_allclose(walls.field_on_digits(fields, np.array([[[[5, 10]]]]), digits)[0, 0, 0], (3, -1))


def test_walls_scores_the_shipped_model_on_held_out_sequences(test_digits_dir):
  lines = []
  report = walls.run(test_digits_dir, num_clips=4, batch_size=4, model=SHIPPED,
                     log=lines.append)
  assert len(lines) == 4 and lines[0].startswith("no_bounce")
  counts = np.array([report["recall"][name]["count"] for name in walls.PHASES])
  assert np.all(counts.sum(axis=0) == 8) and report["num_digits"] == 8
  for name in walls.PHASES:
    for value in report["recall"][name]["model"] + report["recall"][name]["copy_last_frame"]:
      assert value is None or 0.0 <= value <= 1.0
    for value in report["distance_px"][name]["model"] + report["distance_px"][name]["copy_last_frame"]:
      assert value is None or 0.0 <= value <= 10 * 2 ** 0.5
  assert len(report["field"]["all"]) == 10 and report["settings"]["tolerance"] == 2


def test_field_at_digits_reads_the_field_under_each_digits_ink():
  digits = np.zeros((1, 2, 28, 28), np.uint8)
  digits[0, 0, 5:10, 5:10] = 255
  digits[0, 1, 0:4, 0:4] = 128
  field = np.zeros((1, 64, 64, 2))
  field[0, 5:10, 5:10] = (1.0, -2.0)  # under digit 0 at (0, 0)
  field[0, 40:44, 60:64] = (3.0, 0.5)  # under digit 1 at (40, 60), its ink cut at the frame's edge (x 60-63)
  read = pooled_fields.field_at_digits(field, np.array([[[0, 0], [40, 60]]]), digits)
  np.testing.assert_allclose(read, [[[1.0, -2.0], [3.0, 0.5]]])


def test_pooled_fields_scores_the_shipped_fields_raw_and_pooled(test_digits_dir):
  report = pooled_fields.run(test_digits_dir, SHIPPED, num_clips=4, batch_size=4)
  assert sum(report["regions"].values()) == 4 and set(report["error_px"]) == {"raw", "object", "window"}
  for errors in report["error_px"].values():
    assert set(errors) == {"all", *report["regions"]} and all(0.0 <= v < 20.0 for v in errors.values())


@pytest.mark.parametrize("args, expected", [
    (["--data_dir=missing_mnist"], "error: moving_mnist needs MNIST files: set --data_dir"),
    (["--data_dir=missing_mnist", "extra"], "error: unexpected arguments ['extra']"),
])
def test_pooled_fields_cli_says_what_is_wrong_in_one_line(args, expected):
  result = subprocess.run([sys.executable, "-m", "experiments.pooled_fields", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
  assert result.returncode == 2 and expected in result.stderr, result.stderr[-2000:]
  assert "Traceback" not in result.stderr


@pytest.mark.slow  # 45 s here: the shipped 64x64 generator's training step is built and run
def test_field_finetune_trains_the_shipped_generator_on_its_field_terms(test_digits_dir, tmp_path):
  lines, path = [], str(tmp_path / "curve.json")
  curve = field_finetune.run(test_digits_dir, model=SHIPPED,
                             gin_file=os.path.join(ROOT, "gin", "pretrained", "moving_mnist_pooled_4.gin"),
                             steps=2, batch_size=2, eval_every=1, num_eval_clips=4, pooled_photometric=True,
                             reconstruction_weight=1.0, json_path=path, log=lines.append)
  assert [c["step"] for c in curve] == [0, 1, 2] and len(lines) == 5
  with open(path) as fh:
    assert json.load(fh) == curve
  for c in curve:
    assert len(c["distance_px"]) == 10 and all(0 <= d <= 10 * 2 ** 0.5 for d in c["distance_px"])
    assert all(0 <= r <= 1 for r in c["recall"]) and np.isfinite(c["psnr"]) and 0 < c["copy_last_psnr"] < 60
  assert curve[0]["train_terms"] is None
  assert set(curve[1]["train_terms"]) == {"photometric", "copy_mask", "reconstruction"}
  assert curve[0]["psnr"] != curve[2]["psnr"]  # G was trained
  with pytest.raises(ValueError, match="pooled warp_chain"):
    field_finetune.run(test_digits_dir, model=SHIPPED, gin_file=os.path.join(ROOT, "gin", "demo.gin"), steps=1)
