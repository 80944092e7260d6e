"""Exports the I3D embedder of FVD / Inception Score (paper 4.1) as a self-contained SavedModel.

  python export/export_eval_module.py --i3d=PATH|random --output=EXPORT_DIR

Signatures:
  embed(videos [B, T >= 9, H, W, 3] float32 in [-1, 1]) -> {"logits": [B, C] float32} (C = 400 for Kinetics-400
    weights): frames are resized to 224x224 with TF1 bilinear resizing inside (as the FVD reference does,
    `trivd_gan.evaluation.fvd.i3d_preprocess`);
  fvd(real_logits [N, d], generated_logits [M, d] float32) -> {"fvd": [] float64} (section 4.1;
    `fvd.frechet_distance_from_activations_tf`);
  inception_score(logits [N, C] float32) -> {"inception_score": [] float64} (one split).
So evaluation needs only this folder and TensorFlow.
Paper: Luc et al., Transformation-based Adversarial Video Prediction on Large-Scale Data (2020).
"""
# This file is the program (its docstring is its --help); the library it runs is
# trivd_gan.evaluation.embedder_export, importable without sys.path edits.

import os
import sys

if __package__ in (None, ""):  # run as a script from a clone: make the repository's package importable
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from trivd_gan import cli_setup  # pylint: disable=wrong-import-position
from trivd_gan.evaluation import embedder_export  # pylint: disable=wrong-import-position
from trivd_gan.evaluation import i3d_weights  # pylint: disable=wrong-import-position


def main(argv):
  from absl import flags  # pylint: disable=import-outside-toplevel
  del argv
  flags_ = flags.FLAGS
  try:
    if not flags_.i3d or not flags_.output:
      raise ValueError(f"--i3d and --output are required. {i3d_weights.WEIGHTS_HELP}")
    embedder_export.export_embedder(flags_.i3d, flags_.output, flags_.seed)
  except (ValueError, FileNotFoundError) as e:
    cli_setup.exit_with_error(e)


if __name__ == "__main__":
  from absl import app  # pylint: disable=import-outside-toplevel
  from absl import flags as absl_flags  # pylint: disable=import-outside-toplevel
  absl_flags.DEFINE_string("i3d", None, "I3D weights: a kinetics-i3d checkpoint, a local TF-Hub module folder, "
                           "or 'random' (tests only).")
  absl_flags.DEFINE_string("output", None, "Export folder.")
  absl_flags.DEFINE_integer("seed", 0, "Seed of --i3d=random.")
  app.run(main)
