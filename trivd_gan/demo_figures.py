"""Pictures of a training run for the README: sample frames and loss curves from a model_dir.

    python -m trivd_gan.demo_figures --model_dir=runs/demo [--output_dir=docs/images]

Writes, into --output_dir (default: the run's own --model_dir, so nothing tracked is overwritten by accident),
`samples.png` (the newest samples/*.gif: one row per video, its context then predicted frames) and
`losses.png` (every `d_loss/...` and `g_loss/...` scalar of the TensorBoard events against the step).
Pure NumPy + PIL.
"""

import pathlib

from absl import app
from absl import flags
import imageio.v3 as iio
import numpy as np
from PIL import Image
from PIL import ImageDraw
import tensorflow as tf

FLAGS = flags.FLAGS

COLORS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
          (227, 119, 194), (127, 127, 127)]


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


def plot_curves(series, width=720, height=360, margin=48):
  """A line plot of {name: (steps, values)} as an RGB uint8 [height, width, 3] image, with a legend."""
  if not series:
    raise ValueError("No scalars to plot: is --model_dir a training run with TensorBoard events?")
  image = Image.new("RGB", (width, height), "white")
  draw = ImageDraw.Draw(image)
  all_steps = [s for steps, _ in series.values() for s in steps]
  all_values = [v for _, values in series.values() for v in values if np.isfinite(v)]
  x0, x1, y0, y1 = min(all_steps), max(all_steps), min(all_values), max(all_values)
  span_x, span_y = max(x1 - x0, 1), max(y1 - y0, 1e-9)

  def to_px(step, value):
    return (margin + (step - x0) / span_x * (width - 2 * margin),
            height - margin - (value - y0) / span_y * (height - 2 * margin))

  draw.rectangle([margin, margin, width - margin, height - margin], outline="black")
  draw.text((margin, height - margin + 8), f"step {x0}", fill="black")
  draw.text((width - margin - 60, height - margin + 8), f"step {x1}", fill="black")
  draw.text((4, margin), f"{y1:.2f}", fill="black")
  draw.text((4, height - margin - 10), f"{y0:.2f}", fill="black")
  for i, (name, (steps, values)) in enumerate(sorted(series.items())):
    color = COLORS[i % len(COLORS)]
    points = [to_px(s, v) for s, v in zip(steps, values) if np.isfinite(v)]
    if len(points) > 1:
      draw.line(points, fill=color, width=2)
    draw.text((margin + 8, margin + 6 + 12 * i), name, fill=color)
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
    raise SystemExit(f"error: {e}") from e
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
