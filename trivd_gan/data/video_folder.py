"""The user's own videos: any folder of video files (mp4, avi, webm, mkv, mov, gif), decoded with PyAV.

Layout: `<data_dir>/**/<name>.<ext>`. When every video sits in a first-level sub-folder
(`<data_dir>/<class>/<name>.mp4`, e.g. UCF-style), the sorted sub-folder names are the classes and `label` is
the
class index; otherwise `label` is 0 (DVD-GAN-FP's dummy class, paper App. A).

Frames are resized while decoding (FFmpeg swscale, bilinear) so their smallest side is `image_size`, which keeps
memory small for HD input; cropping and scaling to [-1, 1] follow in `preprocessing.preprocess_clip`.

Bad input never stops a run: unreadable/corrupt files and videos shorter than one window are skipped, truncated
files keep the frames that decoded, headers that lie about their frame count are ignored (frames are counted
while decoding). Everything is counted in `DecodeStats` and reported in one absl warning per source after the
first full pass over the files.
"""

import collections
import concurrent.futures
import os
import threading
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from absl import logging
import av
import numpy as np
import tensorflow as tf

from trivd_gan.data import preprocessing

VIDEO_EXTENSIONS = (".mp4", ".avi", ".webm", ".mkv", ".mov", ".gif", ".m4v")


class VideoDecodeError(Exception):
  """A file that yields no frames (corrupt, not a video, unreadable).

  `str(e)` is "<path>: <reason>" (for logs that list files); `e.reason` is the reason alone, one line, without
  the path or a Python repr, for messages that name the file themselves.
  """

  def __init__(self, path: str, reason: str):
    super().__init__(f"{path}: {reason}")
    self.path, self.reason = path, reason


def _error_text(error: Exception, path: str) -> str:
  """A PyAV/FFmpeg exception as one plain line: FFmpeg's own text (strerror) if it has one, without the path."""
  text = getattr(error, "strerror", None) or str(error) or type(error).__name__
  text = " ".join(str(text).replace(f"'{path}'", "").replace(path, "").split()).strip(" :;,")
  return text or type(error).__name__


class DecodeStats:
  """Thread-safe counters of what happened to each file: `ok`, `skipped_corrupt`, `skipped_too_short`,
  `truncated` (decode error after some frames; kept), `header_mismatch` (header frame count != decoded; kept).
  """

  def __init__(self):
    self._lock = threading.Lock()
    self.counts = collections.Counter()
    self.examples: Dict[str, List[str]] = collections.defaultdict(list)

  def add(self, kind: str, path: str = ""):
    with self._lock:
      self.counts[kind] += 1
      if len(self.examples[kind]) < 5:
        self.examples[kind].append(os.path.basename(path))

  @property
  def num_skipped(self) -> int:
    return sum(v for k, v in self.counts.items() if k.startswith("skipped"))

  def summary(self) -> str:
    parts = [
        f"{k}={v}" + (f" (e.g. {', '.join(self.examples[k])})" if k != "ok" else "")
        for k, v in sorted(self.counts.items())
    ]
    return ", ".join(parts)

  def log_summary(self, what: str):
    """One warning if anything was skipped or repaired, else one info line."""
    bad = {k: v for k, v in self.counts.items() if k != "ok"}
    if bad:
      logging.warning("%s: %d file(s) skipped, %d kept despite problems; the run goes on. %s", what,
                      self.num_skipped,
                      sum(bad.values()) - self.num_skipped, self.summary())
    else:
      logging.info("%s: all %d file(s) decoded.", what, self.counts["ok"])


def decode_video(path: str,
                 image_size: Optional[int] = preprocessing.IMAGE_SIZE,
                 max_frames: Optional[int] = None,
                 stats: Optional[DecodeStats] = None) -> np.ndarray:
  """Decodes a video file with PyAV.

  Args:
    path: video file (anything FFmpeg reads, GIF included).
    image_size: if set, frames are resized (bilinear) so their smallest side is `image_size`; None keeps size.
    max_frames: stop after this many frames (None: all).
    stats: optional counters for truncated files and lying headers.
  Returns:
    [N, H, W, 3] uint8 RGB (grayscale/palette/alpha inputs are converted), N >= 1.
  Raises:
    VideoDecodeError: no frame could be decoded.
  """
  frames = []
  header_frames = 0
  error = None
  try:
    with av.open(path) as container:
      if not container.streams.video:
        raise VideoDecodeError(path, "no video stream")
      stream = container.streams.video[0]
      stream.thread_type = "AUTO"  # FFmpeg's own frame/slice threads: parallel decode without the GIL.
      header_frames = stream.frames or 0
      for frame in container.decode(stream):
        if image_size is not None:
          height, width = preprocessing.smallest_side_shape(frame.height, frame.width, image_size)
          frame = frame.reformat(width=width, height=height, format="rgb24", interpolation="BILINEAR")
        frames.append(frame.to_ndarray(format="rgb24"))
        if max_frames is not None and len(frames) >= max_frames:
          break
  except VideoDecodeError:
    raise
  except Exception as e:  # pylint: disable=broad-except  (PyAV raises many error types on bad input.)
    error = e
  if not frames:
    reason = "no decodable frame" + (f" ({_error_text(error, path)})" if error is not None else "")
    raise VideoDecodeError(path, reason)
  if error is not None and stats is not None:
    stats.add("truncated", path)
  if (stats is not None and max_frames is None and error is None and header_frames and
      header_frames != len(frames)):
    stats.add("header_mismatch", path)
  if len({f.shape for f in frames}) > 1:  # Mid-stream resolution change: keep the first size.
    frames = [f for f in frames if f.shape == frames[0].shape]
  return np.stack(frames)


def list_videos(data_dir: Optional[str],
                extensions: Sequence[str] = VIDEO_EXTENSIONS) -> Tuple[List[str], List[int], List[str]]:
  """Sorted video paths under `data_dir` with their labels and the class names.

  Returns:
    (paths, labels, class_names); labels are sub-folder indices when every video is in a first-level
    sub-folder, else all 0 and class_names == [].
  Raises:
    ValueError: missing folder or no video in it.
  """
  if not data_dir:
    raise ValueError("The video_folder data set needs a folder of videos: set --data_dir=/path/to/videos.")
  if not os.path.isdir(data_dir):
    raise ValueError(
        f"Data directory {data_dir!r} does not exist or is not a folder: set --data_dir to a folder "
        "of video files.")
  extensions = tuple(e.lower() for e in extensions)
  paths = []
  for root, dirs, files in os.walk(data_dir, followlinks=True):
    dirs.sort()
    paths.extend(os.path.join(root, f) for f in sorted(files) if f.lower().endswith(extensions))
  if not paths:
    raise ValueError(f"No video file ({', '.join(extensions)}) found under --data_dir={data_dir!r}.")
  rel = [os.path.relpath(p, data_dir) for p in paths]
  if all(os.sep in r for r in rel):
    class_names = sorted({r.split(os.sep)[0] for r in rel})
    index = {c: i for i, c in enumerate(class_names)}
    labels = [index[r.split(os.sep)[0]] for r in rel]
  else:
    class_names, labels = [], [0] * len(paths)
  return paths, labels, class_names


class VideoFolderSource:
  """Clips cut from a folder of videos; see the module docstring for layout and bad-input handling.

  Attributes:
    paths, labels, class_names: from `list_videos`.
    stats: `DecodeStats` accumulated over all passes.
  """

  def __init__(self,
               data_dir: Optional[str],
               extensions: Sequence[str] = VIDEO_EXTENSIONS,
               num_decode_threads: int = 4,
               max_frames: Optional[int] = None):
    self.data_dir = data_dir
    self.paths, self.labels, self.class_names = list_videos(data_dir, extensions)
    self.num_decode_threads = max(1, num_decode_threads)
    self.max_frames = max_frames
    self.stats = DecodeStats()
    self._reported = False
    self._counted = set()  # Paths already in `stats`: every file is counted once, however many passes.
    self._counted_lock = threading.Lock()

  def _first_visit(self, path: str) -> bool:
    with self._counted_lock:
      first = path not in self._counted
      self._counted.add(path)
      return first

  def _decode_clips(self, path: str, label: int, num_frames: int, frame_stride: int, training: bool,
                    rng: np.random.Generator, clips_per_video: int, image_size: int, count: bool):
    stats = self.stats if count else None
    try:
      video = decode_video(path, image_size=image_size, max_frames=self.max_frames, stats=stats)
    except VideoDecodeError as e:
      logging.debug("Skipping %s", e)
      if count:
        self.stats.add("skipped_corrupt", path)
      return []
    starts = preprocessing.window_starts(len(video), num_frames, frame_stride, training, rng, clips_per_video)
    if count:
      self.stats.add("ok" if starts else "skipped_too_short", path)
    return [(preprocessing.take_window(video, s, num_frames, frame_stride), label) for s in starts]

  def iter_clips(self,
                 spec: preprocessing.ClipSpec,
                 clips_per_video: int = 1,
                 repeat: Optional[bool] = None) -> Iterator[Tuple[np.ndarray, int]]:
    """Yields (clip [spec.num_frames, h, w, 3] uint8 with min(h, w) == spec.image_size, label int).

    Training (`spec.training`): files are reshuffled every epoch (seeded by (seed, epoch)) and windows are
    random; repeats forever unless `repeat=False`. Evaluation: one pass in sorted file order, deterministic
    windows. `spec.split` and `spec.data_dir` are not read (the source's folder is fixed).
    """
    num_frames, frame_stride, training, seed = spec.num_frames, spec.frame_stride, spec.training, spec.seed
    image_size, shard_index, num_shards = spec.image_size, spec.shard_index, spec.num_shards
    repeat = training if repeat is None else repeat
    items = list(zip(self.paths, self.labels))[shard_index::num_shards]
    if not items:
      raise ValueError(f"Shard {shard_index} of {num_shards} has no video: use fewer input pipelines or add "
                       f"videos to --data_dir={self.data_dir!r}.")
    epoch = 0
    with concurrent.futures.ThreadPoolExecutor(self.num_decode_threads) as pool:
      while True:
        rng = np.random.default_rng([seed, shard_index, epoch])
        order = rng.permutation(len(items)) if training else np.arange(len(items))
        pending = collections.deque()
        # Bounded look-ahead keeps at most ~2 decoded videos per thread in memory; results stay in order.
        for i in order:
          path, label = items[i]
          clip_rng = np.random.default_rng([seed, shard_index, epoch, int(i)])
          pending.append(
              pool.submit(self._decode_clips, path, label, num_frames, frame_stride, training, clip_rng,
                          clips_per_video, image_size, self._first_visit(path)))
          if len(pending) >= 2 * self.num_decode_threads:
            yield from pending.popleft().result()
        while pending:
          yield from pending.popleft().result()
        if not self._reported:
          self._reported = True
          self.stats.log_summary(f"video_folder {self.data_dir!r}")
        epoch += 1
        if not repeat:
          return

  def clips(self,
            spec: preprocessing.ClipSpec,
            clips_per_video: int = 1,
            repeat: Optional[bool] = None) -> tf.data.Dataset:
    """Unbatched {"video": [num_frames, image_size, image_size, 3] float32 in [-1, 1], "label": int32}, as
    `iter_clips` yields them, cropped and scaled (appendix C)."""
    ds = tf.data.Dataset.from_generator(lambda: self.iter_clips(spec, clips_per_video, repeat),
                                        output_signature=(tf.TensorSpec([spec.num_frames, None, None, 3],
                                                                        tf.uint8), tf.TensorSpec([], tf.int32)))
    training = spec.training
    crop_seed = spec.seed if training else None

    def _prep(video, label):
      return {"video": preprocessing.preprocess_clip(video, spec.image_size, training, crop_seed),
              "label": label}

    return ds.map(_prep, num_parallel_calls=tf.data.AUTOTUNE, deterministic=not training)


def make_clips(spec: preprocessing.ClipSpec,
               *,
               clips_per_video: int = 1,
               num_decode_threads: int = 4,
               max_frames: Optional[int] = None,
               extensions: Sequence[str] = VIDEO_EXTENSIONS,
               source: Optional[VideoFolderSource] = None) -> tf.data.Dataset:
  """Source entry point used by `make_dataset("video_folder", ...)`; `spec` holds the shared arguments
  (`preprocessing.ClipSpec`).

  `spec.split` selects `<data_dir>/<split>` when that sub-folder exists (e.g. train/, test/), else all of
  data_dir. Pass `source` (a VideoFolderSource) to read its `stats` afterwards.
  """
  if source is None:
    data_dir = spec.data_dir
    if data_dir and os.path.isdir(os.path.join(data_dir, spec.split)):
      data_dir = os.path.join(data_dir, spec.split)
    source = VideoFolderSource(data_dir, extensions, num_decode_threads, max_frames)
  return source.clips(spec, clips_per_video)
