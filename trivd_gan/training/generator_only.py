"""G-alone steps (NOT in the paper; `train.generator_only_steps`, docs/learning.md experiments 9 and 19).

The steps up to N of a run with `train.generator_only_steps = N` update G alone on its non-adversarial terms:
the L1 error of the predicted frames (times `train.reconstruction_weight`), the terms on its motion fields
(`field_terms.FieldTerms`: photometric, copy mask, ...) and the orthogonal regularization (E.2). D is neither
run nor updated; z = 0 (the mean prediction, which the shipped models are evaluated on: truncation 0). The GAN
steps (eqs. 13-14) follow from step N + 1; a run resumed past step N has no G-alone steps, and a stage resumed
at step S < N has G-alone steps S + 1..N. The paper's schedule is N = 0.

Uses: a regression warm-up before the GAN (experiment 9: it did not help), and fine-tuning a trained generator
on its field terms alone (experiment 19: a discriminator-free last stage of the Moving MNIST recipe).
"""

import tensorflow as tf

from trivd_gan import losses


class GeneratorOnlySteps:
  """The G-alone step of `trainer.Trainer` (a mixin: it uses the trainer's models, strategy and optimizers)."""

  def in_generator_only_phase(self, step):
    """Whether training step `step` (1-based) is a G-alone step."""
    return step <= self.generator_only_steps

  def _generator_only_grads_fn(self, video, g_labels):
    """(G's gradients, {name: weighted term}, orthogonal regularization) of one G-alone update."""
    z = tf.zeros([tf.shape(video)[0], self.generator.latent_dim])
    with tf.GradientTape() as tape:
      fake, *parts = self._g_forward(video[:, :self.tc], z, g_labels)
      terms = self._non_adversarial_terms(video, tf.cast(fake, video.dtype), parts)  # as the GAN step's
      ortho = losses.orthogonal_regularization(self.generator.trainable_variables, self.orthogonal_reg_weight,
                                               replica_scale=1.0 / self.num_replicas)
      loss = sum(terms.values()) + ortho
    grads = tape.gradient(loss, self.generator.trainable_variables)
    return grads, terms, ortho

  def _generator_only_replica_step(self, batch):
    grads, terms, ortho = self._generator_only_grads(batch["video"], self._labels(batch)[0])
    self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))
    return terms, ortho

  def _generator_only_step_fn(self, iterator):
    """One G-alone step in cross-replica context; returns {summary name: float32 scalar} (global means)."""
    terms, ortho = self.strategy.run(self._generator_only_replica_step, args=(next(iterator),))
    out = {f"g_loss/{name}": self._global_sum(value) for name, value in terms.items()}
    out["g_loss/total"] = sum(out.values())  # the G-alone objective without the orthogonal regularization
    out["g_loss/orthogonal_reg"] = self._global_sum(ortho)
    self.step.assign_add(1)
    self.ema.update(self.step)
    return out
