"""Discriminator decompositions of paper section 3.1 / Table 1: views of a video and their sub-discriminators.

A video is [B, T, H, W, 3] float32 in [-1, 1] (T = 16 on Kinetics: 5 context + 11 predicted frames, or a
real clip). Its views (names as in Table 1, with s the downsampling factor, K the number of sampled frames):

  view name            Table 1  tensor                 content
  "frame"              F        [B, K, H, W, 3]        K frames sampled at random per sample, full resolution
  "frame_downsampled"  dF       [B, K, H/s, W/s, 3]    the same K frames, s x s average-pooled
  "clip"               clV      [B, T, H, W, 3]        the whole clip, full resolution
  "video_downsampled"  dV       [B, T, H/s, W/s, 3]    the whole clip, s x s average-pooled
  "video_cropped"      crV      [B, T, H/s, W/s, 3]    a T x H/s x W/s crop at a random position per sample

Frame views are judged by `FrameDiscriminator`s, video views by `VideoDiscriminator`s; every
sub-discriminator has its own weights and is named after its view. The nine decompositions of Table 1:

  clip                 clV                 mocogan_like_k1      F (K = 1) + clV
  downsampled          dV                  mocogan_like_k8      F + clV
  cropped              crV                 dvd_gan_fp           F + dV
  cropped_downsampled  crV + dV            dvd_gan_fp_faster    dF + crV
                                           dvd_gan_fp_stronger  dF + crV + dV  (TrIVD-GAN-FP)

Randomness (frame sampling and crop positions) is explicit and stateless: every random view takes a seed,
an int32/int64 tensor of shape [2] as used by `tf.random.stateless_*`. Each sample of the batch gets an
independent draw: K distinct frames (sorted in time) and an independent crop offset (any pixel position,
uniform). `DiscriminatorEnsemble.call` accepts `seed` as such a tensor, a Python int, or a
`tf.random.Generator` (one seed is drawn from it); with seed=None a fresh non-reproducible seed is drawn
with `tf.random.uniform`. Recommendation for trainers: draw one seed per D step from the trainer's
generator (every sample, real or generated, draws its own frames and crops from it, as the paper's D_S
"randomly samples K frames" for each input; `losses.discriminator_step_loss` passes real and generated videos
as one batch), and under tf.distribute fold the replica id into the seed
(`tf.random.experimental.stateless_fold_in(seed, replica_id)`) so that replicas draw different frames/crops.
"""

from typing import NamedTuple, Optional

import keras
import tensorflow as tf

from trivd_gan.models import discriminators
from trivd_gan.models import seeds

class View(NamedTuple):
  """What a view takes from a [B, T, H, W, 3] video (one row of the table below).

  kind: "frame": K frames sampled at random per sample, judged by a `FrameDiscriminator`; "video": all T frames,
    judged by a `VideoDiscriminator`.
  downsample: s x s average pooling to H/s x W/s.
  crop: a random H/s x W/s crop (at full resolution).
  """
  kind: str
  downsample: bool
  crop: bool


# The five views of Table 1, by name; `view_shape`, `make_views` and `DiscriminatorEnsemble` read only this.
VIEW_TABLE = {
    "frame": View("frame", downsample=False, crop=False),               # F
    "frame_downsampled": View("frame", downsample=True, crop=False),    # dF
    "clip": View("video", downsample=False, crop=False),                # clV
    "video_downsampled": View("video", downsample=True, crop=False),    # dV
    "video_cropped": View("video", downsample=False, crop=True),        # crV
}
VIEWS = tuple(VIEW_TABLE)
FRAME_VIEWS = tuple(name for name, view in VIEW_TABLE.items() if view.kind == "frame")
VIDEO_VIEWS = tuple(name for name, view in VIEW_TABLE.items() if view.kind == "video")


class Decomposition(NamedTuple):
  """A row of Table 1: the views judged (one sub-discriminator each) and K if the decomposition fixes it."""
  views: tuple
  k: Optional[int] = None  # None: the ensemble's num_frames_K


DECOMPOSITION_TABLE = {
    "clip": Decomposition(("clip",)),
    "downsampled": Decomposition(("video_downsampled",)),
    "cropped": Decomposition(("video_cropped",)),
    "cropped_downsampled": Decomposition(("video_cropped", "video_downsampled")),
    "mocogan_like_k1": Decomposition(("frame", "clip"), k=1),  # MoCoGAN's single frame
    "mocogan_like_k8": Decomposition(("frame", "clip")),
    "dvd_gan_fp": Decomposition(("frame", "video_downsampled")),
    "dvd_gan_fp_faster": Decomposition(("frame_downsampled", "video_cropped")),
    "dvd_gan_fp_stronger": Decomposition(("frame_downsampled", "video_cropped", "video_downsampled")),
}
DECOMPOSITIONS = tuple(DECOMPOSITION_TABLE)


def _decomposition(name):
  if name not in DECOMPOSITION_TABLE:
    raise ValueError(f"Unknown discriminator decomposition {name!r}; allowed: {DECOMPOSITIONS}.")
  return DECOMPOSITION_TABLE[name]


def _view(name):
  if name not in VIEW_TABLE:
    raise ValueError(f"Unknown view {name!r}; allowed: {VIEWS}.")
  return VIEW_TABLE[name]


def sub_discriminator_names(decomposition):
  """The view / sub-discriminator names of `decomposition`, e.g. ("frame", "video_downsampled")."""
  return _decomposition(decomposition).views


def num_sampled_frames(decomposition, k=8):
  """K actually used by `decomposition`: its fixed K if it has one (1 for mocogan_like_k1), else k."""
  fixed = _decomposition(decomposition).k
  return int(k) if fixed is None else fixed


def view_shape(view, num_frames, height, width, k=8, s=2):
  """(frames, height, width) of `view` for a [B, num_frames, height, width, 3] video."""
  v = _view(view)
  frames = k if v.kind == "frame" else num_frames
  if v.downsample or v.crop:
    return (frames, height // s, width // s)
  return (frames, height, width)


def check_config(decomposition, num_frames, height, width, k=8, s=2):
  """Raises ValueError if `decomposition` cannot be applied to [B, num_frames, height, width, 3] videos."""
  names = sub_discriminator_names(decomposition)
  k = num_sampled_frames(decomposition, k)
  if any(v in FRAME_VIEWS for v in names) and not 1 <= k <= num_frames:
    raise ValueError(f"num_frames_K={k} sampled frames is not allowed for videos of {num_frames} frames: "
                     f"K must be in [1, {num_frames}].")
  uses_s = any(VIEW_TABLE[v].downsample or VIEW_TABLE[v].crop for v in names)
  if uses_s:
    if s < 1:
      raise ValueError(f"downsample_factor must be a positive integer, got {s}.")
    if height % s or width % s:
      raise ValueError(f"downsample_factor={s} must divide the frame height and width ({height}x{width}); "
                       f"allowed factors divide both.")
  for view in names:
    _, h, w = view_shape(view, num_frames, height, width, k, s)
    discriminators.check_spatial_size(h, w, f"{view!r} view of decomposition {decomposition!r} (video "
                                            f"{height}x{width}, downsample_factor={s})")


def pixels_per_video(decomposition, num_frames, height, width, k=8, s=2):
  """Number of pixels the sub-discriminators of `decomposition` process per video (section 3.1).

  E.g. dvd_gan_fp: K*H*W + T*(H/s)*(W/s); dvd_gan_fp_faster: (K + T)*(H/s)*(W/s).
  """
  check_config(decomposition, num_frames, height, width, k, s)
  k = num_sampled_frames(decomposition, k)
  total = 0
  for view in sub_discriminator_names(decomposition):
    t, h, w = view_shape(view, num_frames, height, width, k, s)
    total += t * h * w
  return total


def downsample(video, s):
  """[B, T, H, W, C] -> [B, T, H/s, W/s, C] by s x s average pooling (s must divide H and W)."""
  if s == 1:
    return video
  return tf.nn.avg_pool3d(video, (1, 1, s, s, 1), (1, 1, s, s, 1), "VALID")


def sample_frames(video, k, seed):
  """K distinct frames per sample, independently per sample, in temporal order.

  Args:
    video: [B, T, H, W, C].
    k: int in [1, T].
    seed: [2] stateless seed.

  Returns:
    (frames [B, K, H, W, C], indices [B, K] int32, sorted increasingly).
  """
  num_frames = video.shape[1]
  if not 1 <= k <= num_frames:
    raise ValueError(f"Cannot sample K={k} distinct frames from {num_frames}; K must be in [1, {num_frames}].")
  scores = tf.random.stateless_uniform([tf.shape(video)[0], num_frames], seed=seed)
  indices = tf.sort(tf.math.top_k(scores, k=k).indices, axis=1)
  return tf.gather(video, indices, axis=1, batch_dims=1), indices


def random_crop(video, crop_height, crop_width, seed):
  """A [B, T, crop_height, crop_width, C] crop at an independent uniform random position per sample.

  Returns (crops, offsets [B, 2] int32 (top, left)).
  """
  height, width = video.shape[2], video.shape[3]
  if crop_height > height or crop_width > width:
    raise ValueError(f"Crop {crop_height}x{crop_width} is larger than the video ({height}x{width}); "
                     "crops must fit inside the frames.")
  batch_size = tf.shape(video)[0]
  seed_y, seed_x = tf.unstack(seeds.split_seed(seed, 2))
  top = tf.random.stateless_uniform([batch_size], seed_y, minval=0, maxval=height - crop_height + 1,
                                    dtype=tf.int32)
  left = tf.random.stateless_uniform([batch_size], seed_x, minval=0, maxval=width - crop_width + 1,
                                     dtype=tf.int32)
  rows = top[:, None] + tf.range(crop_height)[None, :]  # [B, h]
  cols = left[:, None] + tf.range(crop_width)[None, :]  # [B, w]
  crops = tf.gather(video, rows, axis=2, batch_dims=1)
  crops = tf.gather(crops, cols, axis=3, batch_dims=1)
  return crops, tf.stack([top, left], axis=1)


def make_views(video, decomposition, k=8, s=2, seed=None):
  """The views {name: tensor} that `decomposition`'s sub-discriminators judge (see the module docstring).

  Args:
    video: [B, T, H, W, C] float.
    decomposition: one of DECOMPOSITIONS.
    k: number of sampled frames (forced to 1 for mocogan_like_k1).
    s: downsampling factor (crops are T x H/s x W/s).
    seed: see `seeds.to_seed`. dF uses the same frames F would.
  """
  _, num_frames, height, width, _ = video.shape
  check_config(decomposition, num_frames, height, width, k, s)
  k = num_sampled_frames(decomposition, k)
  frame_seed, crop_seed = tf.unstack(seeds.split_seed(seed, 2))
  views = {}
  for name in sub_discriminator_names(decomposition):
    view = VIEW_TABLE[name]
    # Frame views share one draw of frames (dF pools the frames F would judge).
    x = sample_frames(video, k, frame_seed)[0] if view.kind == "frame" else video
    if view.crop:
      x = random_crop(x, height // s, width // s, crop_seed)[0]
    if view.downsample:
      x = downsample(x, s)
    views[name] = x
  return views


@keras.saving.register_keras_serializable(package="trivd_gan")
class DiscriminatorEnsemble(keras.layers.Layer):
  """All sub-discriminators of one decomposition (Table 1), each with its own weights.

  call(video [B, T, H, W, 3] float in [-1, 1], labels [B] int or None, training, seed) returns
  {view name: logits}, logits [B, B, T_view] for the mixed projection head (T_view = K for frame views, T for
  video views, divided by 4 with temporal_downsample) or [B] for the projection head.
  Real and generated batches are judged by separate calls (the mixed projection pairs samples of one batch).
  """

  # The defaults are TrIVD-GAN-FP's (Sec. 3.1, 4.1) and, through configurables.py, gin's.
  def __init__(self, decomposition="dvd_gan_fp_stronger", channel_multiplier=48, num_frames_K=8,
               downsample_factor=2, head="mixed_projection", num_classes=0, temporal_downsample=False,
               **kwargs):
    super().__init__(**kwargs)
    self.sub_discriminator_names = sub_discriminator_names(decomposition)
    if head not in discriminators.HEADS:
      raise ValueError(f"Unknown head {head!r}; allowed: {discriminators.HEADS}.")
    if int(downsample_factor) < 1:
      raise ValueError(f"downsample_factor must be a positive integer, got {downsample_factor}.")
    if int(num_frames_K) < 1:
      raise ValueError(f"num_frames_K must be >= 1, got {num_frames_K}.")
    self.decomposition = decomposition
    self.channel_multiplier = int(channel_multiplier)
    self.num_frames_K = int(num_frames_K)
    self.downsample_factor = int(downsample_factor)
    self.head = head
    self.num_classes = int(num_classes)
    self.temporal_downsample = bool(temporal_downsample)
    self.sub_discriminators = []
    for view in self.sub_discriminator_names:
      if VIEW_TABLE[view].kind == "frame":
        d = discriminators.FrameDiscriminator(self.channel_multiplier, head=head, num_classes=num_classes,
                                              name=view)
      else:
        d = discriminators.VideoDiscriminator(self.channel_multiplier, temporal_downsample=temporal_downsample,
                                              head=head, num_classes=num_classes, name=view)
      self.sub_discriminators.append(d)

  @property
  def k(self):
    return num_sampled_frames(self.decomposition, self.num_frames_K)

  def build(self, video_shape):
    if len(video_shape) != 5:
      raise ValueError(f"Videos must be [B, T, H, W, C], got shape {video_shape}.")
    _, t, h, w, c = video_shape
    check_config(self.decomposition, t, h, w, self.num_frames_K, self.downsample_factor)
    for view, d in zip(self.sub_discriminator_names, self.sub_discriminators):
      d.build((None, *view_shape(view, t, h, w, self.k, self.downsample_factor), c))

  def call(self, video, labels=None, training=False, seed=None, groups=1):
    """`groups` = G: the batch is G batches stacked, scored apart by the mixed projection head (eq. 15)."""
    views = make_views(video, self.decomposition, self.num_frames_K, self.downsample_factor, seed)
    return {view: d(views[view], labels, training=training, groups=groups)
            for view, d in zip(self.sub_discriminator_names, self.sub_discriminators)}

  def get_config(self):
    return {**super().get_config(), "decomposition": self.decomposition,
            "channel_multiplier": self.channel_multiplier, "num_frames_K": self.num_frames_K,
            "downsample_factor": self.downsample_factor, "head": self.head, "num_classes": self.num_classes,
            "temporal_downsample": self.temporal_downsample}
