"""Pictures of a training run for the README: sample frames and loss curves from a model_dir.

    python -m trivd_gan.demo_figures --model_dir=runs/demo [--output_dir=docs/images]

Writes, into --output_dir (default: the run's own --model_dir, so nothing tracked is overwritten by accident),
`samples.png` (the newest samples/*.gif: one row per video, its context then predicted frames) and
`losses.png` (every `d_loss/...` and `g_loss/...` scalar of the TensorBoard events against the training step:
one panel per family, its own colour and legend entry per series, round ticks on both axes). NumPy + PIL.
"""

import pathlib

from absl import app
from absl import flags
import imageio.v3 as iio
import numpy as np
from PIL import Image
from PIL import ImageDraw
import tensorflow as tf

from trivd_gan import cli_setup

FLAGS = flags.FLAGS

# 20 colours that stay apart from each other (matplotlib's tab10, then its darker / lighter companions), so that
# every loss series of a run has its own colour (the demo has 9; 8 colours repeated one).
COLORS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
          (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207), (0, 0, 0), (174, 199, 232),
          (152, 223, 138), (255, 152, 150), (197, 176, 213), (196, 156, 148), (247, 182, 210), (219, 219, 141),
          (158, 218, 229), (255, 187, 120)]


def read_scalars(events_dir, prefixes=("d_loss/", "g_loss/")):
  """{tag: ([steps], [values])} of the scalars under `prefixes` in the TF2 event files of `events_dir`."""
  series = {}
  for path in sorted(pathlib.Path(events_dir).glob("events.out.tfevents.*")):
    for event in tf.compat.v1.train.summary_iterator(str(path)):
      for value in event.summary.value:
        if value.tag.startswith(tuple(prefixes)):
          number = float(tf.make_ndarray(value.tensor)) if value.HasField("tensor") else value.simple_value
          steps, values = series.setdefault(value.tag, ([], []))
          steps.append(event.step)
          values.append(number)
  return series


def nice_ticks(low, high, max_ticks=6):
  """Round tick values (steps of 1, 2, 2.5 or 5 x 10^k) inside [low, high]: at least 2 when low < high."""
  if not (np.isfinite(low) and np.isfinite(high)):
    raise ValueError(f"tick range must be finite, got [{low}, {high}].")
  if high <= low:
    return [float(low)]
  raw = (high - low) / max(1, max_ticks - 1)
  magnitude = 10.0 ** np.floor(np.log10(raw))
  step = next(m * magnitude for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * magnitude >= raw)
  first = np.ceil(low / step - 1e-9) * step
  ticks = [float(t) + 0.0 for t in np.arange(first, high + step * 1e-6, step)]  # + 0.0: no "-0" label
  return ticks if len(ticks) >= 2 else [float(low), float(high)]


def _tick_label(value):
  return f"{int(round(value))}" if abs(value - round(value)) < 1e-9 else f"{value:.3g}"


def series_colors(names):
  """{name: RGB}: a different colour for every name (sorted order), cycling only past len(COLORS) names."""
  return {name: COLORS[i % len(COLORS)] for i, name in enumerate(sorted(names))}


def plot_curves(series, width=960, panel_height=260, font_size=13):
  """Loss curves as an RGB image: one panel per tag prefix (d_loss, g_loss), each on its own y axis.

  Every series has its own colour (`series_colors`) and a legend entry to the right of its panel (outside the
  data); both axes have round tick values with grid lines, and the x axis is labelled "training step".

  Args:
    series: {tag: ([steps], [values])}, tags like "d_loss/total".
    width: image width in pixels; panel_height: pixels per panel; font_size: text height in pixels.

  Returns:
    [panels * panel_height + font_size + 12, width, 3] uint8.
  """
  if not series:
    raise ValueError("No scalars to plot: is --model_dir a training run with TensorBoard events?")
  from trivd_gan import visualization  # pylint: disable=import-outside-toplevel
  face = visualization.font(font_size)
  colors = series_colors(series)
  groups = {}
  for name in sorted(series):
    groups.setdefault(name.split("/")[0], []).append(name)
  all_steps = [s for steps, _ in series.values() for s in steps]
  x0, x1 = min(all_steps), max(all_steps)
  span_x = max(x1 - x0, 1)
  left, right, top, bottom = 8 * font_size // 2 + 12, 16 * font_size + 16, font_size + 10, 2 * font_size + 8
  height = len(groups) * panel_height + font_size + 12
  image = Image.new("RGB", (width, height), "white")
  draw = ImageDraw.Draw(image)
  x_ticks = nice_ticks(x0, x1, max_ticks=9)
  for p, (prefix, names) in enumerate(groups.items()):
    oy = p * panel_height
    area = (left, oy + top, width - right, oy + panel_height - bottom)  # the data area of this panel
    values = [v for name in names for v in series[name][1] if np.isfinite(v)]
    y0, y1 = (min(values), max(values)) if values else (0.0, 1.0)
    if y1 - y0 < 1e-9:
      y0, y1 = y0 - 0.5, y1 + 0.5
    span_y = y1 - y0

    def to_px(step, value, area=area, y0=y0, span_y=span_y):
      return (area[0] + (step - x0) / span_x * (area[2] - area[0]),
              area[3] - (value - y0) / span_y * (area[3] - area[1]))

    for tick in nice_ticks(y0, y1):
      y = to_px(x0, tick)[1]
      draw.line([(area[0], y), (area[2], y)], fill=(225, 225, 225))
      label = _tick_label(tick)
      draw.text((area[0] - 6 - draw.textlength(label, font=face), y - font_size / 2 - 1), label, fill="black",
                font=face)
    for tick in x_ticks:
      x = to_px(tick, y0)[0]
      draw.line([(x, area[1]), (x, area[3])], fill=(225, 225, 225))
      draw.line([(x, area[3]), (x, area[3] + 4)], fill="black")
      label = _tick_label(tick)
      draw.text((x - draw.textlength(label, font=face) / 2, area[3] + 5), label, fill="black", font=face)
    draw.rectangle(area, outline="black")
    draw.text((area[0], oy + 3), prefix, fill="black", font=face)
    for i, name in enumerate(names):
      points = [to_px(s, v) for s, v in zip(*series[name]) if np.isfinite(v)]
      if len(points) > 1:
        draw.line(points, fill=colors[name], width=2)
      elif points:
        (x, y), = points
        draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colors[name])
      ly = area[1] + 4 + i * (font_size + 6)
      draw.line([(area[2] + 10, ly + font_size / 2), (area[2] + 34, ly + font_size / 2)], fill=colors[name],
                width=4)
      draw.text((area[2] + 40, ly), name.split("/", 1)[-1], fill="black", font=face)
  label = "training step"
  draw.text(((left + width - right - draw.textlength(label, font=face)) / 2, height - font_size - 6), label,
            fill="black", font=face)
  return np.asarray(image)


def sample_grid(gif_path, max_frames=16):
  """A samples GIF (each frame: N square videos side by side) as a grid: one row per video, time left to right.

  Returns [N * S, min(T, max_frames) * S, 3] uint8 for T frames of size [S, N * S].
  """
  frames = iio.imread(gif_path, index=None)[:max_frames, ..., :3]
  size = frames.shape[1]
  num_videos = frames.shape[2] // size
  rows = [np.concatenate(list(frames[:, :, v * size:(v + 1) * size]), axis=1) for v in range(num_videos)]
  return np.concatenate(rows, axis=0)


def write_figures(model_dir, output_dir=None):
  """Writes samples.png and losses.png of the run in model_dir into output_dir (default: model_dir).

  Returns:
    (samples.png path, losses.png path, the samples GIF used).
  """
  model_dir = pathlib.Path(model_dir)
  out = pathlib.Path(output_dir) if output_dir else model_dir
  gifs = sorted((model_dir / "samples").glob("*.gif"))
  if not gifs:
    raise ValueError(f"no samples/*.gif in {model_dir}; train with train.sample_every > 0 first.")
  out.mkdir(parents=True, exist_ok=True)
  strip = sample_grid(gifs[-1])
  big = Image.fromarray(strip).resize((strip.shape[1] * 2, strip.shape[0] * 2), Image.NEAREST)
  big.save(out / "samples.png")
  Image.fromarray(plot_curves(read_scalars(model_dir / "train"))).save(out / "losses.png")
  return out / "samples.png", out / "losses.png", gifs[-1]


def main(argv):
  del argv
  try:
    samples, losses, gif = write_figures(FLAGS.model_dir, FLAGS.output_dir)
  except ValueError as e:
    cli_setup.exit_with_error(e)
  print(f"wrote {samples} ({gif.name}) and {losses}")


def define_flags():
  """Defines the command-line flags (only when run as a program: importing defines none, so the
  module can be imported beside other programs that have flags of the same names)."""
  flags.DEFINE_string("model_dir", "runs/demo", "A training run's --model_dir.")
  flags.DEFINE_string("output_dir", None,
                      "Where samples.png and losses.png go (default: --model_dir; the README's: docs/images).")


if __name__ == "__main__":
  define_flags()
  app.run(main)
