"""The one entry point the trainer and evaluator call: `make_dataset` (re-exported by `trivd_gan.data`).

Every source yields clips preprocessed as in paper Sec. 4.1 / App. E.2; `make_dataset` adds per-worker sharding,
shuffling, batching and prefetching. Use it with `strategy.distribute_datasets_from_function`:

  strategy.distribute_datasets_from_function(
      lambda ctx: make_dataset("kinetics600", "train", data_dir, batch_size=512, input_context=ctx))

`batch_size` is then the global batch size; each input pipeline reads its own shard (by `input_pipeline_id`)
and batches `input_context.get_per_replica_batch_size(batch_size)` clips.
"""

import atexit
import gc
import os
from typing import Optional

from absl import logging
import tensorflow as tf

from trivd_gan import compat
from trivd_gan.data import kinetics
from trivd_gan.data import moving_mnist
from trivd_gan.data import natural
from trivd_gan.data import preprocessing
from trivd_gan.data import synthetic
from trivd_gan.data import tfds_sources
from trivd_gan.data import video_folder



def release_iterators():
  """Destroys every tf.data iterator still alive, while Python can still run (registered with atexit).

  An iterator destroyed during interpreter shutdown waits forever in its destructor for an in-flight call into
  Python (video_folder's decoding generator, the numpy_function sources): such a call cannot take the GIL back
  once finalization has begun, so a program that ends with a live iterator logs its last line and hangs.
  Destroyed here instead, the iterator waits for those calls and they finish. Programs should still drop their
  iterators before they exit (`trainer.Trainer.close`); this catches the ones they keep (a module global, a
  suspended generator, a traceback). Iterators are unusable afterwards.

  No collection before the scan: `gc.get_objects` also lists unreachable objects not yet collected, and a
  collection of a trained program's heap (~500k objects) took ~0.4 s at every exit (docs/benchmarks.md).
  """
  released = 0
  for obj in gc.get_objects():
    try:  # isinstance may touch a proxy's __class__ (lazy modules): nothing may fail at exit
      if compat.release_iterator(obj):  # the resource's last reference: its destructor runs now
        released += 1
    except Exception:  # pylint: disable=broad-except
      continue
  if released:
    gc.collect()  # a released resource in a reference cycle: its destructor runs now, not at shutdown
    logging.debug("Released %d tf.data iterator(s) at exit.", released)


atexit.register(release_iterators)

# Name -> the source's make_clips(spec: preprocessing.ClipSpec, *, <its own options>) -> unbatched clip dicts.
SOURCES = {
    "synthetic": synthetic.make_clips,
    "moving_mnist": moving_mnist.make_clips,
    "natural": natural.make_clips,
    "video_folder": video_folder.make_clips,
    "kinetics600": kinetics.make_clips,
    "ucf101": tfds_sources.make_ucf101_clips,
    "bair": tfds_sources.make_bair_clips,
}
# Training shuffle buffers (clips). Generated sources are i.i.d. already; a large buffer over decoded videos
# would delay the first batch by many decodes, and file order is reshuffled every epoch anyway.
DEFAULT_SHUFFLE_BUFFER = {
    "synthetic": 0,
    "moving_mnist": 0,
    "natural": 0,
    "video_folder": 16,
    "kinetics600": 256,
    "ucf101": 256,
    "bair": 256
}


def make_dataset(name: str = "synthetic",
                 split: str = "train",
                 data_dir: Optional[str] = None,
                 batch_size: int = 16,
                 num_frames: int = 16,
                 frame_stride: int = 1,
                 image_size: int = preprocessing.IMAGE_SIZE,
                 training: Optional[bool] = None,
                 seed: int = 0,
                 input_context: Optional[tf.distribute.InputContext] = None,
                 shuffle_buffer: Optional[int] = None,
                 drop_remainder: Optional[bool] = None,
                 **source_kwargs) -> tf.data.Dataset:
  """Batched clips for training or evaluation.

  split, data_dir, num_frames, frame_stride, image_size, training, seed and the shard of `input_context` become
  a `preprocessing.ClipSpec`; the source is called as `SOURCES[name](spec, **source_kwargs)`.

  Args:
    name: one of SOURCES: "synthetic" (default, no files), "moving_mnist", "natural", "video_folder",
      "kinetics600",
      "ucf101", "bair".
    split: "train" or an evaluation split ("test", "validation"; sources document what they accept).
    data_dir: the source's folder (`--data_dir`); unused by "synthetic".
    batch_size: global batch size (per replica when input_context is None).
    num_frames: frames per clip: 16 = 5 context + 11 predicted (Kinetics) or 1 + 15 (BAIR) (Sec. 4.1, App. C.1).
    frame_stride: take every `frame_stride`-th frame.
    image_size: output side (64 in the paper).
    training: random windows and crops, shuffling, infinite repetition, drop_remainder; defaults to
      split == "train". False gives a finite, deterministic dataset (same clips in the same order every time).
    seed: seeds file order, windows, crops and synthetic content.
    input_context: from `distribute_datasets_from_function`; shards by input_pipeline_id.
    shuffle_buffer: clips in the training shuffle buffer (None: DEFAULT_SHUFFLE_BUFFER[name]; 0: no shuffle).
    drop_remainder: defaults to `training`.
    **source_kwargs: the source's own keyword-only options (e.g. mode="global_translation", balanced=True).
  Returns:
    Dataset of {"video": [B, num_frames, image_size, image_size, 3] float32 in [-1, 1], "label": [B] int32}.
    Labels: the class index for labelled sources (Kinetics, UCF-101, class sub-folders of video_folder); 0 for
    sources without classes (synthetic, moving_mnist, bair, flat video folders; the dummy class of App. A);
    -1 for a Kinetics video whose CSV row has no label. The synthetic source can add motion ground truth.
  """
  if name not in SOURCES:
    raise ValueError(f"Unknown data set {name!r}; choose one of {sorted(SOURCES)}.")
  if batch_size < 1:
    raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
  if training is None:
    training = split == "train"
  if drop_remainder is None:
    drop_remainder = training
  shard_index, num_shards, per_replica = 0, 1, batch_size
  if input_context is not None:
    shard_index, num_shards = input_context.input_pipeline_id, input_context.num_input_pipelines
    per_replica = input_context.get_per_replica_batch_size(batch_size)
  # Different pipelines must not draw the same random windows/crops.
  seed = int(seed) + 7919 * shard_index if training else int(seed)
  spec = preprocessing.ClipSpec(split=split,
                                data_dir=data_dir,
                                num_frames=num_frames,
                                frame_stride=frame_stride,
                                image_size=image_size,
                                training=training,
                                seed=seed,
                                shard_index=shard_index,
                                num_shards=num_shards)
  ds = SOURCES[name](spec, **source_kwargs)
  if shuffle_buffer is None:
    shuffle_buffer = DEFAULT_SHUFFLE_BUFFER[name]
  if training and shuffle_buffer > 1:
    ds = ds.shuffle(shuffle_buffer, seed=seed)
  ds = ds.batch(per_replica,
                drop_remainder=drop_remainder,
                num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=not training)
  options = tf.data.Options()
  options.deterministic = not training
  # Its own threads, not TensorFlow's intra-op pool, which `train.intra_op_threads = 1` (the demo) shrinks to
  # one thread.
  options.threading.private_threadpool_size = os.cpu_count() or 1
  # No autotuning thread: destroying an iterator waits for it, and it sometimes sleeps through the cancellation
  # until its next optimisation, whose period doubles up to 60 s. A demo then waited 36-54 s between its last
  # step and "Done". The AUTOTUNE settings above fall back to the private pool's size (map, batch) and to the
  # prefetch buffer's own growth, and steps run as fast (docs/benchmarks.md, session 24).
  options.autotune.enabled = False
  return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


# Sources that read the user's files, with what --data_dir must be. ucf101 and bair may download into a new
# folder (download=True), so their folder need not exist yet.
DATA_DIR_NEEDED = {
    "moving_mnist": "a folder of MNIST files (mnist_5k.csv.gz or train-images-idx3-ubyte.gz, t10k-...)",
    "video_folder": "a folder of video files",
    "kinetics600": "the tensorflow-datasets folder holding the built kinetics600 (trivd_gan.data.kinetics)",
    "ucf101": "the tensorflow-datasets folder holding ucf101",
    "bair": "the tensorflow-datasets folder holding bair_robot_pushing_small",
}
DATA_DIR_MUST_EXIST = ("moving_mnist", "video_folder", "kinetics600")


def check_data_dir(name: str, data_dir: Optional[str]):
  """Raises ValueError, before any model is built, if source `name` needs a --data_dir that is missing."""
  if name not in DATA_DIR_NEEDED:
    return
  if not data_dir:
    raise ValueError(f"the {name} data set needs --data_dir: {DATA_DIR_NEEDED[name]} (or bind train.data_dir "
                     "in a gin file).")
  if name in DATA_DIR_MUST_EXIST and not os.path.isdir(os.path.expanduser(data_dir)):
    raise ValueError(f"--data_dir={data_dir!r} is not a folder; the {name} data set needs "
                     f"{DATA_DIR_NEEDED[name]}.")


def synthetic_dataset(**kwargs) -> tf.data.Dataset:
  """`make_dataset("synthetic", ...)`, for gin (`train.dataset_fn = @synthetic_dataset`)."""
  return make_dataset("synthetic", **kwargs)


def moving_mnist_dataset(**kwargs) -> tf.data.Dataset:
  """`make_dataset("moving_mnist", ...)`, for gin."""
  return make_dataset("moving_mnist", **kwargs)


def natural_dataset(**kwargs) -> tf.data.Dataset:
  """`make_dataset("natural", ...)`, for gin (gin/pretrained/natural.gin): photographs filmed by a virtual
  camera, plus real videos of `data_dir` named by `natural_dataset.videos`."""
  return make_dataset("natural", **kwargs)


def video_folder_dataset(**kwargs) -> tf.data.Dataset:
  """`make_dataset("video_folder", ...)`, for gin (gin/video_folder.gin); `data_dir` is the folder of videos."""
  return make_dataset("video_folder", **kwargs)


def kinetics600_dataset(**kwargs) -> tf.data.Dataset:
  """`make_dataset("kinetics600", ...)`, for gin."""
  return make_dataset("kinetics600", **kwargs)


def ucf101_dataset(**kwargs) -> tf.data.Dataset:
  """`make_dataset("ucf101", ...)`, for gin."""
  return make_dataset("ucf101", **kwargs)


def bair_dataset(**kwargs) -> tf.data.Dataset:
  """`make_dataset("bair", ...)`, for gin; pass balanced=True for the App. C.1 split."""
  return make_dataset("bair", **kwargs)
