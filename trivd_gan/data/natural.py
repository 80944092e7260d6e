"""Natural-image clips a CPU can train on: still photographs filmed by a synthetic camera, plus real video.

The pretrained natural model (`gin/pretrained/natural.gin`, `pretrained/natural/`) needs real camera footage
whose licence allows shipping derived weights, and there is little of it here. This source makes clips out of
what there is:

- **Still photographs animated by a virtual camera** (`animate`): a window slides over the photograph at a
  constant velocity (a pan), optionally growing or shrinking geometrically (a zoom), and 0-2 textured sprites
  cut from other photographs cross it with their own velocities (moving objects). Every frame is sampled from
  the photograph with bilinear interpolation, so motion is sub-pixel and the content is real. By default the
  photographs are the ones scikit-image ships inside its wheel (public domain or CC0, see `IMAGES`); pass
  `image_dir` to use your own.
- **Real video** (`video_paths`): random windows of real videos (e.g. Big Buck Bunny, CC BY 3.0), each cropped
  at a random scale and position and randomly mirrored.

Splits: "train" mixes both (a fraction `video_fraction` of the clips comes from video when videos are given);
"test" films the held-out photographs (`HELD_OUT_IMAGES`, never in training) with known pans in 8 directions,
deterministically, so a model's motion fields can be checked against the true motion (`with_motion=True`).
Evaluate on real held-out footage with the "video_folder" source instead.

Velocities are those of the content on the screen, (dy, dx) in output pixels per frame: a camera panning right
makes the content move left (dx < 0).
"""

import importlib.util
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image
from scipy import ndimage
import tensorflow as tf

from trivd_gan.data import preprocessing

# The photographs bundled in the scikit-image wheel (skimage/data/) that this source uses, with their licences
# (from skimage.data's docstrings). All allow shipping derived weights; the model card repeats this table.
IMAGES = {
    "astronaut.png": "Eileen Collins, NASA Great Images database; public domain",
    "chelsea.png": "Chelsea the cat, Stefan van der Walt; CC0",
    "rocket.jpg": "DSCOVR launch on Falcon 9, SpaceX; public domain",
    "hubble_deep_field.jpg": "Hubble eXtreme Deep Field, NASA; public domain",
    "retina.jpg": "fundus photograph, Mikael Haggstrom (Wikimedia); CC0",
    "ihc.png": "immunohistochemistry, CMMI; no known copyright restrictions",
    "camera.png": "man with a camera, Lav Varshney; CC0",
    "brick.png": "brick wall, CC0Textures; CC0",
    "grass.png": "grass, linolafett (DeviantArt); CC0",
    "gravel.png": "gravel, CC0Textures; CC0",
    "coins.png": "Greek coins from Pompeii, Brooklyn Museum; no known copyright restrictions",
    "coffee.png": "coffee cup, Rachel Michetti (Pikolo Espresso Bar); CC0",
}
# Never used for training: the "test" split films them (a held-out check of motion fields).
HELD_OUT_IMAGES = ("coffee.png",)
# Content velocities of the "test" split, (dy, dx) output pixels per frame: 8 directions, 2 speeds.
TEST_VELOCITIES = tuple((s * dy, s * dx) for s in (1.0, 2.0) for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0),
                                                                          (1, 1), (1, -1), (-1, 1), (-1, -1)))
_TRAIN_SEED_OFFSET = 0
_EVAL_SEED_OFFSET = 1_000_003


def skimage_data_dir() -> str:
  """The folder of photographs inside the installed scikit-image wheel (no skimage import needed)."""
  spec = importlib.util.find_spec("skimage")
  if spec is None or not spec.submodule_search_locations:
    raise ValueError("the natural data set films the photographs bundled with scikit-image, which is not "
                     "installed: `pip install scikit-image` (requirements.txt pins it), or pass image_dir=<a "
                     "folder of your own photographs>.")
  return os.path.join(list(spec.submodule_search_locations)[0], "data")


def load_images(image_dir: Optional[str], names: Optional[Sequence[str]],
                min_side: int) -> Dict[str, np.ndarray]:
  """{name: [H, W, 3] float32 in [0, 255]} of the photographs `names` in `image_dir` (default: the skimage
  folder and the training photographs of IMAGES); images smaller than `min_side` are refused."""
  folder = image_dir or skimage_data_dir()
  if names is None:
    if image_dir:
      names = sorted(n for n in os.listdir(folder) if n.lower().endswith((".png", ".jpg", ".jpeg", ".bmp")))
    else:
      names = [n for n in IMAGES if n not in HELD_OUT_IMAGES]
  if not names:
    raise ValueError(f"no photographs (.png, .jpg, .jpeg, .bmp) in {folder!r}.")
  images = {}
  for name in names:
    path = os.path.join(folder, name)
    if not os.path.isfile(path):
      raise ValueError(f"photograph {name!r} not found in {folder!r}; check the name or image_dir.")
    with Image.open(path) as image:
      array = np.asarray(image.convert("RGB"), np.float32)
    if min(array.shape[:2]) < min_side:
      raise ValueError(f"{path}: {array.shape[1]}x{array.shape[0]} is smaller than {min_side} pixels on a "
                       "side; "
                       "use larger photographs.")
    images[name] = array
  return images


def _sample(image: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
  """Bilinear samples of image [H, W, 3] at float coordinates ys, xs [...] -> [..., 3] (edges clamped)."""
  return np.stack([ndimage.map_coordinates(image[..., c], [ys, xs], order=1, mode="nearest") for c in range(3)],
                  axis=-1)


def animate(image: np.ndarray,
            num_frames: int,
            size: int,
            velocity: Tuple[float, float],
            scale: float,
            zoom: float = 1.0,
            start: Optional[Tuple[float, float]] = None,
            sprites: Sequence[Dict] = ()) -> np.ndarray:
  """A virtual camera filming a photograph.

  Args:
    image: [H, W, 3] float32 in [0, 255].
    num_frames, size: output [num_frames, size, size, 3].
    velocity: (dy, dx) content motion in output pixels per frame (the window moves the opposite way).
    scale: photograph pixels per output pixel in frame 0 (> 0; > 1 shows more of the photograph).
    zoom: factor of the window's scale per frame (> 1 zooms out, < 1 zooms in; 1 is a pure pan).
    start: (y, x) window centre in frame 0, in photograph pixels (None: the centre of the photograph).
    sprites: moving objects, each {"image": [h, w, 3] float32 patch, "mask": [h, w] alpha in [0, 1],
      "position": (y, x) top-left in output pixels at frame 0, "velocity": (dy, dx) output pixels per frame}.

  Returns:
    [num_frames, size, size, 3] uint8.
  """
  if scale <= 0 or zoom <= 0:
    raise ValueError(f"scale ({scale}) and zoom ({zoom}) must be positive.")
  height, width = image.shape[:2]
  cy, cx = start if start is not None else ((height - 1) / 2, (width - 1) / 2)
  grid = np.arange(size, dtype=np.float64) - (size - 1) / 2
  frames = []
  for t in range(num_frames):
    s = scale * zoom**t
    # The window moves by -velocity output pixels per frame, each worth the current scale in photograph pixels.
    shift = scale * (zoom**t - 1) / (zoom - 1) if zoom != 1 else scale * t  # sum of scale * zoom**k, k < t
    ys = cy - velocity[0] * shift + s * grid[:, None]
    xs = cx - velocity[1] * shift + s * grid[None, :]
    frame = _sample(image, *np.broadcast_arrays(ys, xs))
    for sprite in sprites:
      frame = _paste(frame, sprite, t)
    frames.append(frame)
  return np.clip(np.round(np.stack(frames)), 0, 255).astype(np.uint8)


def _paste(frame: np.ndarray, sprite: Dict, t: int) -> np.ndarray:
  """frame [S, S, 3] with the sprite alpha-composited at its (sub-pixel) position at time t."""
  size = frame.shape[0]
  h, w = sprite["mask"].shape
  y0 = sprite["position"][0] + sprite["velocity"][0] * t
  x0 = sprite["position"][1] + sprite["velocity"][1] * t
  ys, xs = np.meshgrid(np.arange(size) - y0, np.arange(size) - x0, indexing="ij")  # sprite coordinates
  inside = (ys > -1) & (ys < h) & (xs > -1) & (xs < w)
  if not inside.any():
    return frame
  alpha = ndimage.map_coordinates(sprite["mask"], [ys, xs], order=1, mode="constant", cval=0.0)[..., None]
  patch = _sample(sprite["image"], ys, xs)
  return frame * (1 - alpha) + patch * alpha


def _random_sprite(rng: np.random.Generator, images: List[np.ndarray], size: int, max_speed: float) -> Dict:
  """A soft-edged ellipse of texture cut from a random photograph, crossing the frame at a random velocity."""
  image = images[rng.integers(len(images))]
  h, w = (int(rng.integers(size // 6, size // 2)) for _ in range(2))
  scale = rng.uniform(1.0, 3.0)
  ph, pw = int(h * scale), int(w * scale)
  top = rng.integers(0, image.shape[0] - ph + 1)
  left = rng.integers(0, image.shape[1] - pw + 1)
  ys, xs = np.meshgrid(np.linspace(top, top + ph - 1, h), np.linspace(left, left + pw - 1, w), indexing="ij")
  patch = _sample(image, ys, xs)
  ry, rx = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
  mask = np.clip((1.0 - np.sqrt(ry**2 + rx**2)) * 4.0, 0.0, 1.0)  # an ellipse with a soft rim
  return {
      "image": patch,
      "mask": mask,
      "position": (rng.uniform(-h / 2, size - h / 2), rng.uniform(-w / 2, size - w / 2)),
      "velocity": tuple(rng.uniform(-max_speed, max_speed, size=2)),
  }


def random_still_clip(rng: np.random.Generator, images: List[np.ndarray], num_frames: int, size: int,
                      max_speed: float, max_objects: int) -> Tuple[np.ndarray, np.ndarray]:
  """One training clip filmed from a random photograph: ([T, S, S, 3] uint8, content velocity [2]).

  Camera: still for 15% of clips, else a pan of up to `max_speed` output pixels per frame in each axis; a zoom
  of
  up to 2% per frame in a third of them; 0..max_objects sprites. The window stays inside the photograph.
  """
  image = images[rng.integers(len(images))]
  if rng.random() < 0.5:
    image = image[:, ::-1]
  velocity = np.zeros(2) if rng.random() < 0.15 else rng.uniform(-max_speed, max_speed, size=2)
  zoom = rng.uniform(0.98, 1.02) if rng.random() < 1 / 3 else 1.0
  # The largest window scale that keeps every frame inside the photograph, then a random scale below it.
  largest = max(zoom**(num_frames - 1), 1.0)
  travel = np.abs(velocity) * (num_frames - 1) * largest
  fit = min((image.shape[0] - 1) / (size * largest + travel[0]),
            (image.shape[1] - 1) / (size * largest + travel[1]))
  scale = rng.uniform(min(0.75, fit), min(4.0, fit))
  span = [(size * scale * largest + abs(v) * (num_frames - 1) * scale * largest) for v in velocity]
  start = []
  for axis in range(2):
    free = max(image.shape[axis] - 1 - span[axis], 0.0)
    low = rng.uniform(0, free)  # the window's extent over the clip starts here
    # Frame 0's centre: the window travels towards -velocity, so start on the side it leaves.
    offset = size * scale * largest / 2 + (travel[axis] * scale if velocity[axis] > 0 else 0)
    start.append(low + offset)
  num_objects = int(rng.integers(0, max_objects + 1))
  sprites = [_random_sprite(rng, images, size, max_speed) for _ in range(num_objects)]
  video = animate(image, num_frames, size, tuple(velocity), scale, zoom, tuple(start), sprites)
  return video, velocity.astype(np.float32)


def random_video_clip(rng: np.random.Generator, videos: List[np.ndarray], num_frames: int,
                      size: int) -> np.ndarray:
  """A random window of a real video, stride 1 or 2, cropped at a random scale and position, maybe mirrored.

  videos: [N, H, W, 3] uint8 arrays, smallest side >= size. Returns [num_frames, size, size, 3] uint8.
  """
  lengths = [len(v) for v in videos]
  stride = int(rng.integers(1, 3))
  usable = [i for i, n in enumerate(lengths) if n >= preprocessing.window_span(num_frames, stride)]
  if not usable:
    stride = 1
    usable = [i for i, n in enumerate(lengths) if n >= num_frames]
  video = videos[usable[rng.integers(len(usable))]]
  start = preprocessing.window_starts(len(video), num_frames, stride, training=True, rng=rng)[0]
  clip = preprocessing.take_window(video, start, num_frames, stride).astype(np.float32)
  height, width = clip.shape[1:3]
  side = int(rng.integers(size, min(height, width, 2 * size) + 1))
  top = rng.integers(0, height - side + 1)
  left = rng.integers(0, width - side + 1)
  clip = clip[:, top:top + side, left:left + side]
  if side != size:
    clip = tf.image.resize(clip, [size, size], method="bilinear", antialias=True).numpy()
  if rng.random() < 0.5:
    clip = clip[:, :, ::-1]
  return np.clip(np.round(clip), 0, 255).astype(np.uint8)


def test_clip(image: np.ndarray, index: int, num_frames: int, size: int) -> Tuple[np.ndarray, np.ndarray]:
  """Held-out clip `index` of the "test" split: a pan of TEST_VELOCITIES[index % 16] over `image`, at a scale
  of 2 photograph pixels per output pixel, from a position that cycles with index // 16."""
  velocity = np.array(TEST_VELOCITIES[index % len(TEST_VELOCITIES)], np.float64)
  scale = 2.0
  travel = np.abs(velocity) * (num_frames - 1) * scale
  start = []
  for axis in range(2):
    free = image.shape[axis] - 1 - size * scale - travel[axis]
    if free < 0:
      raise ValueError(f"held-out photograph too small for {num_frames} frames of pans at {size} px.")
    fraction = ((index // len(TEST_VELOCITIES)) * 0.37 + 0.5 * axis) % 1.0
    low = fraction * free
    start.append(low + size * scale / 2 + (travel[axis] if velocity[axis] > 0 else 0))
  video = animate(image, num_frames, size, tuple(velocity), scale, 1.0, tuple(start))
  return video, velocity.astype(np.float32)


def make_clips(spec: preprocessing.ClipSpec,
               *,
               num_examples: Optional[int] = None,
               image_dir: Optional[str] = None,
               videos: Sequence[str] = (),
               video_fraction: float = 0.25,
               max_speed: float = 2.5,
               max_objects: int = 2,
               with_motion: bool = False) -> tf.data.Dataset:
  """Unbatched dataset of {"video": [num_frames, S, S, 3] float32 in [-1, 1], "label": int32 0} (+ "velocity").

  Args:
    spec: the shared arguments (`preprocessing.ClipSpec`). Here split "train" films the photographs of IMAGES
      minus HELD_OUT_IMAGES (or every image of image_dir), plus `videos`; any other split films HELD_OUT_IMAGES
      with the pans of TEST_VELOCITIES (deterministic). data_dir: folder of the training `videos` (file names
      relative to it). frame_stride: motion per output frame scales with it (clips are filmed at stride 1,
      then subsampled).
    num_examples: None = infinite when training, 64 for evaluation.
    image_dir: a folder of your own photographs instead of scikit-image's.
    videos: training video files (e.g. ["bigbuckbunny.mp4"]); empty: photographs only.
    video_fraction: fraction of training clips cut from `videos` (when there are any).
    max_speed: largest pan and sprite speed per axis, output pixels per frame.
    max_objects: sprites per training clip, 0..max_objects.
    with_motion: add "velocity" [2] float32 (dy, dx) content motion per output frame (0 for video clips).
  """
  if not 0.0 <= video_fraction <= 1.0:
    raise ValueError(f"video_fraction must be in [0, 1], got {video_fraction}.")
  span = preprocessing.window_span(spec.num_frames, spec.frame_stride)
  if spec.split == "train":
    images = list(load_images(image_dir, None, min_side=spec.image_size).values())
    clips_from_video = []
    for name in videos:
      path = os.path.join(os.path.expanduser(spec.data_dir or ""), name)
      if not os.path.isfile(path):
        raise ValueError(f"training video {name!r} not found in data_dir={spec.data_dir!r}; pass "
                         "--data_dir=<the folder that holds it> or drop it from natural_dataset.videos.")
      from trivd_gan.data import video_folder  # pylint: disable=import-outside-toplevel
      decoded = video_folder.decode_video(path, image_size=spec.image_size)
      if len(decoded) < spec.num_frames:
        raise ValueError(f"{path} has {len(decoded)} frames, fewer than a clip's {spec.num_frames}.")
      clips_from_video.append(decoded)
  else:  # with image_dir, its photographs are the held-out ones
    names = None if image_dir else HELD_OUT_IMAGES
    images = list(load_images(image_dir, names, min_side=spec.image_size).values())
  if num_examples is None and (spec.split != "train" or not spec.training):
    num_examples = 64
  base_seed = spec.seed + (_TRAIN_SEED_OFFSET if spec.split == "train" else _EVAL_SEED_OFFSET)
  indices = tf.data.Dataset.range(num_examples) if num_examples is not None else tf.data.Dataset.counter()
  indices = indices.shard(spec.num_shards, spec.shard_index)

  def _gen(index):
    index = int(index)
    if spec.split != "train":
      image = images[index // len(TEST_VELOCITIES) % len(images)]
      video, velocity = test_clip(image, index, span, spec.image_size)
    else:
      rng = np.random.default_rng([base_seed, index])
      if clips_from_video and rng.random() < video_fraction:
        video = random_video_clip(rng, clips_from_video, span, spec.image_size)
        velocity = np.zeros(2, np.float32)
      else:
        video, velocity = random_still_clip(rng, images, span, spec.image_size, max_speed, max_objects)
    return video[::spec.frame_stride], (velocity * spec.frame_stride).astype(np.float32)

  def _map(index):
    video, velocity = tf.numpy_function(_gen, [index], (tf.uint8, tf.float32), stateful=False)
    video.set_shape([spec.num_frames, spec.image_size, spec.image_size, 3])
    out = {"video": preprocessing.scale_to_unit_range(video), "label": tf.constant(0, tf.int32)}
    if with_motion:
      velocity.set_shape([2])
      out["velocity"] = velocity
    return out

  return indices.map(_map, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
