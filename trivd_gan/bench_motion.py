"""Do TSRU's motion fields learn the true motion? (section 4.4, Figure 3; issue 7's sanity benchmark)

Trains a small TSRU_p model on synthetic clips in which everything translates with one known velocity, then
reads the generator's warping weights on held-out clips as expected flows (section 4.4), combines the three
levels across resolutions, and reports the cosine between the mean combined flow and the true velocity.

    python -m trivd_gan.bench_motion --model_dir=runs/motion --steps=400 [--velocity=0,2] [--json=PATH]

Re-running with the same model_dir resumes training up to --steps. Too slow for a test on 2 CPU cores (minutes
of training), hence a benchmark; docs/export.md records its result.
"""

import json
import pathlib

from absl import app
from absl import flags
from absl import logging
import gin
import numpy as np
import tensorflow as tf

from trivd_gan import configurables
from trivd_gan import data
from trivd_gan.layers import warping
from trivd_gan.models import generator as generator_lib
from trivd_gan.training import checkpoints

FLAGS = flags.FLAGS

ROOT = pathlib.Path(__file__).resolve().parents[1]


def bindings(velocity):
  """Gin bindings of the experiment: gin/demo.gin's model on globally translating synthetic clips."""
  dy, dx = velocity
  return [
      "train.dataset_fn = @synthetic_dataset",
      "synthetic_dataset.mode = 'global_translation'",
      f"synthetic_dataset.global_velocity = ({dy}, {dx})",
      "DiscriminatorEnsemble.decomposition = 'dvd_gan_fp_faster'",
      "Generator.num_context_frames = 2",
      "Generator.num_predicted_frames = 4",
      "DiscriminatorEnsemble.num_frames_K = 4",
      "train.sample_every = 0",
      "train.checkpoint_every = 100",
      "train.ema_start_step = 1000000",  # evaluate the raw G: the run is far shorter than E.2's EMA horizon
  ]


def mean_combined_flow(g, videos):
  """[2] mean (dy, dx) over positions, time and clips of the combined motion field of G's warping units.

  Flows are in pixels of the output resolution (the finest level is at half the frame size).
  """
  context = videos[:, :g.num_context_frames]
  z = generator_lib.sample_latents(videos.shape[0], g.latent_dim, truncation=0)
  _, weights = g.generate(context, z, training=False)
  if any(w is None for w in weights):
    raise ValueError(f"{g.recurrent_unit} does not warp: choose a TSRU or K-TrajGRU model.")
  num_frames = weights[0].shape[1]
  flows = []
  for t in range(num_frames):
    levels = [warping.expected_flow(w[:, t]) for w in weights]  # coarse to fine
    combined = warping.combine_flows(levels)
    flows.append(combined * (g.resolution / combined.shape[1]))  # finest level -> frame pixels
  return tf.reduce_mean(tf.stack(flows), axis=[0, 1, 2, 3]).numpy()


def main(argv):
  del argv
  velocity = [int(v) for v in FLAGS.velocity]
  gin.add_config_file_search_path(str(ROOT))
  gin.parse_config_files_and_bindings([str(ROOT / "gin/demo.gin")], bindings(velocity))
  configurables.train(model_dir=FLAGS.model_dir, num_steps=FLAGS.steps,
                      operative_config_fn=gin.operative_config_str)
  g = checkpoints.load_generator(FLAGS.model_dir, use_ema=False)
  dataset = data.make_dataset("synthetic", split="test", batch_size=FLAGS.num_clips, training=False,
                              num_frames=g.num_context_frames + g.num_predicted_frames, image_size=g.resolution,
                              mode="global_translation", global_velocity=velocity)
  videos = next(iter(dataset))["video"]
  flow = mean_combined_flow(g, videos)
  true = np.asarray(velocity, np.float64)
  cosine = float(np.dot(flow, true) / (np.linalg.norm(flow) * np.linalg.norm(true) + 1e-12))
  report = {"steps": FLAGS.steps, "true_velocity_dy_dx": velocity, "mean_flow_dy_dx": flow.tolist(),
            "cosine": cosine, "goal": "cosine > 0.5", "met": cosine > 0.5}
  logging.info("motion field: %s", report)
  print(json.dumps(report, indent=2))
  if FLAGS.json:
    pathlib.Path(FLAGS.json).write_text(json.dumps(report, indent=2))


def define_flags():
  """Defines the command-line flags (only when run as a program: importing defines none, so the
  module can be imported beside other programs that have flags of the same names)."""
  flags.DEFINE_string("model_dir", "runs/motion", "Where the small model is trained (resumes if present).")
  flags.DEFINE_integer("steps", 400, "Training steps (2 D updates + 1 G update each).")
  flags.DEFINE_list("velocity", ["0", "2"],
                    "True (dy, dx) motion of every pixel, in pixels per frame at 32x32.")
  flags.DEFINE_integer("num_clips", 16, "Held-out clips the motion field is averaged over.")
  flags.DEFINE_string("json", None, "Optional path of a JSON report.")


if __name__ == "__main__":
  define_flags()
  app.run(main)
