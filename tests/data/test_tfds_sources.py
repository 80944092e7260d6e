"""UCF-101 / BAIR wrappers: balanced BAIR split of App. C.1, split mapping, example conversion, no downloads."""

import numpy as np
import pytest
import tensorflow as tf

from trivd_gan import data
from trivd_gan.data import tfds_sources as ts


def test_balanced_bair_indices_match_appendix_c1():
  split = ts.balanced_bair_indices()
  train, test = split["train"]["train"], split["test"]
  assert len(train) == 30284  # floor(0.7 * 43264)
  np.testing.assert_array_equal(train, np.arange(30284))  # The *first* 70 %.
  np.testing.assert_array_equal(test["train"], np.arange(30284, 43264))
  np.testing.assert_array_equal(test["test"], np.arange(256))
  assert len(test["train"]) + len(test["test"]) == 13236  # ~30k eval samples' worth of windows.
  assert not set(train) & set(test["train"])


def test_balanced_bair_tfds_split_strings():
  assert ts.balanced_bair_tfds_splits() == {"train": "train[:30284]", "test": "train[30284:]+test"}
  assert ts.tfds_split(ts.BAIR_NAME, "train", balanced=True) == "train[:30284]"
  assert ts.tfds_split(ts.BAIR_NAME, "test", balanced=True) == "train[30284:]+test"
  assert ts.tfds_split(ts.BAIR_NAME, "eval", balanced=False) == "test"
  assert ts.tfds_split(ts.UCF101_NAME, "train") == "train"
  with pytest.raises(ValueError, match="split"):
    ts.tfds_split(ts.UCF101_NAME, "holdout")
  with pytest.raises(ValueError, match="train_fraction"):
    ts.balanced_bair_num_train(10, 1.5)


def test_balanced_split_datasets():
  train, evaluation = ts.balanced_split_datasets(tf.data.Dataset.range(10), tf.data.Dataset.range(100, 103), 10)
  assert list(train.as_numpy_iterator()) == list(range(7))
  assert list(evaluation.as_numpy_iterator()) == [7, 8, 9, 100, 101, 102]


def test_bair_example_to_clip():
  example = {"image_main": tf.random.uniform([30, 64, 64, 3], 0, 256, tf.int32, seed=0)}
  example["image_main"] = tf.cast(example["image_main"], tf.uint8)
  out = ts.bair_example_to_clip(example, num_frames=16, training=False)
  assert out["video"].shape == (16, 64, 64, 3) and int(out["label"]) == 0
  np.testing.assert_allclose(out["video"].numpy(), example["image_main"].numpy()[:16] / 127.5 - 1, atol=1e-6)


def test_ucf101_example_to_clip_raw_and_encoded():
  frames = tf.cast(tf.random.uniform([20, 96, 128, 3], 0, 256, tf.int32, seed=1), tf.uint8)
  raw = ts.ucf101_example_to_clip({"video": frames, "label": tf.constant(7, tf.int64)}, training=False)
  encoded = tf.stack([tf.io.encode_png(f) for f in frames])
  enc = ts.ucf101_example_to_clip({"video": encoded, "label": tf.constant(7, tf.int64)}, training=False)
  assert raw["video"].shape == (16, 64, 64, 3) and int(raw["label"]) == 7
  np.testing.assert_allclose(raw["video"].numpy(), enc["video"].numpy(), atol=1e-6)
  train = ts.ucf101_example_to_clip({
      "video": encoded,
      "label": tf.constant(7, tf.int64)
  },
                                    training=True,
                                    seed=3)
  assert train["video"].shape == (16, 64, 64, 3)


@pytest.mark.parametrize("name", ["ucf101", "bair"])
def test_unbuilt_data_is_an_error_not_a_download(name, tmp_path):
  with pytest.raises(ValueError, match="tfds build"):
    data.make_dataset(name, "train", str(tmp_path), batch_size=2)
  with pytest.raises(ValueError, match="--data_dir"):
    data.make_dataset(name, "train", None, batch_size=2)
  assert not list(tmp_path.rglob("*.tfrecord*"))


def test_unknown_source():
  with pytest.raises(ValueError, match="synthetic"):
    data.make_dataset("imagenet", "train")
