"""Small generated video files and a fake Kinetics tree, for tests and the data benchmark (no real data)."""

import csv
import os
import shutil
from typing import Dict, Optional, Sequence

import av
import numpy as np

from trivd_gan.data import synthetic


def moving_frames(num_frames: int, height: int, width: int, seed: int = 0, channels: int = 3) -> np.ndarray:
  """[T, H, W, C] uint8 frames with moving texture (synthetic generator, cropped/tiled to H x W)."""
  side = max(height, width, 16)
  video = synthetic.generate(seed=seed, num_frames=num_frames, image_size=side, num_objects=1)["video"]
  video = video[:, :height, :width]
  if channels == 1:
    video = video.mean(-1, keepdims=True).astype(np.uint8)
  return video


def write_video(path: str, frames: np.ndarray, fps: int = 25, codec: Optional[str] = None) -> str:
  """Writes [T, H, W, C] uint8 frames (C in {1, 3}) with PyAV.

  The codec follows the extension: mp4 -> mpeg4, gif -> gif, avi -> mjpeg.
  """
  ext = os.path.splitext(path)[1].lower()
  codec = codec or {".gif": "gif", ".avi": "mjpeg", ".webm": "libvpx"}.get(ext, "mpeg4")
  gray = frames.shape[-1] == 1
  with av.open(path, mode="w") as container:
    stream = container.add_stream(codec, rate=fps)
    stream.height, stream.width = frames.shape[1], frames.shape[2]
    stream.pix_fmt = {
        "gif": "rgb8",
        "mjpeg": "yuvj420p"
    }.get(codec, "gray" if gray and codec == "mpeg4" else "yuv420p")
    if gray and codec == "mpeg4":
      stream.pix_fmt = "yuv420p"  # mpeg4 has no gray format; the frames still carry no colour.
    for f in frames:
      image = np.repeat(f, 3, axis=-1) if gray else f
      frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
      for packet in stream.encode(frame):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)
  return path


def write_corrupt(path: str, size: int = 2048, seed: int = 0) -> str:
  """Random bytes with a video extension."""
  with open(path, "wb") as f:
    f.write(np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes())
  return path


def write_truncated(src: str, dst: str, fraction: float = 0.5) -> str:
  """Copy of the first `fraction` of `src`'s bytes."""
  with open(src, "rb") as f:
    data = f.read()
  with open(dst, "wb") as f:
    f.write(data[:int(len(data) * fraction)])
  return dst


def write_fake_kinetics(root: str,
                        videos_per_class: int = 2,
                        classes: Sequence[str] = ("abseiling", "juggling"),
                        num_frames: int = 20,
                        height: int = 48,
                        width: int = 72,
                        corrupt: int = 1,
                        missing: int = 1,
                        source_videos: Optional[Sequence[str]] = None) -> Dict[str, int]:
  """Kinetics-600 layout under `root`: annotations/{train,validate}.csv + train/<class>/*.mp4, validate/*.mp4.

  Train gets `videos_per_class` videos per class plus `corrupt` corrupt files and `missing` CSV rows without a
  file; validate gets one video per class. `source_videos` (paths) are copied instead of generated, cycling.
  Returns the expected number of written examples per split.
  """
  os.makedirs(os.path.join(root, "annotations"), exist_ok=True)
  expected = {}
  counter = 0
  for split, per_class, bad, absent in (("train", videos_per_class, corrupt, missing), ("validate", 1, 0, 0)):
    rows = []
    for label in classes:
      for i in range(per_class + (bad if label == classes[0] else 0) + (absent if label == classes[0] else 0)):
        yid = f"{split[:2]}{label[:3]}{i:03d}xyz"[:11]
        start = 10 * i
        rows.append({
            "label": label,
            "youtube_id": yid,
            "time_start": start,
            "time_end": start + 10,
            "split": split
        })
        folder = os.path.join(root, split, label) if split == "train" else os.path.join(root, split)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{yid}_{start:06d}_{start + 10:06d}.mp4")
        if i >= per_class + bad:
          continue  # Listed in the CSV, missing on disk (removed from YouTube).
        if i >= per_class:
          write_corrupt(path, seed=i)
        elif source_videos:
          shutil.copyfile(source_videos[counter % len(source_videos)], path)
        else:
          write_video(path, moving_frames(num_frames, height, width, seed=counter))
        counter += 1
    expected[split] = per_class * len(classes)
    with open(os.path.join(root, "annotations", f"{split}.csv"), "w", newline="") as f:
      writer = csv.DictWriter(f, ["label", "youtube_id", "time_start", "time_end", "split"])
      writer.writeheader()
      writer.writerows(rows)
  return expected
