r"""Command line: evaluate a trained TrIVD-GAN-FP (paper sections 4.1, 4.4, appendix C.1, D.3, E.2).

  python -m trivd_gan.evaluate --model_dir=DIR --i3d=PATH|random --num_samples=N --runs=R --output=report.json \
      [--gin_file=F ...] [--gin_param=...] [--dataset=NAME] [--split=test] [--data_dir=DIR] [--truncation=T] \
      [--best_of_l=L] [--batch_size=B] [--cache_dir=DIR] [--standing_stats_batches=100] [--strategy=default]

What it measures (docs/evaluation.md, "Command line"):
  - Samples of the EMA generator after standing statistics (E.2), conditioned on the first Tc frames of the
    first N clips of the evaluation split, at the chosen truncation, for R runs with different latent seeds.
  - FVD of [context frames (real) ; predicted frames] against the real T-frame clips (T = Tc + Tp, 16 in the
    paper), mean and unbiased std over runs; Inception Score (I3D logits) mean and std over runs.
  - The copy-last-frame baseline's FVD (D.3: 330 on Kinetics-600 validation), PSNR and SSIM per predicted
    frame for the model and the baseline, BAIR's best-of-l SSIM (C.1) when --best_of_l > 0.
  - Real statistics are cached in --cache_dir, keyed by data set (with frames and size), split, N and embedder.
With --i3d=random every I3D figure is named "..._random_i3d": such numbers exercise the pipeline, they are not
FVDs. Bad input (missing model_dir or checkpoint, bad flags) ends with a one-line error and exit code 2.
Memory does not grow with N: every batch is embedded and folded into running statistics, then dropped.
"""

import glob
import hashlib
import json
import math
import os
import sys
import time

from absl import app
from absl import flags
from absl import logging
import numpy as np

from trivd_gan import progress

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "The --model_dir of a `python -m trivd_gan.train` run.")
flags.DEFINE_multi_string("gin_file", [], "Gin files naming the data (train.dataset_fn, train.data_dir); "
                          "default: the newest operative_config-*.gin in model_dir.")
flags.DEFINE_multi_string("gin_param", [], "Gin bindings applied after the files.")
flags.DEFINE_string("i3d", None, "I3D weights (checkpoint or TF-Hub folder, docs/evaluation.md) or 'random' / "
                    "'random:<seed>' (pipeline checks only: figures are then labelled _random_i3d).")
flags.DEFINE_integer("num_samples", 50000, "N: evaluation clips (and generated samples per run).")
flags.DEFINE_integer("runs", 10, "R: sampling runs with different latent seeds (the paper: std over 10).")
flags.DEFINE_string("output", None, "Where to write the JSON report (default: model_dir/eval_report.json).")
flags.DEFINE_string("dataset", None,
                    "Data set name (trivd_gan.data.SOURCES); default: train.dataset_fn of gin.")
flags.DEFINE_string("split", "test", "Evaluation split (e.g. test, validation).")
flags.DEFINE_string("data_dir", None, "The data set's folder (default: train.data_dir of gin, if bound).")
flags.DEFINE_float("truncation", None,
                  "Latent truncation; default: none (z ~ N(0, I), the training distribution), because FVD and "
                  "IS measure how the distribution of samples matches the data's and the paper's tables state "
                  "no truncation; the paper truncates (0.8, or z = 0) only for the samples it shows (appendix "
                  "D.1-D.3), which is predict's and the exporter's default. 0: z = 0; t > 0: |z| <= t.")
flags.DEFINE_integer("best_of_l", 0, "BAIR best-of-l SSIM (C.1): samples per context; 0 skips it.")
flags.DEFINE_integer("batch_size", 16, "Clips per generator / I3D batch.")
flags.DEFINE_integer("i3d_batch_size", 8, "Clips per I3D call (each 224x224 clip is large).")
flags.DEFINE_string("cache_dir", os.path.join("~", ".cache", "trivd_gan", "real_stats"),
                    "Folder of cached real-data statistics.")
flags.DEFINE_integer("standing_stats_batches", 100, "E.2 standing statistics: forward passes (0 skips).")
flags.DEFINE_integer("standing_stats_batch_size", 256, "E.2 standing statistics: clips per pass.")
flags.DEFINE_string("standing_stats_split", "train", "Split whose contexts feed the standing statistics.")
flags.DEFINE_boolean("use_ema", True, "Evaluate the EMA generator (E.2) rather than the raw G.")
flags.DEFINE_integer("seed", 0, "Base seed: run r draws its latents from seed + r.")
flags.DEFINE_enum("strategy", "default", ["default", "mirrored"], "Spread generation over local replicas.")

# Paper setting (section 4.1 / C.1): 16 frames enter FVD.
PAPER_FVD_FRAMES = 16
I3D_MIN_FRAMES = 9  # I3D's temporal receptive field needs T >= 9 (evaluation/i3d.py)


# --------------------------------------------------------------------------------------------------------------
# Report assembly (NumPy only).


def metric_name(base, random_embedder):
  """The report key of an I3D-based figure: "fvd" -> "fvd_random_i3d" when the I3D has random weights."""
  return f"{base}_random_i3d" if random_embedder else base


def _finite_or_none(x):
  x = float(x)
  return x if math.isfinite(x) else None


def summarize_runs(values):
  """{"mean", "std", "num_runs", "per_run"} of per-run values; std is unbiased (N - 1), None for one run."""
  values = [float(v) for v in values]
  if not values:
    raise ValueError("summarize_runs needs at least one run.")
  arr = np.asarray(values, np.float64)
  std = float(np.std(arr, ddof=1)) if arr.size > 1 else None
  return {"mean": _finite_or_none(arr.mean()), "std": None if std is None else _finite_or_none(std),
          "num_runs": int(arr.size), "per_run": [_finite_or_none(v) for v in values]}


def summarize_per_frame(per_run_curves, first_frame):
  """Per-frame curves [R, Tp] -> summary of the per-run averages plus the run-mean curve, frames 1-based."""
  curves = np.asarray(per_run_curves, np.float64)
  summary = summarize_runs(curves.mean(axis=1))
  summary["per_frame"] = [_finite_or_none(v) for v in curves.mean(axis=0)]
  summary["frames"] = list(range(first_frame, first_frame + curves.shape[1]))
  return summary


def frames_description(num_context, num_predicted, time_repeat=1):
  """Says which frames enter FVD (real context + generated continuation) and how they differ from the paper."""
  total = num_context + num_predicted
  text = (f"{total} frames per clip: frames 1-{num_context} are the real context frames, frames "
          f"{num_context + 1}-{total} the {num_predicted} generated (or copied, for the baseline) frames; "
          f"the real statistics use the same {total}-frame ground-truth clips.")
  if total != PAPER_FVD_FRAMES:
    text += (f" The paper uses {PAPER_FVD_FRAMES} frames (5 + 11 on Kinetics-600, 1 + 15 on BAIR): "
             "not comparable.")
  if time_repeat > 1:
    text += (f" Every frame is repeated {time_repeat} times in time before I3D (which needs >= "
             f"{I3D_MIN_FRAMES} frames), for real and generated clips alike: not a protocol FVD.")
  return text


def assemble_report(*, embedder_name, random_embedder, fvd_runs, is_runs, copy_fvd, psnr_runs, ssim_runs,
                    copy_psnr, copy_ssim, num_context, num_predicted, best_of_l=0, best_of_l_ssim=None,
                    time_repeat=1, info=None):
  """Builds the JSON report from per-run numbers.

  Args:
    embedder_name: the I3D's name (`make_embedder`); random_embedder: `is_random_embedder(embedder_name)`.
    fvd_runs, is_runs: [R] FVD and Inception Score of each run.
    copy_fvd: FVD of the copy-last-frame baseline (D.3), one value (deterministic).
    psnr_runs, ssim_runs: [R, Tp] mean PSNR (dB) / SSIM of each predicted frame in each run.
    copy_psnr, copy_ssim: [Tp] the same for the baseline.
    num_context, num_predicted: Tc and Tp.
    best_of_l, best_of_l_ssim: l and the [Tp] mean best-of-l SSIM per predicted frame (C.1), or 0 / None.
    time_repeat: the temporal repeat applied before I3D (1 = none).
    info: extra key/values (model_dir, data set, seeds, ...) stored under "config".

  Returns:
    A JSON-serializable dict: "metrics" maps names to summaries; every I3D figure carries "_random_i3d" in its
    name when random_embedder.
  """
  first = num_context + 1
  metrics = {
      metric_name("fvd", random_embedder): summarize_runs(fvd_runs),
      metric_name("inception_score", random_embedder): summarize_runs(is_runs),
      metric_name("copy_last_frame_fvd", random_embedder): summarize_runs([copy_fvd]),
      "psnr": summarize_per_frame(psnr_runs, first),
      "ssim": summarize_per_frame(ssim_runs, first),
      "copy_last_frame_psnr": summarize_per_frame([copy_psnr], first),
      "copy_last_frame_ssim": summarize_per_frame([copy_ssim], first),
  }
  if best_of_l:
    metrics[f"best_of_{best_of_l}_ssim"] = summarize_per_frame([best_of_l_ssim], first)
  notes = [f"FVD frames: {frames_description(num_context, num_predicted, time_repeat)}",
           "std is the unbiased (N - 1) standard deviation over runs (None for one run); runs differ only in "
           "the latent seeds (same contexts).",
           "PSNR / SSIM: generated vs ground-truth predicted frames, frames mapped to [0, 1]; 'frames' are "
           "1-based indices in the clip."]
  if random_embedder:
    notes.insert(0, f"I3D has RANDOM weights ({embedder_name}): the *_random_i3d numbers check the pipeline; "
                 "they are not FVD or Inception Scores.")
  return {"embedder": embedder_name, "random_embedder": bool(random_embedder),
          "fvd_frames": {"context": int(num_context), "predicted": int(num_predicted),
                         "total": int(num_context + num_predicted), "time_repeat": int(time_repeat),
                         "description": frames_description(num_context, num_predicted, time_repeat)},
          "metrics": metrics, "notes": notes, "config": dict(info or {})}


def _fmt(x, digits=3):
  return "n/a" if x is None else f"{x:.{digits}f}"


def markdown_table(report):
  """A Markdown table of every metric: | metric | mean | std | runs |."""
  lines = ["| metric | mean | std | runs |", "|---|---|---|---|"]
  for name, summary in report["metrics"].items():
    lines.append(f"| {name} | {_fmt(summary['mean'])} | {_fmt(summary['std'])} | {summary['num_runs']} |")
  return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------------
# Streaming pieces.


class PerFrameMean:
  """Running mean over clips of per-frame values [B, T] -> [T] (float64), O(T) memory."""

  def __init__(self):
    self.sum, self.count = None, 0

  def update(self, values):
    values = np.asarray(values, np.float64)
    self.sum = values.sum(axis=0) if self.sum is None else self.sum + values.sum(axis=0)
    self.count += values.shape[0]

  def result(self):
    if not self.count:
      raise ValueError("PerFrameMean has no samples.")
    return self.sum / self.count


class StreamingBestOfL:
  """Best-of-l SSIM (C.1) over samples fed one at a time: equals `metrics.best_of_l_ssim` on the stacked samples
  (first maximum of the mean-over-frames SSIM wins), without holding l videos."""

  def __init__(self):
    self.best_mean, self.best = None, None

  def update(self, ssim):
    """ssim: [B, T] per-frame SSIM of one more sample per context."""
    ssim = np.asarray(ssim, np.float64)
    mean = ssim.mean(axis=1)
    if self.best is None:
      self.best_mean, self.best = mean, ssim.copy()
      return
    better = mean > self.best_mean
    self.best_mean = np.where(better, mean, self.best_mean)
    self.best = np.where(better[:, None], ssim, self.best)

  def result(self):
    """[B, T] the per-frame SSIM of each context's best sample."""
    return self.best


def time_repeat_factor(num_frames):
  """How many times each frame is repeated so that I3D gets >= 9 frames (1 when num_frames >= 9)."""
  return max(1, math.ceil(I3D_MIN_FRAMES / num_frames))


class _Progress:
  """absl logging progress lines (about every 10 s and at the end)."""

  def __init__(self, what, total):
    self.what, self.total, self.start, self.last = what, total, time.perf_counter(), 0.0

  def update(self, done):
    now = time.perf_counter() - self.start
    if done < self.total and now - self.last < 10.0:
      return
    self.last = now
    rate = done / now if now > 0 else 0.0
    eta = progress.format_duration((self.total - done) / rate) if rate > 0 else "?"
    logging.info("%s: %d/%d clips  %.2f clips/s  ETA %s", self.what, done, self.total, rate, eta)


# --------------------------------------------------------------------------------------------------------------
# Data and model set-up (TensorFlow imported lazily so that bad input fails fast).


def resolve_dataset(dataset=None, data_dir=None):
  """Returns (name, dataset_fn(**kwargs), data_dir) from --dataset or the gin binding train.dataset_fn."""
  from trivd_gan import data as data_lib  # pylint: disable=g-import-not-at-top

  if dataset:
    if dataset not in data_lib.SOURCES:
      raise ValueError(f"Unknown --dataset={dataset}; choose one of {sorted(data_lib.SOURCES)}.")
    return dataset, lambda **kw: data_lib.make_dataset(dataset, **kw), data_dir
  import gin  # pylint: disable=g-import-not-at-top
  try:
    ref = gin.query_parameter("train.dataset_fn")
  except ValueError as e:
    raise ValueError("no data set: pass --dataset=NAME or a gin file binding train.dataset_fn.") from e
  if data_dir is None:
    try:
      data_dir = gin.query_parameter("train.data_dir")
    except ValueError:
      data_dir = None
  selector = ref.selector.split(".")[-1]
  name = selector[:-len("_dataset")] if selector.endswith("_dataset") else selector
  if selector == "make_dataset":
    try:
      name = gin.query_parameter("make_dataset.name")
    except ValueError:
      name = "synthetic"
  if name not in data_lib.SOURCES:
    raise ValueError(f"train.dataset_fn = @{selector} is not a trivd_gan data set; pass --dataset=NAME.")
  return name, ref.scoped_configurable_fn, data_dir


def dataset_cache_key(name, num_frames, image_size, data_dir):
  """Data-set part of the real-statistics cache key: name, frames, size and (if any) a hash of data_dir."""
  key = f"{name}-{num_frames}f-{image_size}px"
  if data_dir:
    key += "-" + hashlib.sha1(os.path.abspath(os.path.expanduser(str(data_dir))).encode()).hexdigest()[:8]
  return key


def _clip_batches(dataset_fn, split, data_dir, batch_size, num_frames, image_size, num_samples):
  """Yields (video [b, T, S, S, 3] in [-1, 1], label [b]) of exactly the first num_samples evaluation clips."""
  ds = dataset_fn(split=split, data_dir=data_dir, batch_size=batch_size, num_frames=num_frames,
                  image_size=image_size, training=False)
  seen = 0
  for batch in ds:
    if seen >= num_samples:
      return
    video = batch["video"][:num_samples - seen]
    label = batch["label"][:num_samples - seen]
    seen += int(video.shape[0])
    yield video, label
  if seen < num_samples:
    raise ValueError(f"the {split!r} split has only {seen} clips; use --num_samples <= {seen}.")


def model_clip_shape(model_dir):
  """(Tc, Tp, R) from model_dir/model_config.json without building the model, or None if it cannot be read."""
  from trivd_gan import inference  # pylint: disable=g-import-not-at-top

  try:
    with open(os.path.join(model_dir, inference.MODEL_CONFIG)) as f:
      config = json.load(f)["generator"]
    return (int(config["num_context_frames"]), int(config["num_predicted_frames"]), int(config["resolution"]))
  except (OSError, ValueError, KeyError, TypeError):
    return None


def check_num_samples(dataset_fn, name, split, data_dir, num_samples, num_frames, image_size):
  """Refuses, before any model is built, a --num_samples larger than the evaluation split.

  The split's size is known without reading it for sources with a fixed number of evaluation clips (synthetic:
  1024, moving_mnist: 10000); for the others (video folders, tensorflow-datasets sources, which drop too-short
  videos) it is found only by reading the split, and a too-large N is reported when the split runs out.

  Returns:
    The split's number of clips, or None when it is not known up front.

  Raises:
    ValueError: num_samples > the split's size, with the size and how to fix it.
  """
  ds = dataset_fn(split=split, data_dir=data_dir, batch_size=1, num_frames=num_frames, image_size=image_size,
                  training=False)
  size = int(ds.cardinality())
  if size < 0:  # tf.data.UNKNOWN_CARDINALITY or INFINITE_CARDINALITY
    logging.info("The %r split of %s has a size known only once read; --num_samples=%d is checked then.", split,
                 name, num_samples)
    return None
  if num_samples > size:
    raise ValueError(f"--num_samples={num_samples} is larger than the {split!r} split of {name} ({size} "
                     f"clips); pass --num_samples <= {size}, or another --split / data set with more clips.")
  return size


def make_generate_fn(generator, strategy=None):
  """(context, z, labels|None) -> predicted frames, spread over the strategy's replicas if it has several."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  @tf.function(reduce_retracing=True)
  def step(context, z, labels):
    return generator(context, z, labels, training=False)

  if strategy is None or strategy.num_replicas_in_sync == 1:
    return lambda context, z, labels: step(context, z, labels)

  n = strategy.num_replicas_in_sync

  def distributed(context, z, labels):
    b = int(context.shape[0])
    if labels is None:
      labels = tf.zeros([b], tf.int32)
    per = -(-b // n)
    pad = per * n - b
    if pad:  # replicas need equal shares: pad with copies of the last clip, dropped afterwards
      context, z, labels = (tf.concat([x, tf.repeat(x[-1:], pad, axis=0)], 0) for x in (context, z, labels))
    shards = strategy.experimental_distribute_values_from_function(
        lambda ctx: tuple(x[ctx.replica_id_in_sync_group * per:(ctx.replica_id_in_sync_group + 1) * per]
                          for x in (context, z, labels)))
    out = strategy.run(step, args=shards)
    return tf.concat(strategy.experimental_local_results(out), axis=0)[:b]

  return distributed


def evaluate(model_dir, i3d, num_samples, runs, dataset=None, split="test", data_dir=None, truncation=None,
             best_of_l=0, batch_size=16, i3d_batch_size=8, cache_dir=None, standing_stats_batches=100,
             standing_stats_batch_size=256, standing_stats_split="train", use_ema=True, seed=0, strategy=None):
  """Runs the evaluation (module docstring) and returns the report dict (`assemble_report`).

  Gin must already be parsed when `dataset` is None (train.dataset_fn names the data).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  from trivd_gan import evaluation as ev  # pylint: disable=g-import-not-at-top
  from trivd_gan import inference  # pylint: disable=g-import-not-at-top
  from trivd_gan.models import generator as generator_lib  # pylint: disable=g-import-not-at-top

  t0 = time.perf_counter()
  name, dataset_fn, data_dir = resolve_dataset(dataset, data_dir)
  shape = model_clip_shape(model_dir)
  if shape is not None:  # else load_generator below says what is wrong with model_dir
    check_num_samples(dataset_fn, name, split, data_dir, num_samples, shape[0] + shape[1], shape[2])
  checkpoint = inference.latest_checkpoint(model_dir)
  g = inference.load_generator(model_dir, use_ema=use_ema)
  tc, tp, res = g.num_context_frames, g.num_predicted_frames, g.resolution
  total = tc + tp
  repeat = time_repeat_factor(total)
  if repeat > 1:
    logging.warning("The model's clips have %d frames; I3D needs >= %d: every frame is repeated %d times "
                    "before I3D (labelled in the report).", total, I3D_MIN_FRAMES, repeat)
  labels_of = (lambda lab: tf.cast(lab, tf.int32)) if g.num_classes > 1 else (lambda lab: None)

  def z_for(run_seed, index, batch):
    return generator_lib.sample_latents(batch, g.latent_dim, truncation,
                                        seed=tf.constant([run_seed, index], tf.int64))

  if standing_stats_batches > 0:
    logging.info("Standing statistics (E.2): %d passes of %d clips from the %r split (progress every 10 "
                 "passes; --standing_stats_batches / --standing_stats_batch_size make it shorter).",
                 standing_stats_batches, standing_stats_batch_size, standing_stats_split)
    ds = dataset_fn(split=standing_stats_split, data_dir=data_dir, batch_size=standing_stats_batch_size,
                    num_frames=tc, image_size=res, training=True)

    def standing_batches():
      for i, batch in enumerate(ds):
        video = batch["video"]
        yield video, z_for(seed - 1, i, int(video.shape[0])), labels_of(batch["label"])

    passes = inference.apply_standing_statistics(g, standing_batches(), standing_stats_batches)
  else:
    passes = 0
  generate = make_generate_fn(g, strategy)

  emb = ev.make_embedder(i3d, batch_size=i3d_batch_size)
  random_embedder = ev.is_random_embedder(emb.name)

  def embed(videos):
    if repeat > 1:
      videos = tf.repeat(videos, repeat, axis=1)
    return emb.embed(videos)

  cache_dir = os.path.expanduser(cache_dir or os.path.join("~", ".cache", "trivd_gan", "real_stats"))
  key = dataset_cache_key(name, total, res, data_dir)
  real = ev.load_real_statistics(cache_dir, key, split, num_samples, emb.name)
  real_cached = real is not None
  real_acc, copy_acc = ev.FrechetAccumulator(), ev.FrechetAccumulator()
  copy_psnr, copy_ssim, best = PerFrameMean(), PerFrameMean(), PerFrameMean()
  fvd_runs, is_runs, psnr_runs, ssim_runs = [], [], [], []
  for run in range(runs):
    run_seed = seed + run
    fake_acc, is_acc = ev.FrechetAccumulator(), ev.InceptionScoreAccumulator()
    psnr, ssim = PerFrameMean(), PerFrameMean()
    progress = _Progress(f"run {run + 1}/{runs}", num_samples)
    done = 0
    for i, (video, label) in enumerate(_clip_batches(dataset_fn, split, data_dir, batch_size, total, res,
                                                     num_samples)):
      b = int(video.shape[0])
      context, target = video[:, :tc], video[:, tc:]
      labels = labels_of(label)
      pred = generate(context, z_for(run_seed, i, b), labels)
      logits = embed(tf.concat([context, pred], axis=1))
      fake_acc.update(logits)
      is_acc.update(logits)
      psnr.update(ev.psnr_per_frame(pred, target))
      ssim.update(ev.ssim_per_frame(pred, target))
      if run == 0:  # run-independent figures: real statistics, the baseline, best-of-l
        if not real_cached:
          real_acc.update(embed(video))
        copy = ev.copy_last_frame(context, tp)
        copy_acc.update(embed(tf.concat([context, copy], axis=1)))
        copy_psnr.update(ev.psnr_per_frame(copy, target))
        copy_ssim.update(ev.ssim_per_frame(copy, target))
        if best_of_l > 0:
          chooser = StreamingBestOfL()
          for j in range(best_of_l):
            sample = generate(context, z_for(seed + 1_000_003 + j, i, b), labels)
            chooser.update(ev.ssim_per_frame(sample, target))
          best.update(chooser.result())
      done += b
      progress.update(done)
    if run == 0 and not real_cached:
      real = real_acc.statistics()
      path = ev.save_real_statistics(cache_dir, key, split, num_samples, emb.name, *real)
      logging.info("Real statistics cached in %s.", path)
    fvd_runs.append(ev.frechet_distance(*fake_acc.statistics(), *real))
    is_runs.append(is_acc.result())
    psnr_runs.append(psnr.result())
    ssim_runs.append(ssim.result())
    logging.info("run %d/%d: %s %.3f, %s %.3f", run + 1, runs, metric_name("fvd", random_embedder),
                 fvd_runs[-1], metric_name("inception_score", random_embedder), is_runs[-1])
  copy_fvd = ev.frechet_distance(*copy_acc.statistics(), *real)
  info = {"model_dir": model_dir, "checkpoint": checkpoint, "use_ema": bool(use_ema),
          "standing_statistics_passes": passes, "standing_statistics_batch_size": standing_stats_batch_size,
          "dataset": name, "split": split, "data_dir": data_dir, "num_samples": num_samples, "runs": runs,
          "truncation": truncation, "seeds": [seed + r for r in range(runs)], "best_of_l": best_of_l,
          "resolution": res, "real_statistics_cache": os.path.join(
              cache_dir, ev.stats_cache_filename(key, split, num_samples, emb.name)),
          "real_statistics_from_cache": real_cached,
          "replicas": 1 if strategy is None else strategy.num_replicas_in_sync,
          "seconds": round(time.perf_counter() - t0, 1)}
  return assemble_report(embedder_name=emb.name, random_embedder=random_embedder, fvd_runs=fvd_runs,
                         is_runs=is_runs, copy_fvd=copy_fvd, psnr_runs=psnr_runs, ssim_runs=ssim_runs,
                         copy_psnr=copy_psnr.result(), copy_ssim=copy_ssim.result(), num_context=tc,
                         num_predicted=tp, best_of_l=best_of_l,
                         best_of_l_ssim=best.result() if best_of_l > 0 else None, time_repeat=repeat, info=info)


# --------------------------------------------------------------------------------------------------------------
# Command line.


def check_flags(f):
  """Validates flags without TensorFlow; raises ValueError with a one-line fix."""
  if not f.model_dir:
    raise ValueError("--model_dir is required (the --model_dir of a trivd_gan.train run).")
  if "://" not in f.model_dir:
    if not os.path.isdir(f.model_dir):
      raise ValueError(f"--model_dir={f.model_dir} does not exist; pass the folder of a trivd_gan.train run.")
    if not (os.path.exists(os.path.join(f.model_dir, "checkpoint")) or
            glob.glob(os.path.join(f.model_dir, "ckpt-*.index"))):
      raise ValueError(f"--model_dir={f.model_dir} holds no checkpoint; train first "
                       "(python -m trivd_gan.train).")
  if not f.i3d:
    raise ValueError("--i3d is required: an I3D checkpoint / TF-Hub folder (docs/evaluation.md) or 'random'.")
  for flag, low in (("num_samples", 2), ("runs", 1), ("batch_size", 1), ("i3d_batch_size", 1), ("best_of_l", 0),
                    ("standing_stats_batches", 0), ("standing_stats_batch_size", 1)):
    if getattr(f, flag) < low:
      raise ValueError(f"--{flag} must be >= {low}, got {getattr(f, flag)}.")
  if f.truncation is not None and f.truncation < 0:
    raise ValueError(f"--truncation must be unset, 0 or positive, got {f.truncation}.")
  for path in f.gin_file:
    if not os.path.exists(path):
      raise ValueError(f"gin file {path!r} not found.")


def parse_gin(gin_files, gin_params, model_dir):
  """Parses the gin files (default: model_dir's newest operative config); returns the files used."""
  import gin  # pylint: disable=g-import-not-at-top
  from trivd_gan import configurables  # pylint: disable=g-import-not-at-top,unused-import

  files = list(gin_files)
  if not files and "://" not in model_dir:
    operative = sorted(glob.glob(os.path.join(model_dir, "operative_config-*.gin")),
                       key=lambda p: int(p.rsplit("-", 1)[1].split(".")[0]) if p.rsplit("-", 1)[1].split(".")[0]
                       .isdigit() else -1)
    files = operative[-1:]
  from trivd_gan import cli_setup  # pylint: disable=g-import-not-at-top
  for folder in cli_setup.gin_search_paths(files):
    gin.add_config_file_search_path(folder)
  try:
    gin.parse_config_files_and_bindings(files, gin_params, skip_unknown=False)
  except (ValueError, KeyError, SyntaxError) as e:
    raise ValueError(f"bad gin configuration: {' '.join(str(e).split())[:500]}") from e
  return files


def _fail(message):
  from trivd_gan import cli_setup  # pylint: disable=g-import-not-at-top
  cli_setup.exit_with_error(message)


def _parse_flags(argv):
  try:
    return FLAGS(argv)
  except flags.Error as e:
    _fail(f"{e}; see python -m trivd_gan.evaluate --help.")


def main(argv):
  if len(argv) > 1:
    _fail(f"unexpected arguments {argv[1:]}; use --flag=value.")
  try:
    check_flags(FLAGS)
    gin_files = parse_gin(FLAGS.gin_file, FLAGS.gin_param, FLAGS.model_dir)
    strategy = None
    if FLAGS.strategy != "default":
      from trivd_gan.training import strategy as strategy_lib  # pylint: disable=g-import-not-at-top
      strategy = strategy_lib.make_strategy(FLAGS.strategy)
    report = evaluate(FLAGS.model_dir, FLAGS.i3d, FLAGS.num_samples, FLAGS.runs, dataset=FLAGS.dataset,
                      split=FLAGS.split, data_dir=FLAGS.data_dir, truncation=FLAGS.truncation,
                      best_of_l=FLAGS.best_of_l, batch_size=FLAGS.batch_size,
                      i3d_batch_size=FLAGS.i3d_batch_size,
                      cache_dir=FLAGS.cache_dir, standing_stats_batches=FLAGS.standing_stats_batches,
                      standing_stats_batch_size=FLAGS.standing_stats_batch_size,
                      standing_stats_split=FLAGS.standing_stats_split, use_ema=FLAGS.use_ema, seed=FLAGS.seed,
                      strategy=strategy)
  except Exception as e:  # pylint: disable=broad-except
    tf = sys.modules.get("tensorflow")
    if (isinstance(e, (ValueError, OSError, AssertionError)) or
        (tf is not None and isinstance(e, tf.errors.OpError))):
      _fail(e)
    raise
  report["config"]["gin_files"] = gin_files
  output = FLAGS.output or os.path.join(FLAGS.model_dir, "eval_report.json")
  os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
  with open(output, "w") as f:
    json.dump(report, f, indent=2)
  logging.info("Report written to %s.", output)
  print(markdown_table(report))  # the CLI's table (docs/CONVENTIONS.md allows print here)
  for note in report["notes"]:
    print(f"- {note}")


if __name__ == "__main__":
  from trivd_gan import cli_setup  # pylint: disable=g-import-not-at-top
  cli_setup.quiet_tensorflow_logs()  # TensorFlow is imported lazily, in main
  app.run(main, flags_parser=_parse_flags)
