"""evaluation/eval_data.py: which data set an evaluation reads (--dataset, gin's train.dataset_fn, the run's
model_config.json record), the cache key, and the split-size check."""

import json

import gin
import pytest
import tensorflow as tf

from trivd_gan import configurables  # pylint: disable=unused-import (registers the data functions with gin)
from trivd_gan import data as data_lib
from trivd_gan.evaluation import eval_data


@pytest.fixture(autouse=True)
def _clean_gin():
  gin.clear_config()
  yield
  gin.clear_config()


def _model_dir(tmp_path, data):
  (tmp_path / "model_config.json").write_text(json.dumps({"generator": {}, "discriminator": {}, "data": data}))
  return str(tmp_path)


def test_every_source_has_its_gin_function():
  assert sorted(eval_data.DATASET_FUNCTIONS.values()) == sorted(data_lib.SOURCES)


def test_the_flag_names_the_data_set():
  name, _, data_dir = eval_data.resolve_dataset("moving_mnist", "/mnist")
  assert (name, data_dir) == ("moving_mnist", "/mnist")
  with pytest.raises(ValueError, match=r"Unknown --dataset=mnist; choose one of \["):
    eval_data.resolve_dataset("mnist")


def test_gin_names_the_data_set_by_its_function_and_keeps_its_bindings():
  gin.parse_config(["train.dataset_fn = @video_folder_dataset", "train.data_dir = '/videos'"])
  name, dataset_fn, data_dir = eval_data.resolve_dataset()
  assert (name, data_dir) == ("video_folder", "/videos")
  # The gin-configured function, so that bindings of the run's data function apply to the evaluation data.
  assert dataset_fn is gin.query_parameter("train.dataset_fn").scoped_configurable_fn
  assert eval_data.resolve_dataset(data_dir="/other")[2] == "/other"
  gin.clear_config()
  gin.parse_config(["train.dataset_fn = @make_dataset", "make_dataset.name = 'bair'"])
  assert eval_data.resolve_dataset()[0] == "bair"
  gin.clear_config()
  gin.parse_config(["train.dataset_fn = @make_dataset"])
  assert eval_data.resolve_dataset()[0] == "synthetic"  # make_dataset's default
  gin.clear_config()
  gin.parse_config(["train.dataset_fn = @Generator"])
  with pytest.raises(ValueError, match=r"train.dataset_fn = @Generator is not a trivd_gan data set"):
    eval_data.resolve_dataset()


def test_gin_wins_over_the_runs_record(tmp_path):
  model_dir = _model_dir(tmp_path, {"dataset_fn": "moving_mnist_dataset", "data_dir": "/mnist"})
  gin.parse_config(["train.dataset_fn = @synthetic_dataset"])
  assert eval_data.resolve_dataset(model_dir=model_dir)[::2] == ("synthetic", None)


def test_without_gin_the_runs_record_names_the_data_set(tmp_path):
  model_dir = _model_dir(tmp_path, {"dataset_fn": "moving_mnist_dataset", "data_dir": "/mnist"})
  name, _, data_dir = eval_data.resolve_dataset(model_dir=model_dir)
  assert (name, data_dir) == ("moving_mnist", "/mnist")
  assert eval_data.resolve_dataset(data_dir="/other", model_dir=model_dir)[2] == "/other"


@pytest.mark.parametrize("data", [None, {"dataset_fn": "make_dataset"}, {"dataset_fn": "my_clips"}])
def test_no_data_set_named_anywhere_is_refused(tmp_path, data):
  model_dir = _model_dir(tmp_path, data) if data else str(tmp_path)
  with pytest.raises(ValueError, match=r"no data set: pass --dataset=NAME or a gin file binding "
                                       r"train.dataset_fn."):
    eval_data.resolve_dataset(model_dir=model_dir)


def test_dataset_cache_key_separates_frames_size_and_folder():
  a = eval_data.dataset_cache_key("kinetics600", 16, 64, None)
  assert a == "kinetics600-16f-64px"
  assert eval_data.dataset_cache_key("kinetics600", 16, 64, "/data/a") != eval_data.dataset_cache_key(
      "kinetics600", 16, 64, "/data/b")


def test_split_size_unknown_up_front_is_left_to_the_run():

  def folder_like(**kwargs):  # a from_generator pipeline (video folders): size unknown until read
    del kwargs
    return tf.data.Dataset.from_generator(lambda: iter([1, 2]), output_signature=tf.TensorSpec([], tf.int32))

  assert eval_data.check_num_samples(folder_like, "video_folder", "test", None, 50, 4, 32) is None
  sized = lambda **kw: tf.data.Dataset.range(10).batch(kw["batch_size"])
  assert eval_data.check_num_samples(sized, "x", "test", None, 10, 4, 32) == 10
  with pytest.raises(ValueError, match=r"\(10 clips\); pass --num_samples <= 10"):
    eval_data.check_num_samples(sized, "x", "test", None, 11, 4, 32)


def test_clip_batches_yield_exactly_the_first_n_clips():
  dataset_fn = eval_data.source_dataset_fn("synthetic")
  batches = list(eval_data.clip_batches(dataset_fn, "test", None, 4, 3, 32, num_samples=6))
  assert [int(video.shape[0]) for video, _ in batches] == [4, 2]
  assert batches[0][0].shape[1:] == (3, 32, 32, 3) and batches[0][1].shape == (4,)
  two = lambda **kw: tf.data.Dataset.from_tensors({"video": tf.zeros([2, 3, 8, 8, 3]), "label": tf.zeros([2])})
  with pytest.raises(ValueError, match=r"the 'test' split has only 2 clips; use --num_samples <= 2."):
    list(eval_data.clip_batches(two, "test", None, 2, 3, 8, num_samples=5))
