"""bench_motion: the motion-field read-out of a generator, and the experiment's gin bindings."""

import gin
import numpy as np
import pytest
import tensorflow as tf

from trivd_gan import bench_motion
from trivd_gan import configurables  # pylint: disable=unused-import  (registers the gin names)
from trivd_gan.models import generator


def test_mean_combined_flow_shape_and_non_warping_units():
  videos = tf.random.stateless_uniform([2, 4, 32, 32, 3], seed=[0, 1], minval=-1, maxval=1)
  kwargs = dict(channel_multiplier=1, num_context_frames=2, num_predicted_frames=2, resolution=32)
  flow = bench_motion.mean_combined_flow(generator.Generator(recurrent_unit="tsru_p", **kwargs), videos)
  assert flow.shape == (2,) and np.isfinite(flow).all()
  # Each level's flow is a convex combination of offsets in [-1, 1]; combined over 3 levels and scaled to frame
  # pixels it stays within (1 + 2 + 4) * 2 = 14 px.
  assert np.abs(flow).max() <= 14.0
  with pytest.raises(ValueError, match="does not warp"):
    bench_motion.mean_combined_flow(generator.Generator(recurrent_unit="convgru", **kwargs), videos)


def test_held_out_videos_and_evaluate():
  g = generator.Generator(recurrent_unit="tsru_p", channel_multiplier=1, num_context_frames=2,
                          num_predicted_frames=2, resolution=32)
  videos = bench_motion.held_out_videos(g, [(0, 2), (-2, 0)], num_clips=2)
  assert list(videos) == [(0, 2), (-2, 0)]
  for clips in videos.values():
    assert clips.shape == (2, 4, 32, 32, 3) and float(tf.reduce_max(tf.abs(clips))) <= 1.0
  # Clip content moves by the velocity: frame 1 is frame 0 shifted right by 2 px for (0, 2).
  right = videos[(0, 2)].numpy()
  np.testing.assert_allclose(right[:, 1, :, 2:], right[:, 0, :, :-2], atol=1e-6)
  results = bench_motion.evaluate(g, videos)
  for velocity, (flow, cos) in results.items():
    np.testing.assert_allclose(cos, bench_motion.cosine(flow, velocity))
    assert -1.0 <= cos <= 1.0


def test_bindings_parse():
  gin.clear_config()
  try:
    gin.parse_config(bench_motion.bindings([0, -2]))
    assert gin.query_parameter("synthetic_dataset.global_velocity") == (0, -2)
    assert gin.query_parameter("DiscriminatorEnsemble.decomposition") == "dvd_gan_fp_faster"
    gin.clear_config()
    gin.parse_config(bench_motion.bindings(None, max_speed=3))  # random velocity per clip
    assert gin.query_parameter("synthetic_dataset.max_speed") == 3
    with pytest.raises(ValueError):
      gin.query_parameter("synthetic_dataset.global_velocity")
  finally:
    gin.clear_config()


def test_parse_velocities_and_cosine():
  assert bench_motion.parse_velocities("0,2;0,-2;-1,3") == [(0, 2), (0, -2), (-1, 3)]
  for bad in ["0,2;", "1", "a,b", "1,2,3"]:
    with pytest.raises(ValueError, match="DY,DX"):
      bench_motion.parse_velocities(bad)
  with pytest.raises(ValueError, match="no direction"):
    bench_motion.parse_velocities("0,0")
  assert bench_motion.cosine(np.array([0.0, 0.3]), (0, 2)) == pytest.approx(1.0)
  assert bench_motion.cosine(np.array([0.0, 0.3]), (0, -2)) == pytest.approx(-1.0)
  assert bench_motion.cosine(np.array([0.5, 0.0]), (0, 2)) == pytest.approx(0.0)


def test_per_clip_held_out_and_cosines():
  g = generator.Generator(recurrent_unit="tsru_p", channel_multiplier=1, num_context_frames=2,
                          num_predicted_frames=2, resolution=32)
  videos, velocities = bench_motion.per_clip_held_out(g, num_clips=6, max_speed=2)
  assert videos.shape == (6, 4, 32, 32, 3) and velocities.shape == (6, 2)
  assert np.all(np.any(velocities != 0, axis=1))  # every kept clip moves
  assert len({tuple(v) for v in velocities}) > 1  # each clip its own motion
  # Each clip's content moves by its own velocity (a global translation; compare away from the wrapped edges).
  v = videos.numpy()
  for clip, (dy, dx) in zip(v, velocities.astype(int)):
    shifted = np.roll(clip[0], (dy, dx), axis=(0, 1))
    np.testing.assert_allclose(shifted[4:-4, 4:-4], clip[1][4:-4, 4:-4], atol=1e-6)
  flows = bench_motion.per_clip_flows(g, videos)
  cosines = bench_motion.per_clip_cosines(g, videos, velocities)
  assert flows.shape == (6, 2) and cosines.shape == (6,)
  np.testing.assert_allclose(cosines, [bench_motion.cosine(f, v) for f, v in zip(flows, velocities)])
  np.testing.assert_allclose(bench_motion.mean_combined_flow(g, videos), flows.mean(axis=0), rtol=1e-5)
