"""The training loop (paper E.1-E.3): `train`, the gin-configurable entry point (gin name `train`).

It builds a `trainer.Trainer`, resumes it from model_dir's newest checkpoint, and runs its steps with progress
lines, summaries, sample videos and checkpoints at their cadences.
"""

import inspect
import math
import os
import time

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from trivd_gan import progress
from trivd_gan.training import precision as precision_lib
from trivd_gan.training import trainer as trainer_lib
from trivd_gan.training import warm_start


def train(model_dir, num_steps=1000000, strategy=None, log_every=10, summary_every=10, sample_every=1000,
          checkpoint_every=1000, mixed_precision=False, intra_op_threads=None, operative_config_fn=None,
          max_train_seconds=None, allow_data_change=False, warm_start_generator=None,
          warm_start_discriminator=None, **trainer_kwargs):
  """Trains TrIVD-GAN-FP until `num_steps` (resuming from model_dir); the gin-configurable `train`.

  Args:
    model_dir, strategy: as `trainer.Trainer`.
    num_steps: the total number of steps (one step = d_steps_per_g_step D updates + 1 G update).
    log_every: steps between console progress lines and speed summaries.
    summary_every: steps between loss summaries.
    sample_every: steps between sample videos (TensorBoard images + samples/*.gif); 0 disables.
    checkpoint_every: steps between checkpoints (one is also written at the end).
    mixed_precision: True: build the models under the "mixed_bfloat16" Keras policy (bfloat16 compute, float32
      variables); False: float32; "auto": mixed_bfloat16 where the device has bfloat16 matrix units (TPU,
      GPU >= sm_80, AMX / AVX512-BF16 CPU), float32 elsewhere (`precision.choose`; one log line says which).
    intra_op_threads: None: TensorFlow's default (one thread per core for each op); n >= 1: at most n threads
      per op (`apply_intra_op_threads`: 1 makes tiny models' steps faster on a CPU).
    operative_config_fn: returns the gin operative config string (the CLI passes gin.operative_config_str).
    max_train_seconds: a wall-clock budget: stop (with a checkpoint) at the first step that ends after this many
      seconds of this invocation's training, counted from the end of the first (graph-building) step. None: no
      budget. For comparisons at equal wall-clock time (docs/learning.md).
    allow_data_change: resume a model_dir on other data than it was trained on (another dataset_fn, data_dir,
      batch size, clip length or resolution; model_config.json records them). Off: such a resume is refused.
    warm_start_generator, warm_start_discriminator: a NEW model_dir starts from an exported generator (G and
      EMA G; e.g. pretrained/moving_mnist) and/or a run's discriminator and its optimizer state, saved as its
      step-0 checkpoint (`warm_start`; fine-tuning, not in the paper). Ignored when model_dir resumes.
    **trainer_kwargs: every other argument of `Trainer` (the learning rates, batch size, models, data, ...),
      with Trainer's defaults. `train.__signature__` lists them, so gin sees (and records in the operative
      config) every one and refuses a binding of a name neither function has.

  Returns:
    {"step": the final step, "losses": the last step's {name: float}, "steps_per_sec": float, "trainer": the
    `trainer.Trainer` (its models, for tests and benchmarks; call its close() when done)}.
  """
  unknown = sorted(set(trainer_kwargs) - set(_TRAINER_PARAMETERS))
  if unknown:
    raise TypeError(f"train() got unknown arguments {unknown}; allowed: train's own and Trainer's "
                    f"({', '.join(_TRAINER_PARAMETERS)}).")
  apply_intra_op_threads(intra_op_threads)
  previous_policy = keras.mixed_precision.global_policy()
  use_bfloat16, reason = precision_lib.choose(mixed_precision, strategy)
  logging.info("Precision: %s (%s).", "mixed_bfloat16" if use_bfloat16 else "float32", reason)
  if use_bfloat16:
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
  try:
    trainer = trainer_lib.Trainer(model_dir, strategy=strategy, **trainer_kwargs)
  finally:
    keras.mixed_precision.set_global_policy(previous_policy)
  start = trainer.restore(allow_data_change=allow_data_change)
  operative = lambda: operative_config_fn() if operative_config_fn else None
  if start == 0 and (warm_start_generator or warm_start_discriminator):
    warm_start.apply(trainer, warm_start_generator, warm_start_discriminator)
    trainer.save(operative())
    logging.info("Warm start: G and EMA G from %s, D from %s (step-0 checkpoint written).",
                 warm_start_generator or "scratch", warm_start_discriminator or "scratch")
  writer = (tf.summary.create_file_writer(os.path.join(model_dir, "train")) if trainer.is_chief else
            tf.summary.create_noop_writer())
  values, step, rate = {}, start, 0.0
  if start >= num_steps:
    logging.info("model_dir %s is already at step %d >= num_steps %d; nothing to do.", model_dir, start,
                 num_steps)
  t_start = t_last = t_budget = time.perf_counter()
  last_logged = phase_first = start
  for step in range(start + 1, num_steps + 1):
    g_alone = trainer.in_generator_only_phase(step)
    new_phase = step == start + 1 or step == trainer.generator_only_steps + 1
    if new_phase:
      if not trainer.run_eagerly:  # tracing the step takes minutes for large models: say so
        logging.info("Building the %s step graph (the first step traces and compiles it) ...",
                     "G-alone" if g_alone else "training")
      t_start = time.perf_counter()
    values = trainer.train_step()
    if new_phase:
      # The first step of a phase includes tracing/compilation: measure speed from its end on.
      what = ("First (eager) step done" if trainer.run_eagerly else
              "G-alone step graph built" if g_alone else "Training step graph built")
      logging.info("%s in %.1f s.", what, time.perf_counter() - t_start)
      t_start = t_last = time.perf_counter()
      last_logged = phase_first = step
      if step == start + 1:
        t_budget = t_start
    clips_per_step = trainer.global_batch_size * (1 if g_alone else trainer.d_steps_per_g_step + 1)
    if step % log_every == 0 or step == num_steps:
      now = time.perf_counter()
      rate = (step - last_logged) / (now - t_last) if step > last_logged else 0.0
      overall = (step - phase_first) / (now - t_start) if step > phase_first else 0.0
      t_last, last_logged = now, step
      eta = (num_steps - step) / overall if overall > 0 else float("nan")
      losses_text = (f"G alone  g_loss {values['g_loss/total']:.4f}" if g_alone else
                     f"d_loss {values['d_loss/total']:.4f}  g_loss {values['g_loss/total']:.4f}")
      logging.info("step %d/%d  %s  %.2f steps/s  %.1f clips/s  ETA %s", step, num_steps, losses_text, rate,
                   rate * clips_per_step, progress.format_duration(eta) if math.isfinite(eta) else "?")
      with writer.as_default(step=step):
        if rate > 0:
          tf.summary.scalar("speed/steps_per_sec", rate)
          tf.summary.scalar("speed/clips_per_sec", rate * clips_per_step)
    if step % summary_every == 0 or step == num_steps:
      with writer.as_default(step=step):
        for name, value in values.items():
          tf.summary.scalar(name, value)
        tf.summary.scalar("learning_rate/g", trainer.g_learning_rate)
        tf.summary.scalar("learning_rate/d", trainer.d_learning_rate)
    if trainer.is_chief and sample_every and (step % sample_every == 0 or step == num_steps):
      path = write_samples(trainer, writer)
      logging.info("Wrote sample videos to %s", path)
    if step % checkpoint_every == 0 and step != num_steps:
      trainer.save(operative())
    if max_train_seconds is not None and time.perf_counter() - t_budget >= max_train_seconds:
      logging.info("Stopping at step %d: the wall-clock budget of %.0f s is spent.", step, max_train_seconds)
      break
  if num_steps > start and int(trainer.step.numpy()) > start:
    trainer.save(operative())
  writer.flush()
  overall = (step - phase_first) / (time.perf_counter() - t_start) if step > phase_first else 0.0
  return {"step": int(trainer.step.numpy()), "losses": values, "steps_per_sec": overall, "trainer": trainer}


def apply_intra_op_threads(threads):
  """Caps the threads TensorFlow gives each op in this process (`train.intra_op_threads`; None: its default).

  Why 1 for tiny models: at the demo's size (ch 4, 32x32 frames, batch 4) an op computes for microseconds, and
  splitting it over this 2-core CPU's two threads costs more than it saves; with one thread per op (ops still
  run side by side on the inter-op threads) the demo's steps took ~245 ms instead of ~390 ms. At ch 8 and
  64x64 it made no difference, and large convolutions need every core (docs/benchmarks.md).

  TensorFlow fixes the count when its runtime starts (the first op): later, only a warning says how to set it
  (the TF_NUM_INTRAOP_THREADS environment variable). Raises ValueError for anything but None or an int >= 1.
  """
  if threads is None:
    return
  if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
    raise ValueError(f"train.intra_op_threads must be None (TensorFlow's default) or an integer >= 1, got "
                     f"{threads!r}.")
  if tf.config.threading.get_intra_op_parallelism_threads() == threads:
    return  # already applied (the CLI applies it before building its strategy, then `train` again)
  try:
    tf.config.threading.set_intra_op_parallelism_threads(threads)
  except RuntimeError:  # the runtime has started: the count is fixed
    if os.environ.get("TF_NUM_INTRAOP_THREADS") != str(threads):
      logging.warning("train.intra_op_threads = %d not applied: TensorFlow's runtime had already started in "
                      "this process. Set the environment variable TF_NUM_INTRAOP_THREADS=%d before starting "
                      "Python.", threads, threads)
    return
  logging.info("Intra-op threads: %d per op (train.intra_op_threads).", threads)


def write_samples(trainer, writer):
  """Writes the trainer's sample videos (`Trainer.sample_videos`) to TensorBoard and to
  model_dir/samples/step_<step>_<ema|generator>.gif; returns the GIF's path."""
  from trivd_gan import visualization  # pylint: disable=g-import-not-at-top
  videos, source = trainer.sample_videos()
  step = int(trainer.step.numpy())
  # A strip per video: the Tc + Tp frames side by side, [N, H, T * W, 3].
  strips = np.concatenate(list(np.moveaxis(videos, 1, 0)), axis=2)
  with writer.as_default(step=step):
    tf.summary.image(f"samples/{source}", strips, max_outputs=len(strips))
  sample_dir = os.path.join(trainer.model_dir, "samples")
  tf.io.gfile.makedirs(sample_dir)
  # One GIF per step: the N videos side by side, one GIF frame per video frame.
  frames = np.concatenate(list(videos), axis=2)
  path = os.path.join(sample_dir, f"step_{step:08d}_{source}.gif")
  visualization.write_gif(path, frames, frame_duration_ms=250)  # 4 frames/s: slow enough to follow
  return path


def _train_signature():
  """`train`'s own parameters, then Trainer's after `model_dir, strategy` as keyword-only ones (their defaults
  written once, in Trainer)."""
  own = [p for p in inspect.signature(train).parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
  # [3:]: self, model_dir, strategy
  trainer_parameters = list(inspect.signature(trainer_lib.Trainer.__init__).parameters.values())[3:]
  return inspect.Signature(own + [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in trainer_parameters])


train.__signature__ = _train_signature()
# The names `train` passes on to Trainer, read from the signature just built.
_TRAINER_PARAMETERS = tuple(name for name, p in train.__signature__.parameters.items()
                            if p.kind is inspect.Parameter.KEYWORD_ONLY)
