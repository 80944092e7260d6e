r"""How far a generator's first-step field is from each digit's true displacement, as G draws it and as the
warp chain pools it (docs/learning.md experiment 21).

Predicts the held-out Moving MNIST sequences of `experiments/walls.py` with an exported generator (z = 0),
reads its first predicted step's motion field (as G draws it: the export's "motion_field" output) at each
digit's ink where the digit is in the last context frame, pools the same field over the last context frame with
`chain_pooling.pooled_flow` ("object" and "window", --radius) and reads that too; reports the mean distance
(px) to the digit's true displacement, over all digits and split by how many connected regions
(`chain_pooling.content_regions`) the last context frame has: 1 = the two digits are one object.

  python -m experiments.pooled_fields --model=pretrained/moving_mnist --data_dir=../shared/data/mnist \
      --num_clips=256
"""

import json

from absl import app
from absl import flags
import numpy as np

from experiments import walls


def define_flags():
  flags.DEFINE_string("model", "pretrained/moving_mnist", "An exported SavedModel.")
  flags.DEFINE_string("data_dir", None, "The MNIST folder (test digits).", required=True)
  flags.DEFINE_integer("num_clips", 256, "Held-out sequences (the first ones, as walls' and the probe's).")
  flags.DEFINE_integer("radius", 4, "The pooling radius (px), as Generator.chain_pooling_radius.")
  flags.DEFINE_string("json", None, "Optional report path.")


def field_at_digits(field, positions, digits):
  """[N, D, 2]: the mean of field [N, S, S, 2] over each digit's ink (digits [N, D, 28, 28] uint8) drawn with
  its top-left corner at positions [N, D, 2] (clipped to the frame)."""
  n, d = positions.shape[:2]
  size, frame = digits.shape[-1], field.shape[1]
  out = np.zeros((n, d, 2))
  for i in range(n):
    for k in range(d):
      y, x = positions[i, k]
      y0, x0, y1, x1 = max(y, 0), max(x, 0), min(y + size, frame), min(x + size, frame)
      ink = digits[i, k, y0 - y:y1 - y, x0 - x:x1 - x] / 255.0
      out[i, k] = (field[i, y0:y1, x0:x1] * ink[..., None]).sum((0, 1)) / max(ink.sum(), 1e-6)
  return out


def run(data_dir, model, num_clips=256, radius=4, batch_size=32):
  """{"regions": {number of regions: sequences}, "error_px": {field: {"all": mean, "1": mean, ...}}, ...}."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from trivd_gan import inference  # pylint: disable=import-outside-toplevel
  from trivd_gan.models import chain_pooling  # pylint: disable=import-outside-toplevel
  predictor = inference.Predictor(model=model)
  tc, tp = predictor.num_context_frames, predictor.num_predicted_frames
  seqs = walls.held_out_sequences(data_dir, num_clips, tc + tp)
  video = np.repeat(seqs["video"][..., None], 3, axis=-1)
  fields = {"raw": [], "object": [], "window": []}
  regions = []
  for start in range(0, num_clips, batch_size):
    last = tf.constant(video[start:start + batch_size, tc - 1].astype(np.float32) / 127.5 - 1.0)
    out = predictor.predict(video[start:start + batch_size, :tc], [0, 7], 0.0)
    raw = tf.constant(out["motion_field"][:, 0], tf.float32)
    fields["raw"].append(raw.numpy())
    for mode in ("object", "window"):
      fields[mode].append(chain_pooling.pooled_flow(mode, last, raw, radius).numpy())
    labels = chain_pooling.content_regions(last, radius).numpy()
    regions += [len(np.unique(label[label > 0])) for label in labels]
  regions = np.array(regions)
  positions = seqs["positions"][:, tc - 1]
  truth = seqs["positions"][:, tc] - positions  # [N, D, 2] each digit's first predicted displacement
  report = {"regions": {str(k): int((regions == k).sum()) for k in np.unique(regions)}, "error_px": {}}
  for name, parts in fields.items():
    error = np.linalg.norm(field_at_digits(np.concatenate(parts), positions, seqs["digits"]) - truth, axis=-1)
    report["error_px"][name] = {"all": float(error.mean()),
                                **{str(k): float(error[regions == k].mean()) for k in np.unique(regions)}}
  report["settings"] = {"model": model, "data_dir": data_dir, "num_clips": num_clips, "radius": radius}
  return report


def main(argv):
  from trivd_gan import cli_setup  # pylint: disable=import-outside-toplevel
  if len(argv) > 1:
    cli_setup.exit_with_error(f"unexpected arguments {argv[1:]}; use --flag=value.")
  f = flags.FLAGS
  try:
    report = run(f.data_dir, f.model, f.num_clips, f.radius)
  except (ValueError, OSError) as e:  # a missing model or MNIST folder: one line, not a traceback
    cli_setup.exit_with_error(e)
  print(f"sequences by number of regions in the last context frame: {report['regions']}")
  for name, errors in report["error_px"].items():
    print(f"first-step field {name:6s} at the digits: mean error " +
          ", ".join(f"{k}: {v:.2f} px" for k, v in errors.items()))
  if f.json:
    with open(f.json, "w") as fh:
      json.dump(report, fh, indent=1)


if __name__ == "__main__":
  define_flags()
  app.run(main)
