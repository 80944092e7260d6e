"""Natural source: the virtual camera against a NumPy reference, labels against the frames, splits, errors."""

import importlib.util

import numpy as np
import pytest

from tests import data_paths
from trivd_gan import data
from trivd_gan.data import natural


def photograph(height=200, width=240, seed=0):
  """A random [H, W, 3] float32 'photograph' in [0, 255] (integer values: bilinear samples stay exact)."""
  return np.random.default_rng(seed).integers(0, 256, size=(height, width, 3)).astype(np.float32)


@pytest.mark.parametrize("velocity", [(0, 0), (1, 0), (0, -2), (-1, 3)])
def test_pan_at_integer_positions_is_a_slice_of_the_photograph(velocity):
  image = photograph()
  # size 16: the window's pixel centres sit at centre +- 7.5, so a half-integer centre samples whole pixels.
  video = natural.animate(image, num_frames=5, size=16, velocity=velocity, scale=1.0, start=(100.5, 110.5))
  for t in range(5):
    top = int(100.5 - 7.5 - velocity[0] * t)
    left = int(110.5 - 7.5 - velocity[1] * t)
    np.testing.assert_array_equal(video[t], image[top:top + 16, left:left + 16].astype(np.uint8))


def test_content_moves_by_the_velocity():
  """Frame t + 1 is frame t moved by (dy, dx) on the screen: the label is the content's motion."""
  video = natural.animate(photograph(), num_frames=3, size=16, velocity=(2, -1), scale=1.0, start=(90.5, 90.5))
  np.testing.assert_array_equal(video[1][2:, :-1], video[0][:-2, 1:])


def test_scale_and_zoom():
  image = photograph()
  # Scale 2: every other photograph pixel.
  video = natural.animate(image, num_frames=1, size=8, velocity=(0, 0), scale=2.0, start=(100.0, 100.0))
  np.testing.assert_array_equal(video[0], image[93:108:2, 93:108:2].astype(np.uint8))
  # A zoom of 2 per frame: frame 1 is frame 0's view at scale 2 about the same centre.
  zoomed = natural.animate(image, num_frames=2, size=8, velocity=(0, 0), scale=1.0, zoom=2.0,
                           start=(100.0, 100.0))
  np.testing.assert_array_equal(zoomed[1], video[0])


def test_half_pixel_pan_interpolates_bilinearly():
  image = photograph()
  video = natural.animate(image, num_frames=2, size=8, velocity=(0, 0.5), scale=1.0, start=(50.5, 50.5))
  expected = 0.5 * (image[47:55, 46:54] + image[47:55, 47:55])  # the window moved left by half a pixel
  np.testing.assert_allclose(video[1], np.round(expected), atol=1)


def test_sprite_is_pasted_where_it_moves():
  image = np.zeros((100, 100, 3), np.float32)
  sprite = {"image": np.full((4, 4, 3), 200.0, np.float32), "mask": np.ones((4, 4)), "position": (2.0, 3.0),
            "velocity": (1.0, 2.0)}
  video = natural.animate(image, num_frames=3, size=16, velocity=(0, 0), scale=1.0, sprites=[sprite])
  for t in range(3):
    expected = np.zeros((16, 16), np.uint8)
    expected[2 + t:6 + t, 3 + 2 * t:7 + 2 * t] = 200
    np.testing.assert_array_equal(video[t][..., 0], expected)


@pytest.mark.parametrize("index", [0, 3, 9, 14])
def test_test_split_labels_match_the_frames(index):
  """The held-out pans move the content by their label: the best integer shift between frames is the label."""
  image = photograph(400, 600, seed=index)
  video, velocity = natural.test_clip(image, index, num_frames=4, size=32)
  assert tuple(velocity) == natural.TEST_VELOCITIES[index]
  a, b = video[1].astype(np.float32), video[2].astype(np.float32)
  errors = {}
  for dy in range(-3, 4):
    for dx in range(-3, 4):
      shifted = np.roll(a, (dy, dx), axis=(0, 1))[4:-4, 4:-4]
      errors[(dy, dx)] = np.mean(np.abs(shifted - b[4:-4, 4:-4]))
  assert min(errors, key=errors.get) == tuple(int(v) for v in velocity)


def test_random_still_clips_stay_inside_the_photograph():
  """Windows never leave the photograph: a photograph framed by a border of 255 never shows it."""
  image = np.full((260, 300, 3), 255.0, np.float32)
  image[1:-1, 1:-1] = photograph(258, 298)[..., :] * 0.5  # content in [0, 127]
  for seed in range(30):
    rng = np.random.default_rng(seed)
    video, velocity = natural.random_still_clip(rng, [image], num_frames=16, size=32, max_speed=2.5,
                                                max_objects=0)
    assert video.shape == (16, 32, 32, 3) and np.all(np.abs(velocity) <= 2.5)
    assert video.max() < 200, f"seed {seed}: a window left the photograph"


@pytest.mark.skipif(importlib.util.find_spec("skimage") is None, reason="needs scikit-image (requirements.txt)")
def test_make_clips_trains_on_bundled_photographs_and_holds_out_coffee():
  names = natural.load_images(None, None, min_side=64)
  assert "coffee.png" not in names and len(names) == len(natural.IMAGES) - len(natural.HELD_OUT_IMAGES)
  ds = data.make_dataset("natural", split="train", batch_size=4, num_frames=6, seed=1, with_motion=True)
  batch = next(iter(ds))
  video = batch["video"].numpy()
  assert video.shape == (4, 6, 64, 64, 3) and video.min() >= -1 and video.max() <= 1
  assert batch["velocity"].shape == (4, 2)
  again = next(iter(data.make_dataset("natural", split="train", batch_size=4, num_frames=6, seed=1)))
  np.testing.assert_array_equal(again["video"].numpy(), video)
  test = [b for b in data.make_dataset("natural", split="test", batch_size=16, num_frames=6, with_motion=True)]
  assert sum(len(b["video"]) for b in test) == 64
  np.testing.assert_array_equal(test[0]["velocity"].numpy(), np.array(natural.TEST_VELOCITIES, np.float32))


def test_training_clips_from_video(tmp_path):
  image_dir = tmp_path / "photos"
  image_dir.mkdir()
  from PIL import Image  # pylint: disable=import-outside-toplevel
  Image.fromarray(photograph(80, 90).astype(np.uint8)).save(image_dir / "a.png")
  ds = natural.make_clips(data.ClipSpec(split="train", data_dir=data_paths.TESTDATA, num_frames=8),
                          image_dir=str(image_dir), videos=["realshort.mp4"], video_fraction=1.0,
                          with_motion=True)
  clips = list(ds.take(3))
  for clip in clips:
    assert clip["video"].shape == (8, 64, 64, 3)
    np.testing.assert_array_equal(clip["velocity"].numpy(), [0, 0])  # video clips carry no motion label
    assert np.std(clip["video"].numpy()) > 0.05  # real content, not a blank frame


def test_clear_errors(tmp_path, monkeypatch):
  from PIL import Image  # pylint: disable=import-outside-toplevel
  photos = tmp_path / "photos"
  photos.mkdir()
  Image.fromarray(photograph(80, 90).astype(np.uint8)).save(photos / "a.png")
  with pytest.raises(ValueError, match="training video 'missing.mp4' not found"):
    natural.make_clips(data.ClipSpec(split="train", data_dir=str(tmp_path)), image_dir=str(photos),
                       videos=["missing.mp4"])
  empty = tmp_path / "empty"
  empty.mkdir()
  with pytest.raises(ValueError, match="no photographs"):
    natural.make_clips(data.ClipSpec(split="train"), image_dir=str(empty))
  with pytest.raises(ValueError, match="video_fraction must be in"):
    natural.make_clips(data.ClipSpec(split="train"), video_fraction=1.5)
  Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(empty / "small.png")
  with pytest.raises(ValueError, match="smaller than 64 pixels"):
    natural.make_clips(data.ClipSpec(split="train"), image_dir=str(empty))
  monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
  with pytest.raises(ValueError, match="pip install scikit-image"):
    natural.skimage_data_dir()
