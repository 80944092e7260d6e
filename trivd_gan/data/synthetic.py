"""Built-in synthetic videos (no files needed): textured objects moving at constant velocity over a translating
textured background, deterministic by (seed, index), with exact ground-truth motion.

Velocities are integers in pixels/frame, written (dy, dx): content at pixel (y, x) in frame t is at
(y + dy, x + dx) in frame t + 1. Integer motion keeps the ground truth exact (no resampling), so
`frame[t + 1][y + dy, x + dx] == frame[t][y, x]` holds wherever both pixels show the same surface.

Modes:
  * "objects": background translates with `background_velocity`, each object with its own velocity; objects stay
    fully inside the frame for the whole clip and occlude in index order (later on top).
  * "global_translation": the whole scene (background and objects) moves with one velocity, like a camera pan;
    a later test uses it to check learned motion fields (paper Sec. 3.2, Fig. 3).

Generation is NumPy (~0.9 ms per 16-frame 32x32 clip, 1.1 ms at 64x64) run inside `tf.data` via
`tf.numpy_function` over example indices.
"""

from typing import Dict, Optional, Sequence

import numpy as np
import tensorflow as tf

from trivd_gan.data import preprocessing

MODES = ("objects", "global_translation")
_TRAIN_SEED_OFFSET = 0
_EVAL_SEED_OFFSET = 1_000_003  # Evaluation clips never equal training clips for the same seed.


def _texture(rng: np.random.Generator,
             height: int,
             width: int,
             num_gratings: int = 3,
             min_freq: float = 0.03,
             max_freq: float = 0.2) -> np.ndarray:
  """Smooth colour texture, per channel a sum of oriented sinusoidal gratings: [H, W, 3] float in [0, 255]."""
  # The parameters are drawn channel by channel (a seed's clips stay the same), then all gratings are computed
  # at once, separably: sin(a x + b y + p) = sin(a x) cos(b y + p) + cos(a x) sin(b y + p), so sines of the
  # H + W coordinates replace H * W of them (the sines were most of a clip's generation time).
  freq, theta, phase, base, amplitude = [], [], [], [], []
  for _ in range(3):
    freq.append(rng.uniform(min_freq, max_freq, num_gratings) * 2 * np.pi)
    theta.append(rng.uniform(0, np.pi, num_gratings))
    phase.append(rng.uniform(0, 2 * np.pi, num_gratings))
    base.append(rng.uniform(60, 196))
    amplitude.append(rng.uniform(30, 60))
  freq, theta, phase = np.array(freq), np.array(theta), np.array(phase)  # [3, num_gratings]
  ax = (freq * np.cos(theta))[:, None, :] * np.arange(width)[None, :, None]  # [3, W, num_gratings]
  by = (freq * np.sin(theta))[:, :, None] * np.arange(height)[None, None, :] + phase[:, :, None]  # [3, n, H]
  sin_x, cos_x, sin_y, cos_y = np.sin(ax), np.cos(ax), np.sin(by), np.cos(by)
  # Summed over the gratings, [3, W, H]: an explicit sum, not a matmul, whose BLAS threads would compete with
  # the training step for the cores.
  gratings = sum(sin_x[:, :, g, None] * cos_y[:, None, g] + cos_x[:, :, g, None] * sin_y[:, None, g]
                 for g in range(num_gratings))
  out = np.array(base)[:, None, None] + np.array(amplitude)[:, None, None] * gratings / num_gratings
  return np.clip(out, 0, 255).transpose(2, 1, 0).astype(np.float32, order="C")  # [H, W, 3], one copy


def _random_velocity(rng: np.random.Generator, max_speed: int) -> np.ndarray:
  return rng.integers(-max_speed, max_speed + 1, size=2)


def generate(seed: int = 0,
             index: int = 0,
             num_frames: int = 16,
             image_size: int = preprocessing.IMAGE_SIZE,
             mode: str = "objects",
             num_objects: int = 2,
             max_speed: int = 2,
             object_size_range=(10, 20),
             global_velocity: Optional[Sequence[int]] = None) -> Dict[str, np.ndarray]:
  """One synthetic clip and its ground truth.

  Args:
    seed, index: the clip is a pure function of (seed, index) and the other arguments.
    num_frames, image_size: clip shape.
    mode: "objects" or "global_translation" (see module docstring).
    num_objects: number of textured objects (squares and disks).
    max_speed: velocities are integers in [-max_speed, max_speed] per axis (pixels/frame).
    object_size_range: [min, max) object side in pixels.
    global_velocity: fixed (dy, dx) for "global_translation" (random per clip when None).
  Returns:
    dict with "video" [T, S, S, 3] uint8, "background_velocity" [2] int32 (dy, dx), "object_velocities"
    [N, 2] int32, "object_positions" [T, N, 2] int32 (top-left y, x in frame coordinates), "object_sizes" [N].
  """
  if mode not in MODES:
    raise ValueError(f"Unknown synthetic mode {mode!r}; use one of {MODES}.")
  if num_frames < 1 or image_size < 8 or max_speed < 0:
    raise ValueError("Need num_frames >= 1, image_size >= 8 and max_speed >= 0.")
  rng = np.random.default_rng([seed, index])
  size, steps = image_size, num_frames - 1
  min_obj, max_obj = object_size_range
  max_obj = max(min_obj + 1, min(max_obj, size // 2))

  if mode == "global_translation":
    bg_v = np.asarray(global_velocity if global_velocity is not None else _random_velocity(rng, max_speed))
  else:
    bg_v = _random_velocity(rng, max_speed)
  bg_v = bg_v.astype(np.int32)
  # The background is a canvas larger than the frame; a crop window moving by -v makes content move by +v.
  canvas_h, canvas_w = size + abs(bg_v[0]) * steps, size + abs(bg_v[1]) * steps
  canvas = _texture(rng, canvas_h, canvas_w)
  origin = np.maximum(0, bg_v * steps)  # Window top-left at t = 0; at t it is origin - v * t >= 0.

  obj_sizes = rng.integers(min_obj, max_obj, size=num_objects)
  obj_v = np.zeros((num_objects, 2), np.int32)
  obj_pos = np.zeros((num_frames, num_objects, 2), np.int32)
  sprites = []
  for n in range(num_objects):
    s = int(obj_sizes[n])
    yy, xx = np.mgrid[:s, :s]
    if rng.random() < 0.5:
      mask = np.ones((s, s), bool)
    else:
      mask = (yy - (s - 1) / 2)**2 + (xx - (s - 1) / 2)**2 <= (s / 2)**2
    tex = _texture(rng, s, s, min_freq=0.1, max_freq=0.4)
    tex = np.clip((tex - 128) * 1.5 + rng.uniform(40, 215, size=3), 0, 255)  # Contrast with the background.
    sprites.append((tex, mask))
    if mode == "global_translation":
      v = bg_v.copy()
      # Static on the canvas, placed where the frame window sees it at t = 0.
      p0 = rng.integers(0, size - s + 1, size=2)
    else:
      v = _random_velocity(rng, max_speed)
      for axis in range(2):  # Shrink speed until the whole trajectory fits inside the frame.
        while abs(v[axis]) * steps > size - s:
          v[axis] -= np.sign(v[axis])
      lo = np.maximum(0, -v * steps)
      hi = size - s - np.maximum(0, v * steps)
      p0 = np.array([rng.integers(lo[a], hi[a] + 1) for a in range(2)])
    obj_v[n] = v
    obj_pos[:, n] = p0[None] + v[None] * np.arange(num_frames)[:, None]

  video = np.empty((num_frames, size, size, 3), np.float32)
  if mode == "global_translation":
    # Paste objects on the canvas at their t = 0 frame position, then every frame is a moving crop.
    for n, (tex, mask) in enumerate(sprites):
      y, x = obj_pos[0, n] + origin
      s = tex.shape[0]
      region = canvas[y:y + s, x:x + s]
      region[mask] = tex[mask]
  sprite_pixels = [(mask, tex[mask]) for tex, mask in sprites]
  for t in range(num_frames):
    oy, ox = origin - bg_v * t
    frame = video[t]
    frame[...] = canvas[oy:oy + size, ox:ox + size]
    if mode == "objects":
      for n, (mask, pixels) in enumerate(sprite_pixels):
        y, x = obj_pos[t, n]
        frame[y:y + mask.shape[0], x:x + mask.shape[1]][mask] = pixels
  return {
      "video": np.round(video).astype(np.uint8),
      "background_velocity": bg_v,
      "object_velocities": obj_v,
      "object_positions": obj_pos,
      "object_sizes": obj_sizes.astype(np.int32)
  }


def make_clips(spec: preprocessing.ClipSpec,
               *,
               num_examples: Optional[int] = None,
               mode: str = "objects",
               num_objects: int = 2,
               max_speed: int = 2,
               global_velocity: Optional[Sequence[int]] = None,
               with_motion: bool = False) -> tf.data.Dataset:
  """Unbatched dataset of {"video": [num_frames, S, S, 3] float32 in [-1, 1], "label": int32 0} (+ motion).

  Args:
    spec: the shared arguments (`preprocessing.ClipSpec`). Here split "train" draws from seed stream `seed`, any
      other split from a disjoint stream; data_dir is ignored (no files needed); frame_stride: motion per
      output frame is `frame_stride` times the generated velocity, and reported velocities are per output frame.
    num_examples: number of clips; None = infinite when training, 1024 for evaluation.
    with_motion: add "background_velocity" [2] and "object_velocities" [num_objects, 2] float32 (dy, dx)
      pixels/frame.
    Other args: see `generate`.
  """
  if num_examples is None and not spec.training:
    num_examples = 1024
  base_seed = spec.seed + (_TRAIN_SEED_OFFSET if spec.split == "train" else _EVAL_SEED_OFFSET)
  gen_frames = preprocessing.window_span(spec.num_frames, spec.frame_stride)
  indices = tf.data.Dataset.range(num_examples) if num_examples is not None else tf.data.Dataset.counter()
  indices = indices.shard(spec.num_shards, spec.shard_index)

  def _gen(index):
    out = generate(base_seed,
                   int(index),
                   gen_frames,
                   spec.image_size,
                   mode,
                   num_objects,
                   max_speed,
                   global_velocity=global_velocity)
    video = out["video"][::spec.frame_stride]
    return (video, (out["background_velocity"] * spec.frame_stride).astype(np.float32),
            (out["object_velocities"] * spec.frame_stride).astype(np.float32))

  def _map(index):
    video, bg_v, obj_v = tf.numpy_function(_gen, [index], (tf.uint8, tf.float32, tf.float32), stateful=False)
    video.set_shape([spec.num_frames, spec.image_size, spec.image_size, 3])
    out = {"video": preprocessing.scale_to_unit_range(video), "label": tf.constant(0, tf.int32)}
    if with_motion:
      bg_v.set_shape([2])
      obj_v.set_shape([num_objects, 2])
      out["background_velocity"] = bg_v
      out["object_velocities"] = obj_v
    return out

  return indices.map(_map, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
