"""The TrIVD-GAN-FP trainer (paper E.1-E.3): models, optimizers, the training step and checkpoints, on any
tf.distribute strategy. The loop that runs it (logging, summaries, samples, checkpoint cadence) is `loop.train`.

One training step = `d_steps_per_g_step` (2, E.1) discriminator updates and one generator update. Each update
reads a fresh batch of real clips [B, Tc + Tp, H, W, 3] float32 in [-1, 1]: G gets its first Tc frames as
context and D judges context + generated frames (Tc + Tp frames) against the real clip (eqs. 13-14). G's loss
adds the orthogonal regularization (weight 1e-4, E.2). Adam (beta1 = 0, beta2 = 0.999) with learning rates
1e-4 (G) and 5e-4 (D) (E.2). An EMA of G (decay 0.9999 from step 20,000, E.2) is kept in a second generator.

Distribution: per-replica losses are scaled by B_replica / global_batch_size (`losses.py`) and Keras
optimizers sum the replicas' gradients; noise (z), D's random frames and crops use stateless seeds drawn once
per step from a checkpointed tf.random.Generator, with the replica id folded in (different noise per replica).
"""

import contextlib
import gc
import math
import os

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from trivd_gan import compat
from trivd_gan import data as data_lib
from trivd_gan import inference
from trivd_gan import losses
from trivd_gan.models import decompositions
from trivd_gan.models import generator as generator_lib
from trivd_gan.models import seeds as seeds_lib
from trivd_gan.training import checkpoints
from trivd_gan.training import ema as ema_lib
from trivd_gan.training import field_terms
from trivd_gan.training import fused_adam
from trivd_gan.training import generator_only
from trivd_gan.training import grappler as grappler_lib
from trivd_gan.training import strategy as strategy_lib


class TrainingDivergedError(RuntimeError):
  """A loss became NaN or Inf; the run stopped without writing a checkpoint of the diverged weights."""


def _replica_seed(seed):
  """Folds the replica id into a [2] int64 seed (different noise and views on every replica)."""
  replica_id = tf.distribute.get_replica_context().replica_id_in_sync_group
  return tf.random.experimental.stateless_fold_in(seed, tf.cast(replica_id, tf.int64))


class Trainer(generator_only.GeneratorOnlySteps):
  """Builds G, D, the EMA generator, the optimizers and the checkpoint under `strategy`, and trains.

  Every argument after `strategy` is also an argument of `train` (gin: `train.<name>`); they are declared here
  only, and `train`'s signature is derived from this one.

  Args:
    model_dir: checkpoints, model_config.json, operative_config-<step>.gin, train/ summaries, samples/ GIFs.
    strategy: a tf.distribute.Strategy (`strategy.make_strategy`); None for the default one.
    generator_fn, discriminator_fn: build G and D from a layer name (gin: @Generator, @DiscriminatorEnsemble).
    dataset_fn: the training data (`data.make_dataset`'s sources); data_dir: its files, if any.
    global_batch_size: clips per D or G update over all replicas (512, E.2).
    d_steps_per_g_step: D updates per G update (2, E.1).
    g_learning_rate, d_learning_rate: Adam's learning rates (1e-4 and 5e-4, E.2).
    adam_beta1, adam_beta2, adam_epsilon: Adam's other parameters (0 and 0.999, E.2).
    orthogonal_reg_weight: weight of G's orthogonal regularization (1e-4, E.2).
    ema_decay, ema_start_step: the EMA of G's weights (0.9999 from step 20,000, E.2).
    seed: initial weights, noise, D's random frames and crops.
    jit_compile: compile the gradient computations with XLA.
    max_checkpoints_to_keep: checkpoints kept in model_dir.
    checkpoint_iterator: also checkpoint the input pipeline's position (exact resumes; larger checkpoints).
    run_eagerly: no tf.function: much faster for tiny models whose step is dominated by tracing (gin/tiny.gin).
    grappler: True, False or "auto": TF's graph optimizer on the step graphs ("auto": off for float32 on a CPU,
      where it costs seconds of graph building and gains no speed; `grappler.choose`).
    reconstruction_weight: 0 = the paper's eq. 14 alone; > 0 adds that times the L1 error of the predicted
      frames to G's loss, a departure for small-scale training explained in docs/learning.md.
    generator_only_steps: 0 = the paper's schedule; N > 0 (not in the paper; needs the L1 term or a field
      term): steps 1..N train G alone on those terms with z = 0, D idle; the GAN steps follow
      (`generator_only`).
    flow_mean_weight, warp_photometric_weight, flow_smoothness_weight, flow_smoothness_radius,
      flow_mean_radius, copy_mask_weight, chain_photometric_weight: 0 = the paper's objective; terms on G's
      motion fields (and copy mask) added to G's loss, as `field_terms.FieldTerms` (docs/learning.md
      experiments 11-16 and 20).
  """

  def __init__(self, model_dir, strategy=None, generator_fn=generator_lib.Generator,
               discriminator_fn=decompositions.DiscriminatorEnsemble, dataset_fn=data_lib.synthetic_dataset,
               data_dir=None, global_batch_size=512, d_steps_per_g_step=2, g_learning_rate=1e-4,
               d_learning_rate=5e-4, adam_beta1=0.0, adam_beta2=0.999, adam_epsilon=1e-8,
               orthogonal_reg_weight=1e-4, ema_decay=0.9999, ema_start_step=20000, seed=0, jit_compile=False,
               max_checkpoints_to_keep=5, checkpoint_iterator=False, run_eagerly=False, grappler="auto",
               reconstruction_weight=0.0, generator_only_steps=0, flow_mean_weight=0.0,
               warp_photometric_weight=0.0, flow_smoothness_weight=0.0, flow_smoothness_radius=0,
               flow_mean_radius=0, copy_mask_weight=0.0, chain_photometric_weight=0.0):
    if global_batch_size < 1 or d_steps_per_g_step < 1:
      raise ValueError(f"global_batch_size and d_steps_per_g_step must be >= 1, got {global_batch_size} and "
                       f"{d_steps_per_g_step}.")
    self.model_dir = model_dir
    self.strategy = strategy or tf.distribute.get_strategy()
    self.num_replicas = self.strategy.num_replicas_in_sync
    if global_batch_size % self.num_replicas:
      raise ValueError(f"train.global_batch_size={global_batch_size} must be divisible by the number of "
                       f"replicas ({self.num_replicas}).")
    self.is_chief = strategy_lib.is_chief(self.strategy)
    self.global_batch_size = int(global_batch_size)
    self.d_steps_per_g_step = int(d_steps_per_g_step)
    self.g_learning_rate, self.d_learning_rate = float(g_learning_rate), float(d_learning_rate)
    self.orthogonal_reg_weight = float(orthogonal_reg_weight)
    if reconstruction_weight < 0:
      raise ValueError(f"train.reconstruction_weight must be >= 0 (0 is the paper's objective), got "
                       f"{reconstruction_weight}.")
    self.reconstruction_weight = float(reconstruction_weight)
    self.jit_compile = bool(jit_compile)
    self.run_eagerly = bool(run_eagerly)
    bfloat16 = keras.mixed_precision.global_policy().compute_dtype == "bfloat16"
    self.grappler, reason = grappler_lib.choose(grappler, bfloat16, self.strategy, self.jit_compile)
    if not self.run_eagerly:
      logging.info("Graph optimizer (Grappler): %s (%s).", "on" if self.grappler else "off", reason)
    self.seed = int(seed)
    self.dataset_fn, self.data_dir = dataset_fn, data_dir  # recorded in model_config.json by restore()

    # Reproducible initial weights (Keras initializers draw from the global seed).
    keras.utils.set_random_seed(self.seed)
    with self.strategy.scope():
      self.generator = generator_fn(name="generator")
      self.ema_generator = generator_fn(name="ema_generator")
      self.discriminator = discriminator_fn(name="discriminator")
      self.tc = self.generator.num_context_frames
      self.num_frames = self.tc + self.generator.num_predicted_frames
      self.resolution = self.generator.resolution
      self.field_terms = field_terms.FieldTerms(self.generator, flow_mean_weight, warp_photometric_weight,
                                                flow_smoothness_weight, flow_smoothness_radius,
                                                flow_mean_radius, copy_mask_weight, chain_photometric_weight)
      if generator_only_steps < 0 or (generator_only_steps and not (reconstruction_weight or self.field_terms)):
        raise ValueError(f"train.generator_only_steps must be >= 0, and > 0 only with a G term to train on "
                         f"(train.reconstruction_weight or a field term's weight > 0); got "
                         f"{generator_only_steps} with none.")
      self.generator_only_steps = int(generator_only_steps)
      # Variables must exist before the optimizers are built and the checkpoint restored.
      self.generator.build_for_shapes(2)
      self.ema_generator.build_for_shapes(2)
      self.discriminator(tf.zeros([2, self.num_frames, self.resolution, self.resolution, 3]), training=False,
                         seed=0)
      # Keras' Adam, each variable's update fused into one kernel (fewer graph ops: faster graph building).
      self.g_optimizer = fused_adam.FusedAdam(g_learning_rate, beta_1=adam_beta1, beta_2=adam_beta2,
                                              epsilon=adam_epsilon, name="g_adam")
      self.d_optimizer = fused_adam.FusedAdam(d_learning_rate, beta_1=adam_beta1, beta_2=adam_beta2,
                                              epsilon=adam_epsilon, name="d_adam")
      # A Keras 3 optimizer used in a custom distributed loop must be built under the scope.
      self.g_optimizer.build(self.generator.trainable_variables)
      self.d_optimizer.build(self.discriminator.trainable_variables)
      self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    self.ema = ema_lib.GeneratorEMA(self.generator, self.ema_generator, ema_decay, ema_start_step)
    self.rng = tf.random.Generator.from_seed(self.seed)

    def make_dataset(input_context):
      ds = dataset_fn(data_dir=data_dir, batch_size=self.global_batch_size, num_frames=self.num_frames,
                      image_size=self.resolution, input_context=input_context, seed=self.seed)
      if compat.op_determinism_enabled():
        # Training pipelines trade order for speed; reproducible runs need the same batches in the same order.
        options = tf.data.Options()
        options.deterministic = True
        ds = ds.with_options(options)
      return ds

    self.dataset = self.strategy.distribute_datasets_from_function(make_dataset)
    self.iterator = iter(self.dataset)
    self.sample_batch = next(iter(dataset_fn(data_dir=data_dir, batch_size=4, num_frames=self.num_frames,
                                             image_size=self.resolution, seed=self.seed + 1)))

    objects = dict(generator=inference.variables_by_path(self.generator),
                   ema_generator=inference.variables_by_path(self.ema_generator),
                   discriminator=inference.variables_by_path(self.discriminator),
                   g_optimizer=self.g_optimizer, d_optimizer=self.d_optimizer, step=self.step, rng=self.rng)
    if checkpoint_iterator:
      objects["iterator"] = self.iterator
    self.checkpoint = tf.train.Checkpoint(**objects)
    directory = model_dir if self.is_chief else os.path.join(
        model_dir, f"worker_{strategy_lib.worker_index(self.strategy)}")
    self.manager = tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep=max_checkpoints_to_keep)
    # Eager steps skip tracing and graph optimization, which dominate with tiny models (tests, debugging).
    # autograph=False: the step has Python control flow only (and autograph mixed up the replica methods).
    # The G-alone step is traced only if a G-alone step runs (not on resumes past them).
    # A GAN step (d_steps_per_g_step D updates, then G's) is one graph, so TF runs the G forward pass of a later
    # update while an earlier D update computes: they share no variable (docs/benchmarks.md, session 30).
    graph = lambda fn: fn if run_eagerly else tf.function(fn, autograph=False)
    self._step = graph(self._step_fn)
    self._generator_only_step = graph(self._generator_only_step_fn)
    jit = lambda fn: tf.function(fn, jit_compile=True, autograph=False) if self.jit_compile else fn
    self._d_grads, self._g_grads = jit(self._d_grads_fn), jit(self._g_grads_fn)
    self._generator_only_grads = jit(self._generator_only_grads_fn)
    # Without Grappler, G's forward pass is traced once, as a function both updates call: D's without a tape,
    # G's under one (TF derives its gradient from the same graph): ~0.7 s less graph building at demo size. With
    # Grappler it stays inline: a nested function blocked Grappler's fusions (slower steps). One replica only:
    # a trace keeps the replica context it was traced in, which synchronized batch norm's gradient checks.
    # Likewise D's loss and gradients (after G's forward pass): one trace that each D update of the step calls.
    # Not inlined into the step: each is instantiated once, not once per call (~1 s sooner first step).
    share = not (run_eagerly or self.grappler or self.jit_compile) and self.num_replicas == 1
    nested = lambda fn: tf.function(fn, autograph=False, experimental_attributes={"_noinline": True})
    self._g_forward = nested(self._g_forward_fn) if share else self._g_forward_fn
    self._d_loss_grads = nested(self._d_loss_grads_fn) if share else self._d_loss_grads_fn

  # ---------------------------------------------------------------------------------------------- restore
  def restore(self, allow_data_change=False):
    """Resumes from the newest checkpoint of model_dir, if any; returns the restored step (0 if none).

    Raises ValueError if model_dir holds another architecture, or (unless allow_data_change) was trained on
    other data (dataset function, data_dir, batch size, clip length, resolution: model_config.json "data").
    """
    data = checkpoints.data_config(self.dataset_fn, self.data_dir, self.global_batch_size, self.num_frames,
                                   self.resolution)
    checkpoints.check_or_write_model_config(self.model_dir, self.generator, self.discriminator,
                                            write=self.is_chief, data=data, allow_data_change=allow_data_change)
    latest = self.manager.latest_checkpoint
    if latest is None:
      return 0
    try:
      self.checkpoint.restore(latest).assert_existing_objects_matched()
    except (ValueError, AssertionError, tf.errors.OpError) as e:
      first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
      raise ValueError(f"Cannot resume from {latest} ({first_line[:200]}); use a new --model_dir, or the gin "
                       "configuration that model_dir was trained with.") from e
    checkpoints.keep_configured_learning_rates({"G": (self.g_optimizer, self.g_learning_rate),
                                                "D": (self.d_optimizer, self.d_learning_rate)})
    logging.info("Resumed from %s at step %d.", latest, int(self.step.numpy()))
    return int(self.step.numpy())

  def close(self):
    """Destroys the input pipeline now; the models stay usable, but train_step and save no longer work.

    A tf.data iterator that is still alive when the interpreter shuts down waits forever for its in-flight
    Python calls (video_folder's decoding generator, the numpy_function sources) in its destructor: programs
    call this before they exit. Idempotent.
    """
    # The checkpoint (and its manager) may track the iterator.
    self.iterator = self.dataset = self.checkpoint = self.manager = None
    gc.collect()  # also whatever of it sits in reference cycles

  # -------------------------------------------------------------------------------------------- the step
  def _generate(self, video, labels, seed):
    """(context + G's prediction [B, T, H, W, 3], [warp weights, mask] with field terms, else [None])."""
    context = video[:, :self.tc]
    z = generator_lib.sample_latents(tf.shape(video)[0], self.generator.latent_dim, seed=seed)
    fake, *parts = self._g_forward(context, z, labels)
    return tf.concat([context, tf.cast(fake, video.dtype)], axis=1), parts

  def _g_forward_fn(self, context, z, labels):
    # `generate` also returns the warping weights and mask; the Keras call (the default path) does not.
    if self.field_terms:
      return self.generator.generate(context, z, labels, training=True, return_mask=True)
    return self.generator(context, z, labels, training=True), None

  def _labels(self, batch):
    """(G labels, D labels): the batch's class labels for class-conditional models, None (dummy class 0)."""
    g_labels = batch["label"] if self.generator.num_classes > 1 else None
    d_labels = batch["label"] if self.discriminator.num_classes > 0 else None
    return g_labels, d_labels

  def _d_grads_fn(self, video, g_labels, d_labels, seed):
    """(D's gradients, loss, {name: loss}) of one D update: G's prediction (no tape), then eq. 13 on it."""
    seed_z, seed_d = tf.unstack(seeds_lib.split_seed(seed, 2))
    fake_video, _ = self._generate(video, g_labels, seed_z)
    return self._d_loss_grads(video, fake_video, d_labels, seed_d)

  def _d_loss_grads_fn(self, video, fake_video, d_labels, seed_d):
    with tf.GradientTape() as tape:
      total, per_d = losses.discriminator_step_loss(self.discriminator, video, fake_video, d_labels,
                                                    seed=seed_d, training=True,
                                                    global_batch_size=self.global_batch_size)
    grads = tape.gradient(total, self.discriminator.trainable_variables)
    return grads, total, per_d

  def _g_grads_fn(self, video, g_labels, d_labels, seed):
    seed_z, seed_d = tf.unstack(seeds_lib.split_seed(seed, 2))
    with tf.GradientTape() as tape:
      fake_video, parts = self._generate(video, g_labels, seed_z)
      total, per_d = losses.generator_step_loss(self.discriminator, fake_video, d_labels, seed=seed_d,
                                                training=True, global_batch_size=self.global_batch_size)
      ortho = losses.orthogonal_regularization(self.generator.trainable_variables, self.orthogonal_reg_weight,
                                               replica_scale=1.0 / self.num_replicas)
      terms = self._non_adversarial_terms(video, fake_video[:, self.tc:], parts)
      per_d = {**per_d, **terms}
      loss = total + ortho
      if terms:  # the paper's objective adds nothing (and no op) here
        loss += sum(terms.values())
    grads = tape.gradient(loss, self.generator.trainable_variables)
    return grads, total, per_d, ortho

  def _non_adversarial_terms(self, video, prediction, parts):
    """{name: weighted term} of G's terms beyond eq. 14 (none in the paper's objective): the L1 error of the
    prediction [B, Tp, H, W, 3] (docs/learning.md: ties each prediction to its context at small scale) and the
    terms on G's fields (experiments 11-16), from `parts` = [warping weights, mask] of `_g_forward`."""
    terms = {}
    if self.reconstruction_weight:
      terms["reconstruction"] = self.reconstruction_weight * losses.reconstruction_loss(
          video[:, self.tc:], prediction, global_batch_size=self.global_batch_size)
    if self.field_terms:
      terms.update(self.field_terms(self.generator.frame_flows(parts[0]), video, self.tc, *parts[1:],
                                    prediction=prediction, global_batch_size=self.global_batch_size))
    return terms

  def step_graphs(self):
    """[the ConcreteFunction of one GAN step] (D's updates and G's in one graph; nested calls count per call).

    Traced here if not yet; for benchmarks that count the step's ops and FLOPs. Not with run_eagerly (no graph).
    """
    if self.run_eagerly:
      raise ValueError("run_eagerly=True trains without a step graph; build the Trainer with "
                       "run_eagerly=False.")
    seeds = tf.zeros([2, self.d_steps_per_g_step + 1], tf.int64)
    return [self._step.get_concrete_function(self.iterator, seeds)]

  def _global_sum(self, x):
    """The sum over replicas of a per-replica scalar (losses are already scaled to the global batch)."""
    return self.strategy.reduce(tf.distribute.ReduceOp.SUM, x, axis=None)

  def _d_replica_step(self, batch, seed):
    g_labels, d_labels = self._labels(batch)
    grads, total, per_d = self._d_grads(batch["video"], g_labels, d_labels, _replica_seed(seed))
    self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_variables))
    return total, per_d

  def _g_replica_step(self, batch, seed):
    g_labels, d_labels = self._labels(batch)
    grads, total, per_d, ortho = self._g_grads(batch["video"], g_labels, d_labels, _replica_seed(seed))
    self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))
    return total, per_d, ortho

  def _d_step_fn(self, iterator, seed):
    """One D update in cross-replica context; returns {summary name: float32 scalar} (global means)."""
    total, per_d = self.strategy.run(self._d_replica_step, args=(next(iterator), seed))
    out = {f"d_loss/{name}": self._global_sum(value) for name, value in per_d.items()}
    out["d_loss/total"] = self._global_sum(total)
    return out

  def _g_step_fn(self, iterator, seed):
    """The G update that ends a training step (and the step's EMA update); returns global means as above."""
    total, per_g, ortho = self.strategy.run(self._g_replica_step, args=(next(iterator), seed))
    out = {f"g_loss/{name}": self._global_sum(value) for name, value in per_g.items()}
    out["g_loss/total"] = self._global_sum(total)
    out["g_loss/orthogonal_reg"] = self._global_sum(ortho)
    self.step.assign_add(1)
    self.ema.update(self.step)
    return out

  def _step_fn(self, iterator, seeds):
    """One GAN step, seeds [2, d_steps_per_g_step + 1] int64: ([D's outputs] per D update, G's outputs)."""
    d_outs = [self._d_step_fn(iterator, seeds[:, i]) for i in range(self.d_steps_per_g_step)]
    return d_outs, self._g_step_fn(iterator, seeds[:, self.d_steps_per_g_step])

  def train_step(self):
    """Runs one step; returns {name: float} (D's: means over its updates); TrainingDivergedError on NaN/Inf."""
    step = int(self.step.numpy()) + 1
    with contextlib.nullcontext() if self.grappler else compat.grappler_off():
      if self.in_generator_only_phase(step):
        values = {k: float(v) for k, v in self._generator_only_step(self.iterator).items()}
      else:
        n = self.d_steps_per_g_step
        d_outs, g_out = self._step(self.iterator, self.rng.make_seeds(n + 1))
        values = {k: sum(float(d[k]) for d in d_outs) / n for k in d_outs[0]}
        values.update({k: float(v) for k, v in g_out.items()})
    bad = sorted(k for k, v in values.items() if not math.isfinite(v))
    if bad:
      raise TrainingDivergedError(
          f"Loss became NaN/Inf at step {step} ({', '.join(f'{k}={values[k]}' for k in bad)}); stopped without "
          f"saving; the last good checkpoint in {self.model_dir} is kept. Lower the learning rates or resume.")
    return values

  # ----------------------------------------------------------------------------------------- outputs
  def save(self, operative_config=None):
    """Writes a checkpoint (and, on the chief, the operative gin config) for the current step."""
    step = int(self.step.numpy())
    self.manager.save(checkpoint_number=step)
    if self.is_chief and operative_config is not None:
      with tf.io.gfile.GFile(os.path.join(self.model_dir, f"operative_config-{step}.gin"), "w") as f:
        f.write(operative_config)

  def sample_videos(self):
    """[N, Tc + Tp, H, W, 3] uint8: context + prediction of the EMA generator (G before the EMA starts)."""
    step = int(self.step.numpy())
    g = self.ema_generator if self.ema.exists(step) else self.generator
    video = self.sample_batch["video"]
    z = generator_lib.sample_latents(video.shape[0], g.latent_dim, seed=tf.constant([self.seed, 1], tf.int64))
    fake = g(video[:, :self.tc], z, self._labels(self.sample_batch)[0], training=False)
    full = tf.concat([video[:, :self.tc], fake], axis=1).numpy()
    return np.clip((full + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8), ("ema" if g is self.ema_generator
                                                                          else "generator")
