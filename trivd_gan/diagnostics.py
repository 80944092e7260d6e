"""Where does the context's information go? Probes of a trained G and D (docs/learning.md).

A video-prediction GAN can ignore its context and still lower eq. 14: D must first learn that a future does
not belong to its context before G has any reason to read the context. Three probes say where the
information is lost, on a batch of real clips [B, Tc + Tp, H, W, 3] float32 in [-1, 1]:

  context_swap_probe   does D score a real clip above the same futures glued to other clips' contexts?
                       Frame-level sub-discriminators cannot tell (every frame is real): a built-in control.
  context_sensitivity  how much do G's predictions and recurrent states (h_0 .. h_Tp, per unit) change when
                       the context is swapped, against when z is redrawn, and against how much the real
                       futures of two clips differ? 0 = the context is ignored at that point.
  gradient_norms       do eq. 14's gradients reach the context encoder (appendix A), and how strongly?
  warp_saturation      are the warping weights (eqs. 7, 12) still distributions that depend on the clip, or
                       one-hot and the same for every clip (a saturated hyper-network: dead motion fields)?
  ink_motion           on bright objects over a dark background (Moving MNIST), does the first predicted
                       step's motion field on the objects follow how they moved at the end of the context?
  ink_mass             how much bright "ink" each predicted frame holds: beside the real frames' ink, it
                       tells a prediction that keeps its digits from one that fades or squeezes them.

Every probe runs the models with training=False: no moving statistic or spectral-norm vector changes.
"""

import numpy as np
import tensorflow as tf

from trivd_gan import losses
from trivd_gan.layers import warping
from trivd_gan.models import generator as generator_lib


def swap_futures(video, num_context, shift=1):
  """Each clip's context glued to the future of clip (b + shift) mod B.

  Args:
    video: [B, Tc + Tp, H, W, 3] real clips, B >= 2.
    num_context: Tc.

  Returns:
    [B, Tc + Tp, H, W, 3]: frames 0..Tc-1 of clip b, then frames Tc.. of clip (b + shift) mod B.
  """
  video = tf.convert_to_tensor(video)
  if video.shape.rank != 5 or video.shape[0] is None or video.shape[0] < 2:
    raise ValueError(f"swap_futures needs a batch of >= 2 clips [B, T, H, W, 3], got shape {video.shape}.")
  if not 0 < num_context < video.shape[1]:
    raise ValueError(f"num_context must be in [1, {video.shape[1] - 1}], got {num_context}.")
  future = tf.roll(video[:, num_context:], shift=-shift, axis=0)
  return tf.concat([video[:, :num_context], future], axis=1)


def per_clip_scores(outputs):
  """{name: logits} -> {name: [B] float32}: each clip's own score.

  Projection heads give [B]. The mixed projection head (eq. 15) gives o_{b,b',t} = r_x^{b,t} +
  sum_t' r_xy^{b',t'} [B, B, T]; averaging over b' would add a batch-wide constant to every clip (then the
  scores of two batches differ by a shift that has nothing to do with each clip), so a clip's score is its own
  diagonal, the mean over t of o_{b,b,t}. Other shapes: the mean over all but the first axis.
  """
  out = {}
  for name, logits in outputs.items():
    logits = tf.cast(logits, tf.float32)
    if logits.shape.rank == 3 and logits.shape[0] == logits.shape[1]:
      logits = tf.linalg.diag_part(tf.transpose(logits, [2, 0, 1]))  # [T, B]: o_{b,b,t}
      logits = tf.transpose(logits)
    out[name] = tf.reduce_mean(tf.reshape(logits, [tf.shape(logits)[0], -1]), axis=1)
  return out


def context_swap_probe(discriminator, video, num_context, seed=0, labels=None):
  """D on real clips against the same clips with swapped futures (same views: same seed).

  Args:
    discriminator: a `decompositions.DiscriminatorEnsemble`.
    video: [B, Tc + Tp, H, W, 3] float32 in [-1, 1], B >= 2 real clips.
    num_context: Tc.
    seed: the views' stateless seed (frames sampled, crops), shared by both passes.

  Returns:
    {sub-discriminator: {"real": mean score, "swapped": mean score, "margin": real - swapped,
    "accuracy": fraction of clips scored above their swapped version}} (Python floats). Accuracy 0.5 means D
    cannot tell a future from another clip's: eq. 14 then gives G no reason to use its context.
  """
  real = per_clip_scores(discriminator(video, labels, training=False, seed=seed))
  swapped = per_clip_scores(discriminator(swap_futures(video, num_context), labels, training=False, seed=seed))
  out = {}
  for name in real:
    r, s = real[name].numpy(), swapped[name].numpy()
    margin = float((r - s).mean())
    out[name] = {"real": float(r.mean()), "swapped": float(s.mean()), "margin": margin,
                 "margin_in_std": margin / max(float(r.std()), 1e-12),
                 "accuracy": float(np.mean(r > s) + 0.5 * np.mean(r == s))}
  return out


def _mean_abs_per_step(a, b):
  """[B, T, ...] x2 -> [T] mean |a - b| over everything but time."""
  diff = tf.abs(tf.cast(a, tf.float32) - tf.cast(b, tf.float32))
  return tf.reduce_mean(tf.reshape(tf.transpose(diff, [1, 0] + list(range(2, diff.shape.rank))),
                                   [diff.shape[1], -1]), axis=1).numpy()


def context_sensitivity(generator, video, seed=0):
  """How much G's predictions and states depend on the context, against z and against real variation.

  Three generations share everything but one input: (context_b, z_b), (context_{b+1}, z_b) and
  (context_b, z'_b).

  Args:
    generator: a built `Generator`.
    video: [B, Tc + Tp, H, W, 3] float32 in [-1, 1], B >= 2 real clips.
    seed: seed of z and z'.

  Returns:
    dict of lists (Python floats), one value per predicted frame (frames) or per time step 0..Tp (states):
      "real_future_difference" [Tp]: mean |x_b - x_{b+1}| of the real future frames (the scale to match);
      "frames_context" [Tp], "frames_z" [Tp]: mean |G change| when the context is swapped / z redrawn;
      "frames_context_ratio" [Tp]: frames_context / real_future_difference (about 1 when G's predictions
        differ between clips as much as the real futures do; 0 when the context is ignored);
      "states_context" / "states_z": per recurrent unit (coarse to fine), [1 + Tp] relative changes
        mean |h - h'| / mean |h| of h_0 (the encoder's state) .. h_Tp.
  """
  video = tf.convert_to_tensor(video, tf.float32)
  tc = generator.num_context_frames
  context, future = video[:, :tc], video[:, tc:]
  batch = int(video.shape[0])
  if batch < 2:
    raise ValueError(f"context_sensitivity needs >= 2 clips, got {batch}.")
  z = generator_lib.sample_latents(batch, generator.latent_dim, seed=tf.constant([seed, 0], tf.int64))
  z_other = generator_lib.sample_latents(batch, generator.latent_dim, seed=tf.constant([seed, 1], tf.int64))
  frames, _, states = generator.generate_with_states(context, z, training=False)
  frames_c, _, states_c = generator.generate_with_states(tf.roll(context, -1, axis=0), z, training=False)
  frames_z, _, states_z = generator.generate_with_states(context, z_other, training=False)
  real = _mean_abs_per_step(future, tf.roll(future, -1, axis=0))
  by_context = _mean_abs_per_step(frames, frames_c)

  def relative(a, b):
    scale = _mean_abs_per_step(a, tf.zeros_like(a))
    return [float(x) for x in _mean_abs_per_step(a, b) / np.maximum(scale, 1e-12)]

  return {"real_future_difference": [float(x) for x in real],
          "frames_context": [float(x) for x in by_context],
          "frames_z": [float(x) for x in _mean_abs_per_step(frames, frames_z)],
          "frames_context_ratio": [float(x) for x in by_context / np.maximum(real, 1e-12)],
          "states_context": [relative(s, sc) for s, sc in zip(states, states_c)],
          "states_z": [relative(s, sz) for s, sz in zip(states, states_z)]}


def gradient_norms(generator, discriminator, video, seed=0, reconstruction_weight=0.0):
  """Norms of G's loss gradient on the context encoder and on the rest of G.

  The loss is eq. 14 on G's predictions glued to their real contexts (+ `reconstruction_weight` x L1, as
  `train.reconstruction_weight`), with both models at training=False (nothing is updated).

  Returns:
    {"encoder": ||grad||, "rest": ||grad||, "encoder_relative": ||grad|| / ||weights|| of the encoder,
    "rest_relative": the same for the rest of G} (Python floats). An encoder gradient of 0 means no
    gradient reaches the context.
  """
  video = tf.convert_to_tensor(video, tf.float32)
  tc = generator.num_context_frames
  context = video[:, :tc]
  z = generator_lib.sample_latents(int(video.shape[0]), generator.latent_dim,
                                   seed=tf.constant([seed, 0], tf.int64))
  variables = generator.trainable_variables
  with tf.GradientTape() as tape:
    fake = generator(context, z, training=False)
    loss, _ = losses.generator_step_loss(discriminator, tf.concat([context, fake], axis=1), seed=seed,
                                         training=False)
    if reconstruction_weight:
      loss += reconstruction_weight * losses.reconstruction_loss(video[:, tc:], fake)
  grads = tape.gradient(loss, variables)
  parts = {"encoder": [], "rest": []}
  for variable, grad in zip(variables, grads):
    part = "encoder" if "encoder" in variable.path.split("/") else "rest"
    parts[part].append((variable, tf.zeros_like(variable) if grad is None else grad))
  out = {}
  for part, pairs in parts.items():
    grad_norm = float(tf.linalg.global_norm([g for _, g in pairs])) if pairs else 0.0
    weight_norm = float(tf.linalg.global_norm([tf.convert_to_tensor(v) for v, _ in pairs])) if pairs else 0.0
    out[part] = grad_norm
    out[f"{part}_relative"] = grad_norm / max(weight_norm, 1e-12)
  return out


def warp_saturation(generator, context, seed=0):
  """How peaked and how clip-dependent the warping weights W of each recurrent level are (section 4.4).

  A hyper-network whose softmax logits grow large outputs one-hot W: the expected flow is then an integer
  offset, its gradient vanishes, and if it is also the same for every clip the motion fields carry nothing
  of the context (docs/learning.md experiment 10).

  Args:
    generator: a built `Generator` (a recurrent unit that does not warp gives None per level).
    context: [B, Tc, H, W, 3] float32 in [-1, 1], B >= 2.
    seed: seed of z.

  Returns:
    list, coarse to fine, of None (no warping) or dict of Python floats:
      "mean_max_weight": mean over clips, steps and positions of max_k W (1/k^2 = uniform, 1 = one-hot);
      "fraction_one_hot": fraction of positions with max_k W > 0.99;
      "mean_flow_norm": mean |expected flow| in pixels of the level;
      "clip_spread": std over clips of each clip's mean flow (norm of the (dy, dx) std), divided by the norm
        of the mean flow over all clips (0 = every clip gets the same mean field).
  """
  context = tf.convert_to_tensor(context, tf.float32)
  batch = int(context.shape[0])
  if batch < 2:
    raise ValueError(f"warp_saturation needs >= 2 clips to compare them, got {batch}.")
  z = generator_lib.sample_latents(batch, generator.latent_dim, seed=tf.constant([seed, 0], tf.int64))
  _, warp_weights = generator.generate(context, z, training=False)
  report = []
  for unit, weights in zip(generator.units, warp_weights):
    if weights is None:
      report.append(None)
      continue
    weights = tf.cast(weights, tf.float32)
    peak = tf.reduce_max(weights, axis=-1).numpy()
    flow = warping.expected_flow(weights, unit.warp_kernel_size).numpy()  # [B, Tp, h, w, 2]
    per_clip = flow.mean(axis=(1, 2, 3))  # [B, 2]
    overall = float(np.linalg.norm(per_clip.mean(axis=0)))
    spread = float(np.linalg.norm(per_clip.std(axis=0)))
    report.append({"mean_max_weight": float(peak.mean()),
                   "fraction_one_hot": float((peak > 0.99).mean()),
                   "mean_flow_norm": float(np.linalg.norm(flow, axis=-1).mean()),
                   "clip_spread": spread / max(overall, 1e-12)})
  return report


def _ink_centroid(frames):
  """[B, 2] (y, x) centroid of the pixels brighter than mid-grey of frames [B, H, W, 3] in [-1, 1]."""
  ink = (frames.mean(axis=-1) > 0.0).astype(np.float64)
  ys, xs = np.arange(ink.shape[1])[:, None], np.arange(ink.shape[2])[None, :]
  mass = np.maximum(ink.sum(axis=(1, 2)), 1.0)
  return np.stack([(ink * ys).sum(axis=(1, 2)) / mass, (ink * xs).sum(axis=(1, 2)) / mass], axis=-1)


def ink_motion(fields, video, num_context):
  """Does the motion field follow the objects? For bright objects on a dark background (Moving MNIST).

  Each clip's field is averaged over the object pixels (brighter than mid-grey) of the first real predicted
  frame and compared with the displacement of the object pixels' centroid between the last two context
  frames. Correlations over clips are the measure: they are blind to a constant offset shared by all clips
  (which a cosine is not), and are 0 for fields that are the same for every clip.

  Args:
    fields: [B, H, W, 2] (dy, dx) in frame pixels, G's combined motion field of predicted step 1 (section 4.4).
    video: [B, Tc + Tp, H, W, 3] real clips in [-1, 1], B >= 3.
    num_context: Tc >= 2.

  Returns:
    dict of Python floats: "correlation_dy", "correlation_dx" (Pearson over clips; 0 if either side is
    constant), "mean_field" [2] and "field_std" [2] over clips, "centroid_velocity_std" [2].
  """
  fields, video = np.asarray(fields, np.float64), np.asarray(video)
  if video.shape[0] < 3 or num_context < 2 or fields.shape != video.shape[:1] + video.shape[2:4] + (2,):
    raise ValueError(f"ink_motion needs fields [B, H, W, 2] of >= 3 clips [B, T, H, W, 3] and num_context "
                     f">= 2, got fields {fields.shape}, video {video.shape}, num_context {num_context}.")
  ink = video[:, num_context].mean(axis=-1) > 0.0  # [B, H, W]
  per_clip = np.stack([f[m].mean(axis=0) if m.any() else np.zeros(2) for f, m in zip(fields, ink)])
  velocity = _ink_centroid(video[:, num_context - 1]) - _ink_centroid(video[:, num_context - 2])

  def correlation(a, b):
    return float(np.corrcoef(a, b)[0, 1]) if a.std() > 1e-9 and b.std() > 1e-9 else 0.0

  return {"correlation_dy": correlation(per_clip[:, 0], velocity[:, 0]),
          "correlation_dx": correlation(per_clip[:, 1], velocity[:, 1]),
          "mean_field": per_clip.mean(axis=0).tolist(), "field_std": per_clip.std(axis=0).tolist(),
          "centroid_velocity_std": velocity.std(axis=0).tolist()}


def ink_mass(frames):
  """[T] float64: the ink of each frame, summed over the batch: sum over b, y, x, c of (frames + 1) / 2.

  frames: [B, T, H, W, C] in [-1, 1] (-1, black, holds no ink). On Moving MNIST the ratio of a prediction's
  ink to the real future's, frame by frame, is 1 for digits kept whole, below 1 when they fade, are squeezed
  into strokes or leave the frame, above 1 when G paints ink of its own (docs/learning.md experiment 12).
  """
  frames = np.asarray(frames, np.float64)
  if frames.ndim != 5:
    raise ValueError(f"ink_mass needs frames [B, T, H, W, C], got shape {frames.shape}.")
  return ((np.clip(frames, -1.0, 1.0) + 1.0) / 2.0).sum(axis=(0, 2, 3, 4))


def copy_mask_on_content(mask, pixels, moved, real_future):
  """Where a "warp_chain" prediction fades: its copy mask on the moved content (docs/learning.md experiment 15).

  Args (NumPy, `Generator.warp_chain_parts` over a batch, and the real future): mask [B, Tp, H, W, 1] in (0, 1);
    pixels [B, Tp, H, W, 3] and moved [B, Tp, H, W, 3] in [-1, 1], G's pixels and the last context frame moved
    by the chain of fields alone (m = 1); real_future [B, Tp, H, W, C] in [-1, 1].

  Returns:
    {per predicted frame, over the batch: "mask_on_content": mean m where the moved frame has content (its
    channel mean > 0: brighter than mid grey), "mask_elsewhere": mean m on the rest, "pixels_on_content": mean
    of G's pixels (channel mean) on that content, "moved_ink": the moved frames' ink over the real future's
    (`ink_mass`: what the warps alone keep)}. Each step's frame is m * warp(previous) + (1 - m) * pixels, so
    m < 1 on the content with dark pixels fades it by (1 - m) a step.
  """
  mask, pixels, moved = (np.asarray(a, np.float64) for a in (mask, pixels, moved))
  if mask.ndim != 5 or mask.shape[-1] != 1 or pixels.shape != moved.shape or mask.shape[:4] != moved.shape[:4]:
    raise ValueError(f"copy_mask_on_content needs mask [B, Tp, H, W, 1] and pixels, moved [B, Tp, H, W, 3] of "
                     f"the same B, Tp, H, W; got {mask.shape}, {pixels.shape}, {moved.shape}.")
  on = moved.mean(axis=-1) > 0.0  # [B, Tp, H, W]
  m, p = mask[..., 0], pixels.mean(axis=-1)

  def mean_where(values, where):
    counts = where.sum(axis=(0, 2, 3))
    return ((values * where).sum(axis=(0, 2, 3)) / np.maximum(counts, 1)).tolist()

  return {"mask_on_content": mean_where(m, on), "mask_elsewhere": mean_where(m, ~on),
          "pixels_on_content": mean_where(p, on),
          "moved_ink": (ink_mass(moved) / np.maximum(ink_mass(real_future), 1e-9)).tolist()}
