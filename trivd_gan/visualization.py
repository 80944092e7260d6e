"""Optical-flow colouring (Baker et al., "A Database and Evaluation Methodology for Optical Flow", Middlebury).

Used to draw the motion fields of section 4.4 / Figure 3 of the paper (../shared/paper/trivd_gan_fp.txt):
hue encodes the direction of motion, saturation its magnitude (normalized by the largest magnitude, or a given
`max_flow`). NumPy only.

Directions, with flow given as (dy, dx) in image coordinates (y down), on the standard Middlebury wheel:
  right (dx > 0) -> red (hue 0), down (dy > 0) -> yellow (~54), left (dx < 0) -> cyan-blue (~191),
  up (dy < 0) -> blue-violet (~261); zero motion -> white.
"""

import numpy as np

# Segment lengths of the Middlebury colour wheel (red -> yellow -> green -> cyan -> blue -> magenta -> red).
RY, YG, GC, CB, BM, MR = 15, 6, 4, 11, 13, 6


def make_color_wheel():
  """[55, 3] float64 in [0, 255]: the Middlebury colour wheel (Baker et al.), starting at red."""
  ncols = RY + YG + GC + CB + BM + MR
  wheel = np.zeros((ncols, 3))
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
