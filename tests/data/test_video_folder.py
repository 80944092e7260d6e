"""video_folder source on a real clip, on small files written here (good and bad) and on the shared videos."""

import os
import shutil
import subprocess
import sys
import textwrap
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf

from trivd_gan import data
from trivd_gan.data import fake_data
from trivd_gan.data import video_folder as vf
from tests import data_paths


@pytest.fixture(scope="module")
def four_videos(tmp_path_factory):
  """A folder of 4 videos of >= 16 frames: the real clip and three written here (mp4, avi, gif)."""
  root = tmp_path_factory.mktemp("four")
  shutil.copy(data_paths.REALSHORT_MP4, root / "a_real.mp4")
  fake_data.write_video(str(root / "b.mp4"), fake_data.moving_frames(20, 48, 72, seed=10))
  fake_data.write_video(str(root / "c.avi"), fake_data.moving_frames(18, 64, 64, seed=11))
  fake_data.write_video(str(root / "d.gif"), fake_data.moving_frames(17, 40, 40, seed=12))
  return str(root)


def test_tree_avi_lying_header_is_handled():
  stats = vf.DecodeStats()
  video = vf.decode_video(data_paths.shared_data("video", "tree.avi"), stats=stats)
  assert video.shape == (68, 64, 85, 3) and video.dtype == np.uint8  # Header says 444 frames.
  assert stats.counts["header_mismatch"] == 1


def test_real_clip_decodes():
  video = vf.decode_video(data_paths.REALSHORT_MP4)
  assert video.shape == (36, 64, 85, 3) and video.dtype == np.uint8 and video.std() > 10


def test_shared_videos_eval_shapes_range_and_determinism():
  source = vf.VideoFolderSource(data_paths.shared_data("video"))
  assert [os.path.basename(p) for p in source.paths
         ] == ["bigbuckbunny.mp4", "newtonscradle.gif", "realshort.mp4", "tree.avi"]
  ds = data.make_dataset("video_folder", "test", batch_size=2, source=source)
  first = [b["video"].numpy() for b in ds]
  second = [b["video"].numpy() for b in ds]
  assert [b.shape for b in first] == [(2, 16, 64, 64, 3)] * 2
  for a, b in zip(first, second):
    np.testing.assert_array_equal(a, b)
  video = np.concatenate(first)
  assert video.dtype == np.float32 and video.min() >= -1 and video.max() <= 1 and video.std() > 0.1
  assert source.stats.counts["ok"] == 4 and source.stats.num_skipped == 0


@pytest.fixture(scope="module")
def messy_dir(tmp_path_factory):
  root = tmp_path_factory.mktemp("videos")
  fake_data.write_video(str(root / "good.mp4"), fake_data.moving_frames(20, 48, 72, seed=0))
  fake_data.write_video(str(root / "anim.gif"), fake_data.moving_frames(18, 40, 40, seed=1))
  fake_data.write_video(str(root / "mjpeg.avi"), fake_data.moving_frames(18, 64, 64, seed=2))
  fake_data.write_video(str(root / "gray.mp4"), fake_data.moving_frames(18, 48, 64, seed=3, channels=1))
  fake_data.write_video(str(root / "odd.mp4"), fake_data.moving_frames(18, 34, 50, seed=4))
  fake_data.write_video(str(root / "short.mp4"), fake_data.moving_frames(5, 48, 64, seed=5))
  fake_data.write_video(str(root / "long.mp4"), fake_data.moving_frames(120, 48, 64, seed=6))
  # mp4 keeps its index (moov) at the end, so a cut mp4 is unreadable; a cut AVI still decodes its first half.
  fake_data.write_truncated(str(root / "long.mp4"), str(root / "truncated.mp4"), 0.5)
  fake_data.write_video(str(root / "long.avi"), fake_data.moving_frames(120, 48, 64, seed=7))
  fake_data.write_truncated(str(root / "long.avi"), str(root / "truncated.avi"), 0.5)
  fake_data.write_corrupt(str(root / "corrupt.mp4"))
  (root / "empty.webm").write_bytes(b"")
  (root / "notes.txt").write_text("not a video")
  return str(root)


def test_bad_files_are_skipped_and_counted_with_one_warning(messy_dir):
  source = vf.VideoFolderSource(messy_dir, num_decode_threads=2)
  assert len(source.paths) == 12
  with mock.patch.object(vf.logging, "warning") as warning:
    clips = list(source.iter_clips(data.ClipSpec(num_frames=16, training=False)))
  assert warning.call_count == 1
  counts = source.stats.counts
  assert counts["skipped_corrupt"] == 3  # corrupt.mp4, empty.webm, truncated.mp4
  assert counts["skipped_too_short"] == 1  # short.mp4
  # truncated.avi is kept; depending on where the cut falls FFmpeg reports an error or just stops early.
  assert counts["truncated"] + counts["header_mismatch"] == 1 and counts["ok"] == 8
  assert len(clips) == 8
  for clip, label in clips:
    assert clip.shape[0] == 16 and min(clip.shape[1:3]) == 64 and clip.shape[3] == 3 and label == 0
  gray = [c for c, _ in clips if np.array_equal(c[..., 0], c[..., 2])]
  assert gray  # The grayscale video decodes to RGB with equal channels (up to codec chroma: at least one).


def test_truncated_file_keeps_decoded_frames(messy_dir):
  stats = vf.DecodeStats()
  video = vf.decode_video(os.path.join(messy_dir, "truncated.avi"), stats=stats)
  assert 16 <= len(video) < 120 and stats.counts["truncated"] + stats.counts["header_mismatch"] == 1
  path = os.path.join(messy_dir, "truncated.mp4")
  with pytest.raises(vf.VideoDecodeError) as error:
    vf.decode_video(path)
  # The reason is one plain line: no path (messages name the file themselves), no exception repr.
  assert error.value.reason.startswith("no decodable frame") and path not in error.value.reason
  assert "Error(" not in error.value.reason and "\n" not in error.value.reason
  assert str(error.value) == f"{path}: {error.value.reason}" and error.value.path == path


def test_training_dataset_runs_on_messy_dir_with_random_windows(messy_dir):
  ds = data.make_dataset("video_folder", "train", messy_dir, batch_size=4, num_frames=8, frame_stride=2, seed=1)
  batches = [b["video"].numpy() for b in ds.take(3)]
  assert all(b.shape == (4, 8, 64, 64, 3) for b in batches)
  assert all(b.min() >= -1 and b.max() <= 1 for b in batches)


def test_class_subfolders_give_labels(tmp_path):
  for i, cls in enumerate(["b_class", "a_class"]):
    os.makedirs(tmp_path / cls)
    fake_data.write_video(str(tmp_path / cls / "v.mp4"), fake_data.moving_frames(16, 32, 32, seed=i))
  paths, labels, names = vf.list_videos(str(tmp_path))
  assert names == ["a_class", "b_class"] and labels == [0, 1]
  batch = next(iter(data.make_dataset("video_folder", "test", str(tmp_path), batch_size=2)))
  np.testing.assert_array_equal(batch["label"].numpy(), [0, 1])


def test_missing_or_empty_dir_is_a_clear_error(tmp_path):
  with pytest.raises(ValueError, match="--data_dir"):
    data.make_dataset("video_folder", "train", str(tmp_path / "missing"), batch_size=2)
  with pytest.raises(ValueError, match="--data_dir"):
    data.make_dataset("video_folder", "train", None, batch_size=2)
  with pytest.raises(ValueError, match="No video file"):
    vf.list_videos(str(tmp_path))


def test_input_context_shards_files_and_splits_batch(four_videos):
  contexts = [
      tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=i, num_replicas_in_sync=2)
      for i in range(2)
  ]
  batches = [
      next(iter(data.make_dataset("video_folder", "test", four_videos, batch_size=4, input_context=c)))
      for c in contexts
  ]
  assert all(b["video"].shape == (2, 16, 64, 64, 3) for b in batches)
  assert not np.array_equal(batches[0]["video"].numpy(), batches[1]["video"].numpy())
  full = np.concatenate(
      [b["video"].numpy() for b in data.make_dataset("video_folder", "test", four_videos, batch_size=4)])
  # Shard 0 holds files 0 and 2 of the sorted list, shard 1 files 1 and 3.
  np.testing.assert_array_equal(batches[0]["video"].numpy(), full[[0, 2]])
  np.testing.assert_array_equal(batches[1]["video"].numpy(), full[[1, 3]])


EXIT_WHILE_DECODING = """
import sys
from trivd_gan import data
iterator = iter(data.make_dataset("video_folder", "train", sys.argv[1], batch_size=2, num_frames=4,
                                  image_size=32))
next(iterator)
next(iterator)
print("read two batches", flush=True)
"""


def test_program_exits_while_the_pipeline_is_decoding(tmp_path):
  # The program ends with its iterator alive and the generator mid-decode: tf.data's iterator destructor used
  # to wait forever, at interpreter shutdown, for that Python call (about half of the runs hung).
  for i in range(8):
    shutil.copy(data_paths.REALSHORT_MP4, tmp_path / f"clip_{i}.mp4")
  env = {**os.environ, "PYTHONPATH": data_paths.ROOT}
  result = subprocess.run([sys.executable, "-c", textwrap.dedent(EXIT_WHILE_DECODING), str(tmp_path)],
                          cwd=data_paths.ROOT, env=env, capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "read two batches" in result.stdout
