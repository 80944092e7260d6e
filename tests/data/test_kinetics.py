"""Kinetics-600 tfds builder on a tiny fake Kinetics tree (CSVs, generated mp4s, one corrupt, one missing)."""

import os

import numpy as np
import pytest

from trivd_gan import data
from trivd_gan.data import fake_data
from trivd_gan.data import kinetics


@pytest.fixture(scope="module")
def built(tmp_path_factory):
  root = tmp_path_factory.mktemp("kinetics")
  manual_dir, data_dir = str(root / "k600"), str(root / "tfds")
  expected = fake_data.write_fake_kinetics(manual_dir, videos_per_class=2, num_frames=20, corrupt=1, missing=1)
  builder = kinetics.prepare(data_dir, manual_dir)
  return builder, data_dir, manual_dir, expected


def test_clip_key_and_class_names(built):
  _, _, manual_dir, _ = built
  assert kinetics.clip_key("abc", "5", 15.0) == "abc_000005_000015"
  assert kinetics.class_names(manual_dir) == ["abseiling", "juggling"]


def test_build_skips_and_counts_bad_videos(built):
  builder, _, _, expected = built
  assert builder.skipped["train"] == {"ok": 4, "corrupt": 1, "missing": 1}
  assert builder.skipped["validation"]["ok"] == 2
  assert builder.info.splits["train"].num_examples == expected["train"]
  assert builder.info.splits["validation"].num_examples == expected["validate"]
  example = next(iter(builder.as_dataset(split="validation")))
  assert example["video"].shape[0] == 20 and min(example["video"].shape[1:3]) == 64


def test_eval_dataset_deterministic_with_labels(built):
  _, data_dir, _, _ = built
  runs = [list(data.make_dataset("kinetics600", "validation", data_dir, batch_size=2)) for _ in range(2)]
  assert len(runs[0]) == 1
  a, b = runs[0][0], runs[1][0]
  assert a["video"].shape == (2, 16, 64, 64, 3)
  np.testing.assert_array_equal(a["video"].numpy(), b["video"].numpy())
  assert sorted(a["label"].numpy().tolist()) == [0, 1]
  assert a["video"].numpy().min() >= -1 and a["video"].numpy().max() <= 1


def test_training_dataset_repeats_and_drops_short(built):
  _, data_dir, _, _ = built
  ds = data.make_dataset("kinetics600", "train", data_dir, batch_size=3, num_frames=8, frame_stride=2)
  batches = list(ds.take(3))  # 4 videos, batches of 3: only possible because training repeats.
  assert all(b["video"].shape == (3, 8, 64, 64, 3) for b in batches)
  too_long = data.make_dataset("kinetics600",
                               "validation",
                               data_dir,
                               batch_size=1,
                               num_frames=16,
                               frame_stride=2)
  assert not list(too_long)  # 20-frame videos are shorter than a 31-frame span: dropped.


def test_unbuilt_and_bad_split_errors(tmp_path, built):
  with pytest.raises(ValueError, match="python -m trivd_gan.data.kinetics"):
    data.make_dataset("kinetics600", "train", str(tmp_path), batch_size=1)
  with pytest.raises(ValueError, match="--data_dir"):
    data.make_dataset("kinetics600", "train", None, batch_size=1)
  with pytest.raises(ValueError, match="split"):
    data.make_dataset("kinetics600", "holdout", built[1], batch_size=1)
  with pytest.raises(ValueError, match="CSV"):
    os.makedirs(tmp_path / "empty_manual")
    kinetics.prepare(str(tmp_path / "tfds2"), str(tmp_path / "empty_manual"))
