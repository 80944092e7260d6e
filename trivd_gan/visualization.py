"""Optical-flow colouring (Baker et al., "A Database and Evaluation Methodology for Optical Flow", Middlebury).

Used to draw the motion fields of section 4.4 / Figure 3 of the paper (Luc et al. 2020):
hue encodes the direction of motion, saturation its magnitude (normalized by the largest magnitude, or a given
`max_flow`). Also what makes the programs' videos readable: nearest-neighbour upscaling, caption bars, a colour
wheel legend, and GIFs with a real frame duration. NumPy and Pillow only.

Directions, with flow given as (dy, dx) in image coordinates (y down), on the standard Middlebury wheel:
  right (dx > 0) -> red (hue 0), down (dy > 0) -> yellow (~54), left (dx < 0) -> cyan-blue (~191),
  up (dy < 0) -> blue-violet (~261); zero motion -> white.
"""

import math
import os

import numpy as np
from PIL import Image
from PIL import ImageDraw
from PIL import ImageFont

# Segment lengths of the Middlebury colour wheel (red -> yellow -> green -> cyan -> blue -> magenta -> red).
RY, YG, GC, CB, BM, MR = 15, 6, 4, 11, 13, 6


def make_color_wheel():
  """[55, 3] float64 in [0, 255]: the Middlebury colour wheel (Baker et al.), starting at red."""
  ncols = RY + YG + GC + CB + BM + MR
  wheel = np.zeros((ncols, 3))
  # Six hue ramps written out one by one, as in the Middlebury reference code (a deliberate parallel: each ramp
  # raises or lowers a different channel).
  col = 0
  wheel[col:col + RY, 0] = 255
  wheel[col:col + RY, 1] = np.floor(255 * np.arange(RY) / RY)
  col += RY
  wheel[col:col + YG, 0] = 255 - np.floor(255 * np.arange(YG) / YG)
  wheel[col:col + YG, 1] = 255
  col += YG
  wheel[col:col + GC, 1] = 255
  wheel[col:col + GC, 2] = np.floor(255 * np.arange(GC) / GC)
  col += GC
  wheel[col:col + CB, 1] = 255 - np.floor(255 * np.arange(CB) / CB)
  wheel[col:col + CB, 2] = 255
  col += CB
  wheel[col:col + BM, 2] = 255
  wheel[col:col + BM, 0] = np.floor(255 * np.arange(BM) / BM)
  col += BM
  wheel[col:col + MR, 2] = 255 - np.floor(255 * np.arange(MR) / MR)
  wheel[col:col + MR, 0] = 255
  return wheel


def flow_to_color(flow, max_flow=None):
  """Colours a flow field with the Middlebury wheel.

  Args:
    flow: [..., H, W, 2] float (dy, dx) in pixels (the order of `trivd_gan.layers.warping.expected_flow`).
    max_flow: magnitude mapped to full saturation; None: the largest magnitude in `flow` (zero flow is white).

  Returns:
    [..., H, W, 3] uint8 RGB; zero motion is white, saturation grows with magnitude, hue gives the direction.
  """
  flow = np.asarray(flow, dtype=np.float64)
  if flow.ndim < 3 or flow.shape[-1] != 2:
    raise ValueError(f"flow must be [..., H, W, 2] (dy, dx), got shape {flow.shape}.")
  flow = np.nan_to_num(flow)
  dy, dx = flow[..., 0], flow[..., 1]
  magnitude = np.sqrt(dx ** 2 + dy ** 2)
  if max_flow is None:
    max_flow = float(magnitude.max()) if magnitude.size else 0.0
  if max_flow is not None and max_flow < 0:
    raise ValueError(f"max_flow must be >= 0 or None, got {max_flow}.")
  scale = 1.0 / max_flow if max_flow > 0 else 0.0
  u, v = dx * scale, dy * scale
  rad = np.minimum(np.sqrt(u ** 2 + v ** 2), 1.0)
  wheel = make_color_wheel()
  ncols = wheel.shape[0]
  angle = np.arctan2(-v, -u) / np.pi  # in [-1, 1]; -1 and 1 are rightwards motion (red)
  fk = (angle + 1) / 2 * (ncols - 1)
  k0 = np.floor(fk).astype(np.int64)
  k1 = (k0 + 1) % ncols
  f = (fk - k0)[..., None]
  col = ((1 - f) * wheel[k0 % ncols] + f * wheel[k1]) / 255.0
  col = 1 - rad[..., None] * (1 - col)  # less saturated (whiter) for small motions
  return np.clip(np.floor(255 * col), 0, 255).astype(np.uint8)


def rgb_hue_degrees(rgb):
  """Hue in degrees [0, 360) of [..., 3] uint8/float RGB colours (for tests and legends)."""
  rgb = np.asarray(rgb, dtype=np.float64)
  r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
  maxc, minc = rgb.max(-1), rgb.min(-1)
  delta = np.where(maxc - minc == 0, 1.0, maxc - minc)
  hue = np.where(maxc == r, ((g - b) / delta) % 6,
                 np.where(maxc == g, (b - r) / delta + 2, (r - g) / delta + 4))
  return (60.0 * hue) % 360.0


def to_uint8(videos):
  """[...] float in [-1, 1] -> uint8 in [0, 255] (round to nearest), the inverse of the training scaling."""
  videos = np.asarray(videos, dtype=np.float64)
  return np.clip(np.round((videos + 1.0) * 127.5), 0, 255).astype(np.uint8)


# 125 ms per frame = 8 frames/s, the rate at which a 16-frame clip reads as motion (and not a flicker).
DEFAULT_FRAME_DURATION_MS = 125
# Frames smaller than this (in pixels) are hard to read on a screen; `auto_scale` enlarges them past it.
MIN_READABLE_SIZE = 128


def write_gif(path, frames, frame_duration_ms=DEFAULT_FRAME_DURATION_MS):
  """Writes a looping GIF with a real per-frame duration.

  imageio's `mimsave(..., duration=0.25)` (seconds in imageio 2, milliseconds in its Pillow plugin) wrote
  0-ms frames, which viewers play as fast as they can or at their own fallback rate; Pillow takes milliseconds.

  Args:
    path: the .gif file to write (its folder must exist).
    frames: [T, H, W, 3] uint8.
    frame_duration_ms: display time of each frame in milliseconds, > 0 (GIF stores 10-ms units).
  """
  frames = np.asarray(frames)
  if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
    raise ValueError(f"frames must be [T, H, W, 3] uint8, got {frames.shape} {frames.dtype}.")
  if frame_duration_ms <= 0:
    raise ValueError(f"frame_duration_ms must be > 0, got {frame_duration_ms}.")
  if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
    raise FileNotFoundError(f"output folder {os.path.dirname(os.path.abspath(path))!r} does not exist.")
  images = [Image.fromarray(f) for f in frames]
  images[0].save(path, save_all=True, append_images=images[1:], duration=int(round(frame_duration_ms)), loop=0,
                 disposal=1)


def auto_scale(size, min_size=MIN_READABLE_SIZE):
  """The smallest integer factor that makes a `size`-pixel frame at least `min_size` pixels (>= 1)."""
  return max(1, math.ceil(min_size / max(1, int(size))))


def upscale(video, scale):
  """Nearest-neighbour enlargement (every pixel becomes a scale x scale block, so no blur is invented).

  Args:
    video: [..., H, W, C] array. scale: int >= 1.

  Returns:
    [..., scale * H, scale * W, C], same dtype.
  """
  if int(scale) != scale or scale < 1:
    raise ValueError(f"scale must be an integer >= 1, got {scale}.")
  scale = int(scale)
  if scale == 1:
    return np.asarray(video)
  return np.repeat(np.repeat(np.asarray(video), scale, axis=-3), scale, axis=-2)


def font(size=12):
  """Pillow's built-in font at `size` pixels (FreeType build), else its fixed bitmap font."""
  try:
    return ImageFont.load_default(size=size)
  except (TypeError, ValueError, OSError, ImportError):
    return ImageFont.load_default()


def add_caption_bar(frames, lines, font_size=12):
  """Puts a white bar with text above every frame.

  Args:
    frames: [T, H, W, 3] uint8.
    lines: one entry per frame, each a list of (x, text) pairs per text row: x is the left edge in pixels.
    font_size: text height in pixels.

  Returns:
    [T, H + bar, W, 3] uint8 with bar = rows * (font_size + 4) + 2 pixels, black text on white.
  """
  frames = np.asarray(frames)
  if len(lines) != frames.shape[0]:
    raise ValueError(f"need one caption per frame: {len(lines)} captions for {frames.shape[0]} frames.")
  rows = max(len(frame_lines) for frame_lines in lines)
  line_height = font_size + 4
  bar = rows * line_height + 2
  face = font(font_size)
  out = []
  for frame, frame_lines in zip(frames, lines):
    image = Image.new("RGB", (frame.shape[1], frame.shape[0] + bar), "white")
    image.paste(Image.fromarray(frame), (0, bar))
    draw = ImageDraw.Draw(image)
    for row, items in enumerate(frame_lines):
      for x, text in items:
        draw.text((x + 2, 1 + row * line_height), text, fill="black", font=face)
    out.append(np.asarray(image))
  return np.stack(out)


def flow_legend(size, max_flow, font_size=10):
  """A colour-wheel legend: the flow colouring of every displacement up to `max_flow` pixels, as a disc.

  The disc's centre is no motion (white), its rim motion of `max_flow` pixels in that direction (right = red,
  down = yellow, left = blue-cyan, up = violet: the module docstring); the text under it gives the maximum.

  Args:
    size: side of the square legend in pixels (>= 16).
    max_flow: the magnitude, in pixels, at full saturation (the `max_flow` passed to `flow_to_color`).
    font_size: text height.

  Returns:
    [size, size, 3] uint8.
  """
  if size < 16:
    raise ValueError(f"a flow legend needs size >= 16 pixels, got {size}.")
  text_height = font_size + 3
  disc = size - text_height - 2
  coords = (np.arange(disc) + 0.5) / disc * 2.0 - 1.0  # in [-1, 1]
  dy, dx = np.meshgrid(coords, coords, indexing="ij")
  colours = flow_to_color(np.stack([dy, dx], axis=-1) * max_flow, max_flow=max_flow)
  colours[dy ** 2 + dx ** 2 > 1.0] = 255
  image = Image.new("RGB", (size, size), "white")
  image.paste(Image.fromarray(colours), ((size - disc) // 2, 1))
  ImageDraw.Draw(image).text((1, size - text_height), f"max {max_flow:g} px", fill="black",
                             font=font(font_size))
  return np.asarray(image)
