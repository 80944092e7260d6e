r"""Can G's motion fields learn the content's motion? G alone, L1 loss, photograph pans (learning.md exp. 8).

Trains only the generator (no discriminator) on the natural source's photograph clips (camera pans with a known
velocity, `trivd_gan.data.natural`), with the L1 error of its predicted frames as the loss and, with
--flow_weight > 0, a supervised term pulling each clip's mean motion field to the clip's true velocity (a
diagnostic of whether the fields can represent the motion at all, not a training recipe). Every --eval_every
steps it scores the held-out pans of the held-out photograph: the mean cosine between each clip's mean motion
field and its velocity (`probe.motion_report`) and the L1 error of the first and of all predicted frames.

  python -m experiments.motion_readout --output_mode=warp --steps=1000 --encoder_correlation \
      --nowarp_spectral_norm --output_json=runs/motion_readout.json
"""

import json
import time

from absl import app
from absl import flags

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_enum("output_mode", "warp", ["pixels", "composite", "warp"], "Generator.output_mode.")
  flags.DEFINE_integer("steps", 400, "Training steps (batch --batch_size).")
  flags.DEFINE_integer("batch_size", 8, "Clips per step.")
  flags.DEFINE_integer("channel_multiplier", 8, "Generator.channel_multiplier.")
  flags.DEFINE_integer("resolution", 64, "Frame size (a multiple of 32).")
  flags.DEFINE_string("recurrent_unit", "tsru_p", "Generator.recurrent_unit (a warping unit).")
  flags.DEFINE_bool("encoder_correlation", False, "Generator.encoder_correlation.")
  flags.DEFINE_bool("warp_spectral_norm", True, "Generator.warp_spectral_norm.")
  flags.DEFINE_float("flow_weight", 0.0, "Weight of the supervised mean-flow term (0: L1 only).")
  flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate (beta1 = 0, beta2 = 0.999, as the trainer).")
  flags.DEFINE_integer("eval_every", 50, "Steps between held-out scores.")
  flags.DEFINE_integer("num_eval_clips", 64, "Held-out pans scored.")
  flags.DEFINE_integer("seed", 0, "Initial weights and training clips.")
  flags.DEFINE_string("output_json", None, "Writes the curve here.")


def run(output_mode="warp", steps=400, batch_size=8, channel_multiplier=8, resolution=64,
        recurrent_unit="tsru_p", encoder_correlation=False, warp_spectral_norm=True, flow_weight=0.0,
        learning_rate=1e-3, eval_every=50, num_eval_clips=64, seed=0, log=print):
  """Trains G alone as the module docstring says; returns the list of held-out scores, one dict per evaluation.

  Clips are 5 context + 11 predicted frames; z = 0 (the prediction of truncation 0).
  """
  import keras  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  from trivd_gan import data  # pylint: disable=import-outside-toplevel
  from trivd_gan import inference  # pylint: disable=import-outside-toplevel
  from trivd_gan import probe  # pylint: disable=import-outside-toplevel
  from trivd_gan.models import generator as generator_lib  # pylint: disable=import-outside-toplevel
  from trivd_gan.training import fused_adam  # pylint: disable=import-outside-toplevel

  tc, tp = 5, 11
  keras.utils.set_random_seed(seed)
  g = generator_lib.Generator(channel_multiplier=channel_multiplier, recurrent_unit=recurrent_unit,
                              num_context_frames=tc, num_predicted_frames=tp, resolution=resolution,
                              output_mode=output_mode, encoder_correlation=encoder_correlation,
                              warp_spectral_norm=warp_spectral_norm).build_for_shapes(2)
  # The trainer's Adam: Keras' formula, one fused kernel per variable (fewer ops to trace than Keras Adam).
  optimizer = fused_adam.FusedAdam(learning_rate, beta_1=0.0, beta_2=0.999)
  optimizer.build(g.trainable_variables)
  latent = tf.zeros([batch_size, g.latent_dim])

  @tf.function(autograph=False)
  def step(video, velocity):
    context, future = video[:, :tc], video[:, tc:]
    with tf.GradientTape() as tape:
      frames, warp_weights = g.generate(context, latent, training=True)
      loss = tf.reduce_mean(tf.abs(frames - future))
      if flow_weight:
        flow, _ = inference.motion_fields(g, warp_weights, batch_size)
        loss += flow_weight * tf.reduce_mean(tf.square(tf.reduce_mean(flow, axis=[1, 2, 3]) - velocity))
    optimizer.apply_gradients(zip(tape.gradient(loss, g.trainable_variables), g.trainable_variables))
    return loss

  clips, velocities = probe.held_out_clips("natural", None, "test", num_eval_clips, 16, tc + tp, resolution,
                                           with_motion=True)
  clips, velocities = np.concatenate(clips), np.concatenate(velocities)

  def evaluate(at_step, loss):
    frames, warp_weights = g.generate(tf.constant(clips[:, :tc]), tf.zeros([len(clips), g.latent_dim]))
    flow, _ = inference.motion_fields(g, warp_weights, len(clips))
    report = probe.motion_report(flow.numpy().mean(axis=(1, 2, 3)), velocities)
    l1 = np.abs(frames.numpy() - clips[:, tc:]).mean(axis=(0, 2, 3, 4))
    copy_l1 = np.abs(clips[:, tc - 1:tc] - clips[:, tc:]).mean(axis=(0, 2, 3, 4))
    return {"step": at_step, "train_loss": loss, "mean_cosine": report["mean_cosine"],
            "fraction_above_0.5": report["fraction_above_0.5"], "l1_first_frame": float(l1[0]),
            "l1_mean": float(l1.mean()), "copy_last_l1_first_frame": float(copy_l1[0]),
            "copy_last_l1_mean": float(copy_l1.mean())}

  source = data.make_dataset("natural", split="train", batch_size=batch_size, num_frames=tc + tp,
                             image_size=resolution, training=True, seed=seed, videos=[], with_motion=True)
  iterator = iter(source)
  curve, start = [], time.perf_counter()
  try:
    for at_step in range(1, steps + 1):
      batch = next(iterator)
      loss = float(step(batch["video"], batch["velocity"]))
      if at_step % eval_every == 0 or at_step == steps:
        curve.append(evaluate(at_step, loss))
        c = curve[-1]
        log(f"step {at_step}  loss {loss:.4f}  held-out: motion cosine {c['mean_cosine']:.3f} "
            f"(>0.5: {c['fraction_above_0.5']:.2f})  L1 first frame {c['l1_first_frame']:.4f} "
            f"(copy-last {c['copy_last_l1_first_frame']:.4f})  mean {c['l1_mean']:.4f} "
            f"({c['copy_last_l1_mean']:.4f})  {time.perf_counter() - start:.0f} s")
  finally:
    del iterator  # ends the tf.data iterator (Python-backed) before the interpreter shuts down
  return curve


def main(argv):
  del argv
  settings = {name: FLAGS[name].value for name in (
      "output_mode", "steps", "batch_size", "channel_multiplier", "resolution", "recurrent_unit",
      "encoder_correlation", "warp_spectral_norm", "flow_weight", "learning_rate", "eval_every",
      "num_eval_clips", "seed")}
  curve = run(**settings)
  if FLAGS.output_json:
    with open(FLAGS.output_json, "w", encoding="utf-8") as f:
      json.dump({"settings": settings, "curve": curve}, f, indent=1)


if __name__ == "__main__":
  define_flags()
  app.run(main)
