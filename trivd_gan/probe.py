r"""Does a trained model continue its context? Held-out scores and context probes, per checkpoint.

    python -m trivd_gan.probe --model_dir=runs/moving_mnist --dataset=moving_mnist \
        --data_dir=MNIST_DIR [--every_checkpoint] [--diagnostics] [--json=PATH] [--samples_png=PATH]
    python -m trivd_gan.probe --model=pretrained/moving_mnist --dataset=moving_mnist --data_dir=...
    python -m trivd_gan.probe --model=pretrained/natural --dataset=natural --num_clips=64 --motion
    python -m trivd_gan.probe --model=pretrained/natural --dataset=video_folder --data_dir=HELD_OUT_VIDEOS \
        --clips_per_video=4 --num_clips=12

For each checkpoint of a training run (the newest, or all with --every_checkpoint: learning curves) or for an
exported SavedModel (--model), on the first --num_clips clips of the held-out split:
  * per predicted frame PSNR, SSIM and MSE of the model (EMA generator, or raw with --weights=raw, with
    standing statistics from the training split, paper E.2; truncation --truncation), of copy-last-frame and
    of the context's mean frame (`evaluation/heldout.py`);
  * with --motion (runs or SavedModels): on clips with known motion, the cosine between each clip's mean motion
    field and its true content velocity; on Moving MNIST, `diagnostics.ink_motion` (does the first step's field
    on the digits follow how they moved?); for a run with output_mode "warp_chain" also
    `diagnostics.copy_mask_on_content` (does the copy mask keep the moved content, or fade it?);
  * with --diagnostics (training runs only; the raw G and D the run trained): `diagnostics.py`'s
    context-swap probe of D, G's context sensitivity (frames and recurrent states), the gradient norms that
    reach the context encoder and how saturated (one-hot, the same for every clip) the warping weights are.
Writes a JSON report (default model_dir/probe.json) and optionally a PNG of samples (ground truth above,
context + prediction below, for the first 4 held-out clips).
"""

import json
import os
import time

from absl import app
from absl import flags
from absl import logging

from trivd_gan import cli_setup

FLAGS = flags.FLAGS
# The key of each clip's true content velocity [2] (dy, dx) in the sources that label motion.
VELOCITY_KEYS = {"natural": "velocity", "synthetic": "background_velocity"}
INK_MOTION_DATASETS = ("moving_mnist",)  # --motion: `diagnostics.ink_motion` (no labels needed)


def define_flags():
  flags.DEFINE_string("model_dir", None, "A trivd_gan.train run folder (model_config.json + checkpoints).")
  flags.DEFINE_string("model", None, "An exported SavedModel folder (export/export_generator.py).")
  flags.DEFINE_string("dataset", None, "Data set of the held-out clips, e.g. moving_mnist, synthetic.")
  flags.DEFINE_string("data_dir", None, "The data set's folder.")
  flags.DEFINE_string("split", "test", "Held-out split.")
  flags.DEFINE_integer("num_clips", 256, "Held-out clips scored.")
  flags.DEFINE_integer("clips_per_video", None, "video_folder only: evenly spaced windows scored per video "
                       "(default: the source's 1).")
  flags.DEFINE_boolean("motion", False, "On a data set with motion labels (natural, synthetic): the cosine "
                       "between each clip's mean motion field and its true content motion.")
  flags.DEFINE_integer("batch_size", 32, "Clips per batch.")
  flags.DEFINE_float("truncation", 0.0, "z truncation: 0 = z = 0 (the mode, D.3; best for PSNR/SSIM).")
  flags.DEFINE_boolean("every_checkpoint", False, "Score every checkpoint of --model_dir (learning curves).")
  flags.DEFINE_list("steps", [], "Score only the checkpoints of these steps (e.g. 100,500,1000).")
  flags.DEFINE_boolean("diagnostics", False, "Also run the context probes (needs --model_dir).")
  flags.DEFINE_integer("standing_stats_batches", 20, "Standing-statistics passes (E.2 uses 100 of 256 clips).")
  flags.DEFINE_integer("standing_stats_batch_size", 16, "Clips per standing-statistics pass.")
  flags.DEFINE_string("json", None, "Report path (default: MODEL_DIR/probe.json or MODEL/probe.json).")
  flags.DEFINE_string("samples_png", None, "Optional PNG of samples of the last scored checkpoint.")
  flags.DEFINE_string("markdown", None, "Optional Markdown tables: per frame (last checkpoint) and per step.")
  flags.DEFINE_integer("seed", 0, "Seed of z and of the standing-statistics batches.")
  flags.DEFINE_enum("chain_pooling", None, ["window", "object", "none"], "Field pooling for --model_dir.")
  flags.DEFINE_enum("weights", "ema", ["ema", "raw"], "--model_dir: score the EMA generator (paper E.2) or the "
                    "raw one (the EMA can lag behind G early in a run).")


def check_flags(f):
  """Validates flags before TensorFlow is imported; raises ValueError saying how to fix them."""
  if (f.model_dir is None) == (f.model is None):
    raise ValueError("pass exactly one of --model_dir (a training run) and --model (an exported SavedModel).")
  if f.model_dir is not None and not os.path.isfile(os.path.join(f.model_dir, "model_config.json")):
    raise ValueError(f"--model_dir={f.model_dir} is not a trivd_gan.train run (no model_config.json).")
  if f.model is not None and not os.path.isfile(os.path.join(f.model, "saved_model.pb")):
    raise ValueError(f"--model={f.model} is not a SavedModel folder (no saved_model.pb).")
  for name, why in (("diagnostics", "the probes use the run's discriminator"),
                    ("chain_pooling", "an export keeps the pooling it was exported with")):
    if getattr(f, name) and f.model_dir is None:
      raise ValueError(f"--{name} needs --model_dir: {why}.")
  if f.motion and f.dataset not in VELOCITY_KEYS and f.dataset not in INK_MOTION_DATASETS:
    raise ValueError(f"--motion needs a data set with motion labels ({', '.join(sorted(VELOCITY_KEYS))}) or "
                     f"of bright objects on black ({', '.join(INK_MOTION_DATASETS)}), got "
                     f"--dataset={f.dataset}.")
  if f.clips_per_video is not None and f.dataset != "video_folder":
    raise ValueError("--clips_per_video applies to --dataset=video_folder only.")
  if f.clips_per_video is not None and f.clips_per_video < 1:
    raise ValueError(f"--clips_per_video must be >= 1, got {f.clips_per_video}.")
  if not f.dataset:
    raise ValueError("--dataset is required (e.g. moving_mnist with --data_dir, or synthetic).")
  for name, low in (("num_clips", 2), ("batch_size", 2), ("standing_stats_batches", 0),
                    ("standing_stats_batch_size", 1)):
    if getattr(f, name) < low:
      raise ValueError(f"--{name} must be >= {low}, got {getattr(f, name)}.")
  if f.truncation < 0:
    raise ValueError(f"--truncation must be >= 0, got {f.truncation}.")


def held_out_clips(dataset, data_dir, split, num_clips, batch_size, num_frames, image_size, with_motion=False,
                   **source_kwargs):
  """A list of [b, T, S, S, 3] float32 NumPy batches: the first num_clips clips of the held-out split.

  with_motion: also return the clips' content velocities, a list of [b, 2] (dy, dx) pixels/frame, from a source
  that labels them ("natural": `velocity`, "synthetic": `background_velocity`).
  """
  from trivd_gan import data  # pylint: disable=import-outside-toplevel
  if with_motion:
    if dataset not in VELOCITY_KEYS:
      raise ValueError(f"--motion needs a data set with motion labels ({', '.join(sorted(VELOCITY_KEYS))}), "
                       f"got {dataset!r}.")
    source_kwargs["with_motion"] = True
  ds = data.make_dataset(dataset, split=split, data_dir=data_dir, batch_size=batch_size, num_frames=num_frames,
                         image_size=image_size, training=False, **source_kwargs)
  batches, velocities, seen = [], [], 0
  iterator = iter(ds)
  try:
    for batch in iterator:
      video = batch["video"].numpy()[:num_clips - seen]
      batches.append(video)
      if with_motion:
        velocities.append(batch[VELOCITY_KEYS[dataset]].numpy()[:len(video)])
      seen += len(video)
      if seen >= num_clips:
        break
  finally:
    del iterator  # ends the tf.data iterator before the interpreter shuts down
  if seen < num_clips:
    raise ValueError(f"the {split!r} split of {dataset} has only {seen} clips; use --num_clips <= {seen}.")
  return (batches, velocities) if with_motion else batches


def source_kwargs(f):
  """The held-out source's extra arguments set by flags."""
  return {"clips_per_video": f.clips_per_video} if f.clips_per_video else {}


def motion_report(flows, velocities):
  """Per-clip agreement of mean motion fields [N, 2] with true content velocities [N, 2] (dy, dx); clips that do
  not move (velocity 0) have no direction and are left out."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  flows, velocities = np.asarray(flows, np.float64), np.asarray(velocities, np.float64)
  moving = np.linalg.norm(velocities, axis=1) > 0
  if not moving.any():
    raise ValueError("no held-out clip moves: --motion needs clips with a non-zero velocity.")
  flows, velocities = flows[moving], velocities[moving]
  cosines = np.sum(flows * velocities, axis=1) / (
      np.linalg.norm(flows, axis=1) * np.linalg.norm(velocities, axis=1) + 1e-12)
  return {"num_clips": int(moving.sum()), "mean_cosine": float(np.mean(cosines)),
          "fraction_above_0.5": float(np.mean(cosines > 0.5)), "cosines": cosines.tolist(),
          "mean_flow_dy_dx": flows.tolist(), "velocity_dy_dx": velocities.tolist()}


def _load(model_dir, prefix, **models):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from trivd_gan import inference  # pylint: disable=import-outside-toplevel
  ckpt = tf.train.Checkpoint(**{k: inference.variables_by_path(m) for k, m in models.items()})
  ckpt.restore(prefix).assert_existing_objects_matched().expect_partial()


def score(predict, batches, num_context):
  """Held-out scores of predict(context [B, Tc, S, S, 3] in [-1, 1]) -> [B, Tp, S, S, 3] in [-1, 1]."""
  from trivd_gan.evaluation import heldout  # pylint: disable=import-outside-toplevel
  scores = heldout.HeldOutScores()
  for video in batches:
    scores.update(video[:, :num_context], video[:, num_context:], predict(video[:, :num_context]))
  return scores.result()


def write_samples_png(path, video, predictions, num_context):
  """Per clip: ground truth (all frames) above, context + prediction below. video/predictions in [-1, 1]."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  from PIL import Image  # pylint: disable=import-outside-toplevel
  to_u8 = lambda x: np.clip((np.asarray(x) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
  rows = []
  for clip, prediction in zip(video, predictions):
    rows.append(np.concatenate(list(to_u8(clip)), axis=1))
    rows.append(np.concatenate(list(to_u8(clip[:num_context])) + list(to_u8(prediction)), axis=1))
    rows.append(np.full((4, rows[-1].shape[1], 3), 255, np.uint8))  # a white gap between clips
  image = np.concatenate(rows[:-1], axis=0)
  # A red column marks the first predicted frame.
  width = video.shape[3]
  image[:, num_context * width - 1:num_context * width + 1] = (255, 0, 0)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  Image.fromarray(image).save(path)


def probe_run(f):
  """The report of a training run: one entry per scored checkpoint (with --motion, the motion fields against
  the clips' motion, as `probe_saved_model`)."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from trivd_gan import diagnostics  # pylint: disable=import-outside-toplevel
  from trivd_gan import inference  # pylint: disable=import-outside-toplevel
  from trivd_gan.models import decompositions  # pylint: disable=import-outside-toplevel
  from trivd_gan.models import generator as generator_lib  # pylint: disable=import-outside-toplevel

  with open(os.path.join(f.model_dir, "model_config.json")) as fh:
    config = json.load(fh)
  prefixes = inference.list_checkpoints(f.model_dir, f.every_checkpoint, f.steps)
  g_config, d_config = config["generator"], config["discriminator"]
  g_config = inference.with_chain_pooling(g_config, f.chain_pooling, f.model_dir)
  g = generator_lib.Generator(**g_config).build_for_shapes(1)
  tc, tp, res = g_config["num_context_frames"], g_config["num_predicted_frames"], g_config["resolution"]
  labelled = f.motion and f.dataset in VELOCITY_KEYS
  clips = held_out_clips(f.dataset, f.data_dir, f.split, f.num_clips, f.batch_size, tc + tp, res,
                         with_motion=labelled, **source_kwargs(f))
  batches, velocities = clips if labelled else (clips, None)
  stand = (inference.dataset_batches(f.dataset, f.data_dir, g, f.standing_stats_batches,
                                     f.standing_stats_batch_size, f.seed)
           if f.standing_stats_batches else None)
  if f.diagnostics:
    raw_g = generator_lib.Generator(**g_config).build_for_shapes(1)
    d = decompositions.DiscriminatorEnsemble(**d_config)
    d(tf.zeros([2, tc + tp, res, res, 3]), training=False, seed=0)

  def latents(context):
    return generator_lib.sample_latents(tf.shape(context)[0], g.latent_dim, truncation=f.truncation,
                                        seed=tf.constant([f.seed, 7], tf.int64))

  @tf.function(reduce_retracing=True, autograph=False)  # the generator needs no autograph: seconds saved
  def predict_fn(context):
    """(frames [B, Tp, H, W, 3], with --motion each clip's combined motion field [B, Tp, H, W, 2] (section
    4.4), else a dummy scalar): one forward pass for both."""
    frames, warp_weights = g.generate(context, latents(context), training=False)
    flows = inference.motion_fields(g, warp_weights, tf.shape(context)[0])[0] if f.motion else tf.zeros([])
    return frames, flows

  # With --motion, a warp_chain G's copy mask on its moved content (one more forward pass per batch).
  parts_fn = (tf.function(lambda context: g.warp_chain_parts(context, latents(context), training=False),
                          reduce_retracing=True, autograph=False)
              if f.motion and g.output_mode == "warp_chain" else None)

  entries = []
  for prefix in prefixes:
    start = time.time()
    _load(f.model_dir, prefix, **{"ema_generator" if f.weights == "ema" else "generator": g})
    if stand is not None:
      inference.apply_standing_statistics(g, stand, f.standing_stats_batches)
    flows, ink = [], []  # per batch, in the order `score` sees them

    def predict(context):
      frames, fields = predict_fn(tf.constant(context))
      if f.motion:  # keep the fields and the ink only when they are scored
        flows.append(fields.numpy())
        ink.append(diagnostics.ink_mass(frames.numpy()))
      return frames

    entry = {"step": inference.checkpoint_step(prefix), "checkpoint": os.path.basename(prefix),
             "weights": f.weights, "scores": score(predict, batches, tc)}
    if f.diagnostics:
      _load(f.model_dir, prefix, generator=raw_g, discriminator=d)
      probe_video = tf.constant(batches[0][:16])
      entry["context_swap_probe"] = diagnostics.context_swap_probe(d, probe_video, tc, seed=f.seed)
      entry["context_sensitivity"] = diagnostics.context_sensitivity(raw_g, probe_video, seed=f.seed)
      entry["gradient_norms"] = diagnostics.gradient_norms(raw_g, d, probe_video, seed=f.seed)
      entry["warp_saturation"] = diagnostics.warp_saturation(raw_g, probe_video[:, :tc], seed=f.seed)
      for level, sat in enumerate(entry["warp_saturation"]):
        if sat is not None:
          logging.info("%s: warping level %d: mean max weight %.3f, %.0f%% one-hot, |flow| %.2f px, "
                       "clip spread %.3f", entry["checkpoint"], level, sat["mean_max_weight"],
                       100 * sat["fraction_one_hot"], sat["mean_flow_norm"], sat["clip_spread"])
    if f.motion:
      entry["motion"] = motion_entry(flows, batches, velocities, tc, entry["checkpoint"], ink)
      if parts_fn is not None:
        entry["motion"]["copy_mask"] = copy_mask_entry(parts_fn, batches, tc, entry["checkpoint"])
    entries.append(entry)
    m, c = entry["scores"]["model"], entry["scores"]["copy_last_frame"]
    logging.info("%s: PSNR %.2f dB (copy-last %.2f), SSIM %.3f (%.3f), MSE %.1f (%.1f)  [%.0f s]",
                 entry["checkpoint"], m["mean_psnr"], c["mean_psnr"], m["mean_ssim"], c["mean_ssim"],
                 m["mean_mse"], c["mean_mse"], time.time() - start)
  if f.samples_png:
    video = batches[0][:4]
    write_samples_png(f.samples_png, video, predict_fn(tf.constant(video[:, :tc]))[0].numpy(), tc)
  return {"model_dir": f.model_dir, "config": config, "entries": entries}


def motion_entry(flows, batches, velocities, num_context, name, ink=None):
  """The --motion report from per-batch fields [b, Tp, H, W, 2]: against the labelled velocities, or (None)
  `diagnostics.ink_motion` of the first predicted step's fields, and with `ink` (per batch, the predictions'
  `diagnostics.ink_mass`) "ink_retention": per predicted frame, the predictions' ink over the real future's."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  from trivd_gan import diagnostics  # pylint: disable=import-outside-toplevel
  if velocities is None:
    motion = diagnostics.ink_motion(np.concatenate([fl[:, 0] for fl in flows]), np.concatenate(batches),
                                    num_context)
    logging.info("%s: first-step field on the digits against their last context motion: correlation dy %.3f, "
                 "dx %.3f", name, motion["correlation_dy"], motion["correlation_dx"])
    if ink:
      real = sum(diagnostics.ink_mass(video[:, num_context:]) for video in batches)
      motion["ink_retention"] = (sum(ink) / np.maximum(real, 1e-9)).tolist()
      logging.info("%s: predicted ink / real ink per predicted frame: %s", name,
                   " ".join(f"{r:.2f}" for r in motion["ink_retention"]))
    return motion
  motion = motion_report(np.concatenate([fl.mean(axis=(1, 2, 3)) for fl in flows]), np.concatenate(velocities))
  logging.info("%s: motion fields' mean cosine with the true motion %.3f (%.0f%% of %d moving clips > 0.5)",
               name, motion["mean_cosine"], 100 * motion["fraction_above_0.5"], motion["num_clips"])
  return motion


def copy_mask_entry(parts_fn, batches, num_context, name):
  """`diagnostics.copy_mask_on_content` over all batches at once; parts_fn: context -> `warp_chain_parts`."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from trivd_gan import diagnostics  # pylint: disable=import-outside-toplevel
  parts = [[t.numpy() for t in parts_fn(tf.constant(video[:, :num_context]))] for video in batches]
  report = diagnostics.copy_mask_on_content(*(np.concatenate(part) for part in zip(*parts)),
                                            np.concatenate([video[:, num_context:] for video in batches]))
  logging.info("%s: copy mask on the moved content per predicted frame: %s; the warps alone keep %s of the "
               "ink", name, " ".join(f"{m:.2f}" for m in report["mask_on_content"]),
               " ".join(f"{r:.2f}" for r in report["moved_ink"]))
  return report


def probe_saved_model(f):
  """The report of an exported SavedModel: held-out scores, and with --motion the motion fields' directions."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  from trivd_gan import diagnostics  # pylint: disable=import-outside-toplevel
  from trivd_gan import inference  # pylint: disable=import-outside-toplevel
  predictor = inference.Predictor(model=f.model)
  tc, tp = predictor.num_context_frames, predictor.num_predicted_frames
  labelled = f.motion and f.dataset in VELOCITY_KEYS
  clips = held_out_clips(f.dataset, f.data_dir, f.split, f.num_clips, f.batch_size, tc + tp,
                         predictor.resolution, with_motion=labelled, **source_kwargs(f))
  batches, velocities = clips if labelled else (clips, None)
  flows, ink = [], []

  def predict(context):
    context_u8 = np.clip((context + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    out = predictor.predict(context_u8, [f.seed, 7], f.truncation)
    if f.motion:  # keep the fields [b, Tp, H, W, 2] only when they are scored
      flows.append(out["motion_field"])
      ink.append(diagnostics.ink_mass(out["frames"]))
    return out["frames"]

  entry = {"scores": score(predict, batches, tc)}
  if f.motion:
    entry["motion"] = motion_entry(flows, batches, velocities, tc, f.model, ink)
  report = {"model": f.model, "entries": [entry]}
  if f.samples_png:
    video = batches[0][:4]
    write_samples_png(f.samples_png, video, predict(video[:, :tc]), tc)
  return report


def markdown_report(report):
  """Markdown tables of a probe report: per predicted frame (last scored entry) and the learning curves."""
  last = report["entries"][-1]["scores"]
  names = {key: name for key, name in (("model", "model"), ("copy_last_frame", "copy last frame"),
                                       ("context_mean", "context mean"), ("black_frame", "black frame"))
           if key in last}  # reports written before the black-frame baseline lack it
  num_predicted = len(last["model"]["psnr"])
  lines = [f"Held-out clips: {last['num_clips']}.", "",
           "| predicted frame | " + " | ".join(f"PSNR {n}" for n in names.values()) + " | " +
           " | ".join(f"SSIM {n}" for n in names.values()) + " |",
           "|---" * (1 + 2 * len(names)) + "|"]
  for t in range(num_predicted):
    lines.append(f"| {t + 1} | " + " | ".join(f"{last[k]['psnr'][t]:.2f}" for k in names) + " | " +
                 " | ".join(f"{last[k]['ssim'][t]:.3f}" for k in names) + " |")
  lines.append("| mean | " + " | ".join(f"**{last[k]['mean_psnr']:.2f}**" for k in names) + " | " +
               " | ".join(f"**{last[k]['mean_ssim']:.3f}**" for k in names) + " |")
  lines += ["", "| predicted frame | " + " | ".join(f"MSE {n}" for n in names.values()) + " |",
            "|---" * (1 + len(names)) + "|"]
  for t in range(num_predicted):
    lines.append(f"| {t + 1} | " + " | ".join(f"{last[k]['mse'][t]:.1f}" for k in names) + " |")
  lines.append("| mean | " + " | ".join(f"**{last[k]['mean_mse']:.1f}**" for k in names) + " |")
  if len(report["entries"]) > 1 or "step" in report["entries"][0]:
    lines += ["", "| step | PSNR model | PSNR copy last | SSIM model | SSIM copy last | MSE model | "
              "MSE copy last |",
              "|---|---|---|---|---|---|---|"]
    for entry in report["entries"]:
      m, c = entry["scores"]["model"], entry["scores"]["copy_last_frame"]
      lines.append(f"| {entry.get('step', '-')} | {m['mean_psnr']:.2f} | {c['mean_psnr']:.2f} | "
                   f"{m['mean_ssim']:.3f} | {c['mean_ssim']:.3f} | {m['mean_mse']:.1f} | {c['mean_mse']:.1f} |")
  return "\n".join(lines) + "\n"


def main(argv):
  if len(argv) > 1:
    cli_setup.exit_with_error(f"unexpected arguments {argv[1:]}; use --flag=value.")
  try:
    check_flags(FLAGS)
    report = probe_run(FLAGS) if FLAGS.model_dir else probe_saved_model(FLAGS)
  except (ValueError, OSError) as e:
    cli_setup.exit_with_error(e)
  report["settings"] = {name: getattr(FLAGS, name) for name in (
      "dataset", "data_dir", "split", "num_clips", "clips_per_video", "truncation", "standing_stats_batches",
      "seed", "chain_pooling")}
  path = FLAGS.json or os.path.join(FLAGS.model_dir or FLAGS.model, "probe.json")
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "w") as fh:
    json.dump(report, fh, indent=1)
  logging.info("Report written to %s.", path)
  if FLAGS.markdown:
    with open(FLAGS.markdown, "w") as fh:
      fh.write(markdown_report(report))
    logging.info("Tables written to %s.", FLAGS.markdown)


if __name__ == "__main__":
  define_flags()
  app.run(main)
