"""Preprocessing of paper App. E.2 / Sec. 4.1: windows, smallest-side resize, crops, [-1, 1] scaling; the
ClipSpec every source takes."""

import inspect

import numpy as np
import pytest
import tensorflow as tf

from trivd_gan.data import pipeline
from trivd_gan.data import preprocessing as pp
from trivd_gan.data import synthetic


def test_window_span_and_bad_args():
  assert pp.window_span(16, 1) == 16
  assert pp.window_span(16, 2) == 31
  with pytest.raises(ValueError, match="frame_stride"):
    pp.window_span(16, 0)


def test_window_starts_training_in_range_and_eval_deterministic():
  rng = np.random.default_rng(0)
  starts = pp.window_starts(40, 16, 2, training=True, rng=rng, num_windows=200)
  assert min(starts) >= 0 and max(starts) <= 40 - 31
  assert len(set(starts)) > 1
  assert pp.window_starts(40, 16, 2, training=False) == [0]
  assert pp.window_starts(40, 16, 1, training=False, num_windows=3) == [0, 12, 24]
  assert pp.window_starts(15, 16, 1, training=False) == []
  with pytest.raises(ValueError, match="rng"):
    pp.window_starts(40, 16, 1, training=True)


def test_take_window_and_tf_indices_use_stride():
  frames = np.arange(50)
  np.testing.assert_array_equal(pp.take_window(frames, 3, 4, 2), [3, 5, 7, 9])
  np.testing.assert_array_equal(pp.tf_window_indices(50, 4, 3, training=False), [0, 3, 6, 9])
  idx = pp.tf_window_indices(20, 16, 1, training=True, seed=1).numpy()
  assert 0 <= idx[0] <= 4 and np.all(np.diff(idx) == 1)


@pytest.mark.parametrize("height,width,expected", [(240, 320, (64, 85)), (720, 1280, (64, 114)),
                                                   (48, 30, (102, 64)), (64, 64, (64, 64)), (1, 5, (64, 320))])
def test_resize_smallest_side(height, width, expected):
  video = tf.ones([2, height, width, 3], tf.uint8) * 200
  out = pp.resize_smallest_side(video, 64)
  assert tuple(out.shape[1:3]) == expected
  np.testing.assert_allclose(out.numpy(), 200.0, atol=1e-3)  # Bilinear keeps a constant image constant.


def test_ensure_rgb_handles_gray_and_alpha():
  assert pp.ensure_rgb(tf.zeros([2, 8, 8, 1])).shape[-1] == 3
  assert pp.ensure_rgb(tf.zeros([2, 8, 8, 4])).shape[-1] == 3
  with pytest.raises(ValueError, match="channels"):
    pp.ensure_rgb(tf.zeros([2, 8, 8, 2]))


def test_scale_to_unit_range():
  out = pp.scale_to_unit_range(tf.constant([0, 127.5, 255], tf.float32)).numpy()
  np.testing.assert_allclose(out, [-1, 0, 1])


def test_preprocess_clip_eval_is_center_crop_and_training_random():
  video = np.random.default_rng(0).integers(0, 256, [3, 64, 100, 1], dtype=np.uint8)
  out = pp.preprocess_clip(tf.constant(video), 64, training=False).numpy()
  assert out.shape == (3, 64, 64, 3) and out.dtype == np.float32
  np.testing.assert_allclose(out[..., 0], video[:, :, 18:82, 0] / 127.5 - 1, atol=1e-6)
  crops = {pp.preprocess_clip(tf.constant(video), 64, training=True).numpy().tobytes() for _ in range(8)}
  assert len(crops) > 1
  assert min(o.min() for o in [out]) >= -1 and out.max() <= 1


def test_decode_jpeg_window_decodes_selected_frames():
  frames = [tf.io.encode_png(tf.fill([4, 5, 3], tf.constant(i * 10, tf.uint8))) for i in range(10)]
  out = pp.decode_jpeg_window(tf.stack(frames), 3, 2, training=False).numpy()
  assert out.shape == (3, 4, 5, 3)
  np.testing.assert_array_equal(out[:, 0, 0, 0], [0, 20, 40])


def test_smallest_side_shape():
  assert pp.smallest_side_shape(720, 1280) == (64, 114)
  with pytest.raises(ValueError):
    pp.smallest_side_shape(0, 10)


def test_clip_spec_rejects_bad_fields_and_positional_calls():
  assert pp.ClipSpec() == pp.ClipSpec(split="train", data_dir=None, num_frames=16, frame_stride=1,
                                      image_size=64, training=True, seed=0, shard_index=0, num_shards=1)
  with pytest.raises(ValueError, match=r"ClipSpec.num_frames must be >= 1 .*got 0"):
    pp.ClipSpec(num_frames=0)
  with pytest.raises(ValueError, match=r"ClipSpec.frame_stride must be >= 1 .*got -1"):
    pp.ClipSpec(frame_stride=-1)
  with pytest.raises(TypeError):
    pp.ClipSpec("test")  # pylint: disable=too-many-function-args  (keyword arguments only)


def test_every_source_takes_a_clip_spec_then_keyword_only_options():
  for name, make_clips in pipeline.SOURCES.items():
    params = list(inspect.signature(make_clips).parameters.values())
    assert params[0].name == "spec" and params[0].kind == inspect.Parameter.POSITIONAL_OR_KEYWORD, name
    assert all(p.kind == inspect.Parameter.KEYWORD_ONLY for p in params[1:]), name
  spec = pp.ClipSpec(split="test", num_frames=2, image_size=16, training=False)
  with pytest.raises(TypeError, match="positional"):
    synthetic.make_clips(spec, 4)  # num_examples=4 must be a keyword
  clips = list(synthetic.make_clips(spec, num_examples=4))
  assert len(clips) == 4 and clips[0]["video"].shape == (2, 16, 16, 3)


def test_make_dataset_gives_the_source_a_clip_spec(monkeypatch):
  calls = []

  def fake_source(spec, **options):
    calls.append((spec, options))
    return tf.data.Dataset.from_tensors({"video": tf.zeros([spec.num_frames, 8, 8, 3]), "label": 0})

  monkeypatch.setitem(pipeline.SOURCES, "synthetic", fake_source)
  list(pipeline.make_dataset("synthetic", split="test", data_dir="d", batch_size=1, num_frames=3, seed=5,
                             mode="objects"))
  assert calls == [(pp.ClipSpec(split="test", data_dir="d", num_frames=3, training=False, seed=5),
                    {"mode": "objects"})]
