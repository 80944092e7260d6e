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
