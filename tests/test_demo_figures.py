"""demo_figures: scalars read back from real TensorBoard events, curves drawn, GIF frames tiled."""

import os
import subprocess
import sys

import numpy as np
import imageio.v3 as iio
import pytest
import tensorflow as tf

from trivd_gan import demo_figures


def test_read_scalars_and_plot(tmp_path):
  writer = tf.summary.create_file_writer(str(tmp_path))
  with writer.as_default():
    for step in range(5):
      tf.summary.scalar("d_loss/total", 2.0 - 0.1 * step, step=step)
      tf.summary.scalar("speed/steps_per_sec", 1.0, step=step)
  writer.flush()
  series = demo_figures.read_scalars(tmp_path)
  assert list(series) == ["d_loss/total"]
  steps, values = series["d_loss/total"]
  assert steps == [0, 1, 2, 3, 4]
  np.testing.assert_allclose(values, [2.0, 1.9, 1.8, 1.7, 1.6], rtol=1e-6)
  image = demo_figures.plot_curves(series, width=400, panel_height=150, font_size=10)
  assert image.shape == (150 + 10 + 12, 400, 3)
  # The curve's colour is drawn somewhere inside the frame.
  assert np.any(np.all(image == demo_figures.COLORS[0], axis=-1))
  with pytest.raises(ValueError, match="No scalars"):
    demo_figures.plot_curves({})


def test_every_series_has_its_own_colour_and_family_its_own_panel():
  # The demo has 9 loss series; with 8 colours the ninth was drawn in the first one's colour.
  views = ("total", "frame_downsampled", "video_downsampled", "video_cropped")
  names = [f"d_loss/{v}" for v in views] + [f"g_loss/{v}" for v in views + ("orthogonal_reg",)]
  colors = demo_figures.series_colors(names)
  assert len(set(colors.values())) == len(names) == 9
  series = {name: ([0, 100, 200], [i, i + 1.0, i + 0.5]) for i, name in enumerate(names)}
  image = demo_figures.plot_curves(series, width=600, panel_height=200)
  assert image.shape[0] == 2 * 200 + 13 + 12  # one panel for d_loss, one for g_loss, the x-axis label below
  for name in names:
    assert np.any(np.all(image == colors[name], axis=-1)), name


def test_nice_ticks_label_the_axes_between_the_ends():
  # The x axis was labelled only at its two ends ("step 10", "step 400").
  assert demo_figures.nice_ticks(10, 400, max_ticks=9) == [50, 100, 150, 200, 250, 300, 350, 400]
  assert demo_figures.nice_ticks(-0.18, 5.51) == [0, 2, 4]
  assert demo_figures.nice_ticks(-0.18, 5.51, max_ticks=8) == [0, 1, 2, 3, 4, 5]
  assert demo_figures.nice_ticks(0, 0.025) == pytest.approx([0, 0.005, 0.01, 0.015, 0.02, 0.025])
  assert demo_figures.nice_ticks(3, 3) == [3]


def test_sample_grid(tmp_path):
  # 4 frames, each 2 videos of 8x8 side by side; video v at time t has value 20 t + 100 v.
  frames = np.stack([np.concatenate([np.full((8, 8, 3), 20 * t + 100 * v, np.uint8) for v in range(2)], axis=1)
                     for t in range(4)])
  iio.imwrite(tmp_path / "s.gif", frames)
  grid = demo_figures.sample_grid(tmp_path / "s.gif")
  assert grid.shape == (16, 32, 3)
  assert abs(int(grid[0, 24, 0]) - 60) <= 2 and abs(int(grid[8, 24, 0]) - 160) <= 2


def test_cli_writes_into_the_run_by_default(tmp_path):
  # The default used to be docs/images: running it from the repository overwrote the README's pictures.
  run = tmp_path / "run"
  (run / "samples").mkdir(parents=True)
  frames = np.stack([np.full((8, 16, 3), 20 * t, np.uint8) for t in range(3)])
  iio.imwrite(run / "samples" / "step_00000002_ema.gif", frames)
  writer = tf.summary.create_file_writer(str(run / "train"))
  with writer.as_default():
    for step in range(3):
      tf.summary.scalar("g_loss/total", 1.0 + step, step=step)
  writer.flush()
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  result = subprocess.run([sys.executable, "-m", "trivd_gan.demo_figures", f"--model_dir={run}"],
                          cwd=str(tmp_path), env={**os.environ, "PYTHONPATH": root}, capture_output=True,
                          text=True, timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert (run / "samples.png").exists() and (run / "losses.png").exists()
  assert sorted(os.listdir(tmp_path)) == ["run"]
