"""Middlebury flow colouring (trivd_gan/visualization.py): known directions map to known hues."""

import numpy as np
import pytest

from trivd_gan import visualization


def _hue(dy, dx):
  colour = visualization.flow_to_color(np.array([[[dy, dx]]], np.float64), max_flow=1.0)
  return colour[0, 0], float(visualization.rgb_hue_degrees(colour)[0, 0])


@pytest.mark.parametrize("dy,dx,hue", [(0, 1, 0.0), (1, 0, 54.0), (0, -1, 191.0), (-1, 0, 261.0)])
def test_directions_map_to_middlebury_hues(dy, dx, hue):
  colour, got = _hue(dy, dx)
  assert min(abs(got - hue), 360 - abs(got - hue)) < 6, (colour, got)
  assert colour.max() == 255 and colour.min() == 0  # full magnitude: fully saturated


def test_right_is_red_and_zero_is_white_and_saturation_grows():
  np.testing.assert_array_equal(_hue(0, 1)[0], [255, 0, 0])
  np.testing.assert_array_equal(visualization.flow_to_color(np.zeros((2, 2, 2))), np.full((2, 2, 3), 255))
  half = visualization.flow_to_color(np.array([[[0.0, 0.5]]]), max_flow=1.0)[0, 0]
  assert 100 < half[1] < 160 and half[0] == 255  # halfway to white


def test_wheel_is_the_55_colour_middlebury_wheel():
  wheel = visualization.make_color_wheel()
  assert wheel.shape == (55, 3)
  np.testing.assert_array_equal(wheel[0], [255, 0, 0])
  np.testing.assert_array_equal(wheel[15], [255, 255, 0])   # after RY: yellow
  np.testing.assert_array_equal(wheel[25], [0, 255, 255])   # after RY+YG+GC: cyan
  np.testing.assert_array_equal(wheel[36], [0, 0, 255])     # after ...+CB: blue


def test_batch_shapes_normalization_and_errors():
  flow = np.random.default_rng(0).normal(size=(2, 3, 4, 5, 2))
  colours = visualization.flow_to_color(flow)
  assert colours.shape == (2, 3, 4, 5, 3) and colours.dtype == np.uint8
  with pytest.raises(ValueError, match=r"\[..., H, W, 2\]"):
    visualization.flow_to_color(np.zeros((4, 4, 3)))
  np.testing.assert_array_equal(visualization.to_uint8(np.array([-1.0, 0.0, 1.0, 2.0])), [0, 128, 255, 255])


def test_write_gif_has_a_real_frame_duration(tmp_path):
  # imageio.mimsave(..., duration=0.25), as the trainer's sample GIFs were written, stores 0-ms frames.
  from PIL import Image  # pylint: disable=import-outside-toplevel
  frames = np.stack([np.full((8, 8, 3), 40 * t, np.uint8) for t in range(3)])
  visualization.write_gif(tmp_path / "a.gif", frames)
  with Image.open(tmp_path / "a.gif") as gif:
    durations = []
    for t in range(gif.n_frames):
      gif.seek(t)
      durations.append(gif.info["duration"])
  assert gif.n_frames == 3 and all(120 <= d <= 130 for d in durations), durations  # 125 ms in 10-ms units
  visualization.write_gif(tmp_path / "b.gif", frames, frame_duration_ms=500)
  with Image.open(tmp_path / "b.gif") as gif:
    assert gif.info["duration"] == 500
  with pytest.raises(ValueError, match="frame_duration_ms must be > 0"):
    visualization.write_gif(tmp_path / "c.gif", frames, frame_duration_ms=0)
  with pytest.raises(ValueError, match=r"\[T, H, W, 3\] uint8"):
    visualization.write_gif(tmp_path / "c.gif", frames.astype(np.float32))


def test_upscale_and_auto_scale():
  video = np.arange(2 * 2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 2, 3)
  big = visualization.upscale(video, 3)
  assert big.shape == (2, 6, 6, 3)
  np.testing.assert_array_equal(big[:, ::3, ::3], video)
  np.testing.assert_array_equal(big[:, 2, 2], video[:, 0, 0])
  np.testing.assert_array_equal(visualization.upscale(video, 1), video)
  assert visualization.auto_scale(16) == 8
  with pytest.raises(ValueError, match="integer >= 1"):
    visualization.upscale(video, 0)


def test_flow_legend_is_the_wheel_up_to_max_flow():
  legend = visualization.flow_legend(64, max_flow=2.0)
  assert legend.shape == (64, 64, 3) and legend.dtype == np.uint8
  disc = 64 - 13 - 2
  centre, right = legend[1 + disc // 2, 32], legend[1 + disc // 2, (64 - disc) // 2 + disc - 2]
  assert centre.min() > 200  # no motion: white
  assert right[0] > 200 and right[1] < 80 and right[2] < 80  # full motion rightwards: red
  assert legend[-8:].min() < 80  # the "max 2 px" text


def test_caption_bar_on_every_frame():
  frames = np.full((2, 20, 40, 3), 128, np.uint8)
  out = visualization.add_caption_bar(frames, [[[(0, "a")]], [[(0, "b"), (20, "c")]]], font_size=10)
  assert out.shape == (2, 20 + 16, 40, 3)
  np.testing.assert_array_equal(out[:, 16:], frames)
  assert out[:, :16].min() < 80
  with pytest.raises(ValueError, match="one caption per frame"):
    visualization.add_caption_bar(frames, [[[(0, "a")]]])
