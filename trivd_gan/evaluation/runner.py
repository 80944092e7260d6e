"""Evaluating a trained TrIVD-GAN-FP (paper sections 4.1, 4.4, appendix C.1, D.3, E.2): the per-run loop.

`evaluate` loads the EMA generator of a training run, applies standing statistics (E.2), then for R runs with
different latent seeds samples the continuations of the first N evaluation clips and folds them into running
FVD / Inception Score statistics (I3D logits) and per-frame PSNR / SSIM; run 1 also gathers the run-independent
figures (real statistics unless cached, the copy-last-frame baseline of D.3, BAIR's best-of-l SSIM of C.1).
Memory does not grow with N: every batch is embedded and folded into running statistics, then dropped.
The command line is `python -m trivd_gan.evaluate` (docs/evaluation.md).
"""

import os
import time

from absl import logging
import tensorflow as tf

from trivd_gan import inference
from trivd_gan import progress
from trivd_gan.evaluation import accumulators
from trivd_gan.evaluation import eval_data
from trivd_gan.evaluation import fvd
from trivd_gan.evaluation import i3d_weights
from trivd_gan.evaluation import metrics
from trivd_gan.evaluation import report
from trivd_gan.models import generator as generator_lib

DEFAULT_CACHE_DIR = os.path.join("~", ".cache", "trivd_gan", "real_stats")
# Latent seeds of the best-of-l samples: far from the runs' seeds (seed + r), so they are other samples.
BEST_OF_L_SEED_OFFSET = 1_000_003


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


def make_generate_fn(generator, strategy=None):
  """(context, z, labels|None) -> predicted frames, spread over the strategy's replicas if it has several."""

  @tf.function(reduce_retracing=True, autograph=False)  # the generator needs no autograph: seconds saved
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


class Sampler:
  """The evaluated generator's samples: its labels, latents and predicted frames.

  Args:
    generator: a built `Generator` (inference mode).
    truncation: latent truncation (None: z ~ N(0, I); 0: z = 0; t > 0: |z| <= t).
    strategy: spreads generation over local replicas (None: the default device).
  """

  def __init__(self, generator, truncation, strategy=None):
    self.generator, self.truncation = generator, truncation
    self.num_context, self.num_predicted = generator.num_context_frames, generator.num_predicted_frames
    self.resolution = generator.resolution
    self._generate = make_generate_fn(generator, strategy)

  def labels(self, label):
    """The class labels G is conditioned on: [B] int32, or None for an unconditional G (one class)."""
    return tf.cast(label, tf.int32) if self.generator.num_classes > 1 else None

  def latents(self, seed, index, batch):
    """z [batch, latent_dim] of batch `index` in the run with latent seed `seed`."""
    return generator_lib.sample_latents(batch, self.generator.latent_dim, self.truncation,
                                        seed=tf.constant([seed, index], tf.int64))

  def generate(self, context, label, seed, index):
    """Predicted frames [B, Tp, R, R, 3] in [-1, 1] of context [B, Tc, R, R, 3] (batch `index`, seed `seed`)."""
    return self._generate(context, self.latents(seed, index, int(context.shape[0])), self.labels(label))


def make_embed_fn(embedder, time_repeat):
  """videos [B, T, S, S, 3] in [-1, 1] -> I3D logits [B, classes], every frame repeated `time_repeat` times in
  time first (I3D needs T >= 9; the report labels the repeat)."""

  def embed(videos):
    if time_repeat > 1:
      videos = tf.repeat(videos, time_repeat, axis=1)
    return embedder.embed(videos)

  return embed


def apply_standing_statistics(sampler, dataset_fn, data_dir, split, num_batches, batch_size, seed):
  """E.2's standing statistics from `split`'s contexts, latents at the sampler's truncation; returns passes."""
  logging.info("Standing statistics (E.2): %d passes of %d clips from the %r split (progress every 10 "
               "passes; --standing_stats_batches / --standing_stats_batch_size make it shorter).",
               num_batches, batch_size, split)
  ds = dataset_fn(split=split, data_dir=data_dir, batch_size=batch_size, num_frames=sampler.num_context,
                  image_size=sampler.resolution, training=True)

  def batches():
    for i, batch in enumerate(ds):
      video = batch["video"]
      # seed - 1: other latents than run 1's (seed + 0).
      yield video, sampler.latents(seed - 1, i, int(video.shape[0])), sampler.labels(batch["label"])

  return inference.apply_standing_statistics(sampler.generator, batches(), num_batches)


class RunIndependentFigures:
  """What does not depend on the latent seed, gathered during run 1: the real clips' FVD statistics (unless
  cached), the copy-last-frame baseline (D.3: FVD statistics, PSNR, SSIM) and best-of-l SSIM (C.1, l > 0)."""

  def __init__(self, sampler, embed, real_cached, best_of_l, seed):
    self.sampler, self.embed, self.real_cached, self.best_of_l, self.seed = (sampler, embed, real_cached,
                                                                             best_of_l, seed)
    self.real, self.copy = fvd.FrechetAccumulator(), fvd.FrechetAccumulator()
    self.copy_psnr, self.copy_ssim = accumulators.PerFrameMean(), accumulators.PerFrameMean()
    self.best = accumulators.PerFrameMean()

  def update(self, index, video, label):
    """Folds in batch `index`: video [B, Tc + Tp, R, R, 3] in [-1, 1], label [B]."""
    s = self.sampler
    context, target = video[:, :s.num_context], video[:, s.num_context:]
    if not self.real_cached:
      self.real.update(self.embed(video))
    copy = metrics.copy_last_frame(context, s.num_predicted)
    self.copy.update(self.embed(tf.concat([context, copy], axis=1)))
    self.copy_psnr.update(metrics.psnr_per_frame(copy, target))
    self.copy_ssim.update(metrics.ssim_per_frame(copy, target))
    if self.best_of_l > 0:
      chooser = accumulators.StreamingBestOfL()
      for j in range(self.best_of_l):
        sample = s.generate(context, label, self.seed + BEST_OF_L_SEED_OFFSET + j, index)
        chooser.update(metrics.ssim_per_frame(sample, target))
      self.best.update(chooser.result())


def sample_run(sampler, embed, batches, run_seed, progress_line, run_independent=None):
  """One run: G continues every clip of `batches` with latent seed `run_seed`.

  Args:
    sampler: a `Sampler`; embed: `make_embed_fn(...)`.
    batches: iterable of (video [B, Tc + Tp, R, R, 3] in [-1, 1], label [B]).
    run_seed: the run's latent seed.
    progress_line: a `_Progress` of the run.
    run_independent: a `RunIndependentFigures` to feed too (run 1), or None.

  Returns:
    (FVD statistics (mean, covariance) of [real context ; generated], Inception Score, [Tp] mean PSNR (dB),
    [Tp] mean SSIM).
  """
  fake, inception = fvd.FrechetAccumulator(), metrics.InceptionScoreAccumulator()
  psnr, ssim = accumulators.PerFrameMean(), accumulators.PerFrameMean()
  done = 0
  for i, (video, label) in enumerate(batches):
    context, target = video[:, :sampler.num_context], video[:, sampler.num_context:]
    pred = sampler.generate(context, label, run_seed, i)
    logits = embed(tf.concat([context, pred], axis=1))
    fake.update(logits)
    inception.update(logits)
    psnr.update(metrics.psnr_per_frame(pred, target))
    ssim.update(metrics.ssim_per_frame(pred, target))
    if run_independent is not None:
      run_independent.update(i, video, label)
    done += int(video.shape[0])
    progress_line.update(done)
  return fake.statistics(), inception.result(), psnr.result(), ssim.result()


def evaluate(model_dir, i3d, num_samples, runs, dataset=None, split="test", data_dir=None, truncation=None,
             best_of_l=0, batch_size=16, i3d_batch_size=8, cache_dir=None, standing_stats_batches=100,
             standing_stats_batch_size=256, standing_stats_split="train", use_ema=True, seed=0, strategy=None):
  """Runs the evaluation (module docstring, docs/evaluation.md); returns the report (`report.assemble_report`).

  The data: `eval_data.resolve_dataset(dataset, data_dir, model_dir)` (gin, if it names the data, must already
  be parsed). Run r draws its latents from seed + r; cache_dir (default ~/.cache/trivd_gan/real_stats) holds
  the real statistics, keyed by data set (with frames and size), split, N and embedder.
  """
  t0 = time.perf_counter()
  name, dataset_fn, data_dir = eval_data.resolve_dataset(dataset, data_dir, model_dir)
  shape = eval_data.model_clip_shape(model_dir)
  if shape is not None:  # else load_generator below says what is wrong with model_dir
    eval_data.check_num_samples(dataset_fn, name, split, data_dir, num_samples, shape[0] + shape[1], shape[2])
  checkpoint = inference.latest_checkpoint(model_dir)
  g = inference.load_generator(model_dir, use_ema=use_ema)
  sampler = Sampler(g, truncation, strategy)
  tc, tp, res = sampler.num_context, sampler.num_predicted, sampler.resolution
  repeat = report.time_repeat_factor(tc + tp)
  if repeat > 1:
    logging.warning("The model's clips have %d frames; I3D needs >= %d: every frame is repeated %d times "
                    "before I3D (labelled in the report).", tc + tp, report.I3D_MIN_FRAMES, repeat)
  passes = 0
  if standing_stats_batches > 0:
    passes = apply_standing_statistics(sampler, dataset_fn, data_dir, standing_stats_split,
                                       standing_stats_batches, standing_stats_batch_size, seed)
  emb = i3d_weights.make_embedder(i3d, batch_size=i3d_batch_size)
  random_embedder = i3d_weights.is_random_embedder(emb.name)
  embed = make_embed_fn(emb, repeat)

  cache_dir = os.path.expanduser(cache_dir or DEFAULT_CACHE_DIR)
  key = eval_data.dataset_cache_key(name, tc + tp, res, data_dir)
  real = fvd.load_real_statistics(cache_dir, key, split, num_samples, emb.name)
  real_cached = real is not None
  fixed = RunIndependentFigures(sampler, embed, real_cached, best_of_l, seed)
  fvd_runs, is_runs, psnr_runs, ssim_runs = [], [], [], []
  for run in range(runs):
    batches = eval_data.clip_batches(dataset_fn, split, data_dir, batch_size, tc + tp, res, num_samples)
    fake, inception, psnr, ssim = sample_run(sampler, embed, batches, seed + run,
                                             _Progress(f"run {run + 1}/{runs}", num_samples),
                                             run_independent=fixed if run == 0 else None)
    if run == 0 and not real_cached:
      real = fixed.real.statistics()
      path = fvd.save_real_statistics(cache_dir, key, split, num_samples, emb.name, *real)
      logging.info("Real statistics cached in %s.", path)
    fvd_runs.append(fvd.frechet_distance(*fake, *real))
    is_runs.append(inception)
    psnr_runs.append(psnr)
    ssim_runs.append(ssim)
    logging.info("run %d/%d: %s %.3f, %s %.3f", run + 1, runs, report.metric_name("fvd", random_embedder),
                 fvd_runs[-1], report.metric_name("inception_score", random_embedder), is_runs[-1])
  copy_fvd = fvd.frechet_distance(*fixed.copy.statistics(), *real)
  info = {"model_dir": model_dir, "checkpoint": checkpoint, "use_ema": bool(use_ema),
          "standing_statistics_passes": passes, "standing_statistics_batch_size": standing_stats_batch_size,
          "dataset": name, "split": split, "data_dir": data_dir, "num_samples": num_samples, "runs": runs,
          "truncation": truncation, "seeds": [seed + r for r in range(runs)], "best_of_l": best_of_l,
          "resolution": res, "real_statistics_cache": os.path.join(
              cache_dir, fvd.stats_cache_filename(key, split, num_samples, emb.name)),
          "real_statistics_from_cache": real_cached,
          "replicas": 1 if strategy is None else strategy.num_replicas_in_sync,
          "seconds": round(time.perf_counter() - t0, 1)}
  return report.assemble_report(
      embedder_name=emb.name, random_embedder=random_embedder, fvd_runs=fvd_runs, is_runs=is_runs,
      copy_fvd=copy_fvd, psnr_runs=psnr_runs, ssim_runs=ssim_runs, copy_psnr=fixed.copy_psnr.result(),
      copy_ssim=fixed.copy_ssim.result(), num_context=tc, num_predicted=tp, best_of_l=best_of_l,
      best_of_l_ssim=fixed.best.result() if best_of_l > 0 else None, time_repeat=repeat, info=info)
