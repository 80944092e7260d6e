r"""G alone on its own field terms, from an exported generator (docs/learning.md experiment 18).

Fine-tunes an exported generator (`--model`, built from the gin of the stage that made it) on Moving MNIST
training sequences with G's terms on its motion fields only, the ones the shipped model's last stage adds to the
adversarial loss: the photometric term (`field_losses.warp_photometric_loss`, on G's fields as trained, or with
--pooled_photometric on the fields pooled over the real previous frame as the warp chain pools them)
and the copy-mask term (`field_losses.copy_mask_loss`); optionally the L1 reconstruction term. There is no
discriminator: a diagnostic of how far the fields can learn each digit's motion from their own targets, not a
recipe (the trainer's `train.generator_only_steps` trains G alone too and saves its weights; this program adds
--pooled_photometric and held-out scores during training). Every --eval_every steps it
scores the first --num_eval_clips held-out test sequences: each digit's distance and recall per predicted frame
(experiments/walls.py) and PSNR / SSIM against copy-last-frame (`trivd_gan.evaluation.heldout`), with z = 0.

  python -m experiments.field_finetune --model=pretrained/moving_mnist --data_dir=../shared/data/mnist \
      --steps=1000 --eval_every=250 --json=runs/field_finetune.json
"""

import json
import time

from absl import app
from absl import flags
import numpy as np

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string("model", "pretrained/moving_mnist", "The exported generator to start from.")
  flags.DEFINE_string("gin_file", "gin/pretrained/moving_mnist_pooled_4.gin",
                      "The gin file of the run that made the export (its Generator).")
  flags.DEFINE_string("chain_pooling", "window", "Generator.chain_pooling of the export (its --chain_pooling; "
                      "experiment 18's stage-4 export: object).")
  flags.DEFINE_string("data_dir", None, "The MNIST folder: training digits to train on, test digits to score.")
  flags.DEFINE_integer("steps", 300, "G updates.")
  flags.DEFINE_integer("batch_size", 8, "Training sequences per update.")
  flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate (beta1 = 0, beta2 = 0.999: the trainer's G).")
  flags.DEFINE_float("photometric_weight", 100.0, "Weight of the photometric term (stage 4: 100).")
  flags.DEFINE_boolean("pooled_photometric", False, "The photometric term on the fields pooled as the chain "
                       "pools them (--chain_pooling).")
  flags.DEFINE_float("copy_mask_weight", 10.0, "Weight of the copy-mask term (stage 4: 10).")
  flags.DEFINE_float("reconstruction_weight", 0.0, "Weight of the L1 error of the predicted frames.")
  flags.DEFINE_integer("eval_every", 100, "Steps between held-out scores.")
  flags.DEFINE_integer("num_eval_clips", 256, "Held-out test sequences scored.")
  flags.DEFINE_integer("seed", 0, "Training sequences and latents.")
  flags.DEFINE_string("json", None, "Writes the curve here (after every evaluation).")


def run(data_dir, model="pretrained/moving_mnist", gin_file="gin/pretrained/moving_mnist_pooled_4.gin",
        chain_pooling="window", steps=300, batch_size=8, learning_rate=1e-3, photometric_weight=100.0,
        pooled_photometric=False, copy_mask_weight=10.0, reconstruction_weight=0.0, eval_every=100,
        num_eval_clips=256, seed=0, json_path=None, log=print):
  """Fine-tunes as the module docstring says; returns the curve, one dict per evaluation (step 0 first)."""
  import gin  # pylint: disable=import-outside-toplevel
  import keras  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  from experiments import walls  # pylint: disable=import-outside-toplevel
  from trivd_gan import configurables  # pylint: disable=import-outside-toplevel
  from trivd_gan import data  # pylint: disable=import-outside-toplevel
  from trivd_gan import field_losses  # pylint: disable=import-outside-toplevel
  from trivd_gan.evaluation import heldout  # pylint: disable=import-outside-toplevel
  from trivd_gan.models import chain_pooling as chain_pooling_lib  # pylint: disable=import-outside-toplevel
  from trivd_gan.training import warm_start  # pylint: disable=import-outside-toplevel

  gin.clear_config()
  configurables.parse([gin_file], [f"Generator.chain_pooling = '{chain_pooling}'"])
  keras.utils.set_random_seed(seed)
  g = gin.get_configurable("Generator")().build_for_shapes(1)
  if g.output_mode != "warp_chain" or not g.chain_pooling_radius:
    raise ValueError(f"{gin_file} does not build a pooled warp_chain generator; field_finetune needs one.")
  warm_start.generator_from_export([g], model)
  tc, tp, size = g.num_context_frames, g.num_predicted_frames, g.resolution
  optimizer = keras.optimizers.Adam(learning_rate, beta_1=0.0, beta_2=0.999)
  optimizer.build(g.trainable_variables)

  def photometric(real, flows):
    if pooled_photometric:  # each step's field pooled over the real frame it moves, as the chain pools
      flows = chain_pooling_lib.pooled_flows(g.chain_pooling, real[:, tc - 1:-1], flows, g.chain_pooling_radius)
    return field_losses.warp_photometric_loss(real, flows, tc)

  @tf.function(autograph=False)
  def step(real, z):
    with tf.GradientTape() as tape:
      frames, warp_weights, mask = g.generate(real[:, :tc], z, training=True, return_mask=True)
      flows = g.frame_flows(warp_weights)
      terms = {"photometric": photometric(real, flows),
               "copy_mask": field_losses.copy_mask_loss(real, flows, mask, tc),
               "reconstruction": tf.reduce_mean(tf.abs(frames - real[:, tc:]))}
      loss = (photometric_weight * terms["photometric"] + copy_mask_weight * terms["copy_mask"] +
              reconstruction_weight * terms["reconstruction"])
    optimizer.apply_gradients(zip(tape.gradient(loss, g.trainable_variables), g.trainable_variables))
    return terms

  seqs = walls.held_out_sequences(data_dir, num_eval_clips, tc + tp, size)
  video = np.repeat(seqs["video"][..., None], 3, axis=-1).astype(np.float32) / 127.5 - 1.0
  predict = tf.function(lambda c: g.generate(c, tf.zeros([tf.shape(c)[0], g.latent_dim]))[0], autograph=False)

  def evaluate(at, train_terms):
    predictions = np.concatenate([predict(tf.constant(video[i:i + 32, :tc])).numpy()
                                  for i in range(0, num_eval_clips, 32)])
    scores = heldout.HeldOutScores()
    scores.update(video[:, :tc], video[:, tc:], predictions)
    scores = scores.result()
    ink, positions = (predictions.mean(axis=-1) + 1.0) / 2.0, seqs["positions"][:, tc:]
    entry = {"step": at, "train_terms": train_terms,
             "distance_px": np.linalg.norm(walls.track_digits(ink, positions, seqs["digits"]), axis=-1)
                            .mean(axis=(0, 2)).tolist(),
             "recall": walls.digit_recall(ink, positions, seqs["digits"], 2).mean(axis=(0, 2)).tolist(),
             "psnr": scores["model"]["mean_psnr"], "ssim": scores["model"]["mean_ssim"],
             "copy_last_psnr": scores["copy_last_frame"]["mean_psnr"],
             "copy_last_ssim": scores["copy_last_frame"]["mean_ssim"]}
    at_frames = lambda key, digits: " / ".join(f"{entry[key][k]:.{digits}f}" for k in (0, 2, 4))
    log(f"step {at}: distance at frames 1 / 3 / 5 {at_frames('distance_px', 2)} px, recall "
        f"{at_frames('recall', 2)}" +
        f", PSNR {entry['psnr']:.2f} dB (copy-last {entry['copy_last_psnr']:.2f}), SSIM {entry['ssim']:.3f}")
    curve.append(entry)
    if json_path:
      with open(json_path, "w") as fh:
        json.dump(curve, fh, indent=1)

  curve = []
  evaluate(0, None)
  ds = data.make_dataset("moving_mnist", split="train", data_dir=data_dir, batch_size=batch_size,
                         num_frames=tc + tp, image_size=size, training=True, seed=seed)
  iterator, start, sums = iter(ds), time.time(), {}
  try:
    for at in range(1, steps + 1):
      z = tf.random.stateless_normal([batch_size, g.latent_dim], seed=[seed, at])
      for name, value in step(next(iterator)["video"], z).items():
        sums[name] = sums.get(name, 0.0) + float(value)
      if at % eval_every == 0 or at == steps:
        count = eval_every if at % eval_every == 0 else at % eval_every
        log(f"step {at}: {(time.time() - start) / at:.2f} s a step; mean terms " +
            ", ".join(f"{k} {v / count:.4f}" for k, v in sums.items()))
        evaluate(at, {k: v / count for k, v in sums.items()})
        sums = {}
  finally:
    del iterator  # ends the tf.data iterator before the interpreter shuts down
  return curve


def main(argv):
  from trivd_gan import cli_setup  # pylint: disable=import-outside-toplevel
  if len(argv) > 1:
    cli_setup.exit_with_error(f"unexpected arguments {argv[1:]}; use --flag=value.")
  try:
    run(FLAGS.data_dir, FLAGS.model, FLAGS.gin_file, FLAGS.chain_pooling, FLAGS.steps, FLAGS.batch_size,
        FLAGS.learning_rate, FLAGS.photometric_weight, FLAGS.pooled_photometric, FLAGS.copy_mask_weight,
        FLAGS.reconstruction_weight, FLAGS.eval_every, FLAGS.num_eval_clips, FLAGS.seed, FLAGS.json)
  except (ValueError, OSError) as e:
    cli_setup.exit_with_error(e)


if __name__ == "__main__":
  define_flags()
  app.run(main)
