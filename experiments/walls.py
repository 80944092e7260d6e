r"""Where do the digits go at the walls? Each digit's ink at its true position, before and after it bounces.

Moving MNIST digits bounce off the frame's edges (`trivd_gan.data.moving_mnist.sequence`). The held-out scores
average over every digit; this program splits them by what the real digit does in the predicted frames: it does
not bounce, it has not bounced yet, or it has bounced (docs/learning.md experiment 17). It regenerates the
held-out sequences of `moving_mnist.make_clips` (evaluation: the first frames of each sequence, the same seeds)
with their digits' positions and velocities, predicts them with a SavedModel (--model) or a run's EMA generator
(--model_dir), and scores each digit at each predicted frame three ways: its recall, the predicted ink that
covers the digit drawn alone at its true position, over the digit's ink (`digit_recall`, within --tolerance px;
1 = all of it is there, 0 = none); its distance, how far from its true position the prediction shows it
(`track_digits`); and G's motion field on the digit against the digit's true displacement (`field_report`).

  python -m experiments.walls --model=pretrained/moving_mnist --data_dir=../shared/data/mnist --num_clips=256 \
      --json=docs/results/moving_mnist_walls.json
"""

import json

from absl import app
from absl import flags
import numpy as np

FLAGS = flags.FLAGS
PHASES = ("no_bounce", "before_bounce", "after_bounce")


def define_flags():
  flags.DEFINE_string("model", None, "An exported SavedModel (e.g. pretrained/moving_mnist).")
  flags.DEFINE_string("model_dir", None, "Or a training run: its latest EMA generator.")
  flags.DEFINE_string("data_dir", None, "The folder of the MNIST test digits (t10k-images-idx3-ubyte.gz).")
  flags.DEFINE_integer("num_clips", 256, "Held-out sequences scored (the first ones, as the probe's).")
  flags.DEFINE_integer("batch_size", 32, "Sequences per forward pass.")
  flags.DEFINE_float("truncation", 0.0, "Latent truncation (0: z = 0, the probe's default).")
  flags.DEFINE_integer("tolerance", 2, "Px a digit may be off and still count (`digit_recall`).")
  flags.DEFINE_string("json", None, "Writes the report here.")


def held_out_sequences(data_dir, num_clips, num_frames, image_size=64, split="test", seed=0):
  """The first `num_clips` held-out clips of `moving_mnist.make_clips` with what drew them.

  Evaluation clips are the first `num_frames` frames of 20-frame sequences drawn by `moving_mnist.sequence` with
  `moving_mnist.sequence_rng`, as `make_clips` draws them (a test checks the videos match). Returns a dict of
  NumPy arrays: "video" [N, T, S, S] uint8, "positions" [N, T, D, 2] int32 top-left (y, x) pixels,
  "velocities" [N, T, D, 2] float32 (the velocity used from t to t + 1), "digits" [N, D, 28, 28] uint8 (each
  sequence's digit images).
  """
  from trivd_gan.data import moving_mnist  # pylint: disable=import-outside-toplevel
  if num_frames > 20:
    raise ValueError(f"held-out Moving MNIST sequences have 20 frames; num_frames={num_frames} is more.")
  digits = moving_mnist.load_digits(moving_mnist.find_digits_file(data_dir, split))
  parts = {"video": [], "positions": [], "velocities": [], "digits": []}
  for index in range(num_clips):
    s = moving_mnist.sequence(digits, moving_mnist.sequence_rng(split, seed, index), 20, image_size)
    for key in ("video", "positions", "velocities"):
      parts[key].append(s[key][:num_frames])
    parts["digits"].append(digits[s["digit_ids"]])
  return {k: np.stack(v) for k, v in parts.items()}


def digit_recall(frames, positions, digits, tolerance=0):
  """[N, T, D]: how much of each digit the frames show at its true position.

  Args:
    frames: [N, T, S, S] ink in [0, 1] (a frame's channel mean mapped from [-1, 1]).
    positions: [N, T, D, 2] top-left (y, x) of each 28x28 digit, inside the frame.
    digits: [N, D, 28, 28] uint8 digit images.
    tolerance: r >= 0 px: each frame pixel first takes the most ink within r px (a (2r + 1)^2 max filter), so a
      digit drawn up to r px off still counts (strokes are 2-3 px wide: at r = 0 a 2 px offset loses most).

  Returns:
    sum over pixels of min(frame, digit) / sum of digit, with the digit drawn alone at its position (ink in
    [0, 1]): 1 where the frame has the digit's ink everywhere the digit has it, 0 where it is black there.
    Ink of the other digit where the two overlap counts too (rare; both are scored on it).
  """
  frames, digits = np.asarray(frames, np.float64), np.asarray(digits, np.float64) / 255.0
  if tolerance:
    padded = np.pad(frames, [(0, 0), (0, 0), (tolerance, tolerance), (tolerance, tolerance)])
    size_y, size_x = frames.shape[2:]
    frames = np.max([padded[:, :, dy:dy + size_y, dx:dx + size_x] for dy in range(2 * tolerance + 1)
                     for dx in range(2 * tolerance + 1)], axis=0)
  n, t, d = positions.shape[:3]
  size = digits.shape[-1]
  recall = np.zeros((n, t, d))
  for i in range(n):
    for j in range(t):
      for k in range(d):
        y, x = positions[i, j, k]
        window = frames[i, j, y:y + size, x:x + size]
        recall[i, j, k] = np.minimum(window, digits[i, k]).sum() / max(digits[i, k].sum(), 1e-9)
  return recall


def track_digits(frames, positions, digits, search=10):
  """[N, T, D, 2]: where each digit is in the frames, as its offset (dy, dx) px from its true position.

  For each digit and frame, the offset within `search` px of the true top-left corner (the frame padded with
  black) whose window covers the most of the digit: argmax over o of sum min(frame[p + o], digit) (the
  unnormalized `digit_recall`; ties go to the smallest |o|). (0, 0) = the digit is where it should be; a digit
  the frames lost gives the offset of whatever ink is nearest its shape. frames: [N, T, S, S] ink in [0, 1];
  positions: [N, T, D, 2]; digits: [N, D, 28, 28] uint8.
  """
  frames, digits = np.asarray(frames, np.float64), np.asarray(digits, np.float64) / 255.0
  n, t, d = positions.shape[:3]
  size, span = digits.shape[-1], 2 * search + 1
  offsets = np.stack(np.meshgrid(np.arange(-search, search + 1), np.arange(-search, search + 1),
                                 indexing="ij"), axis=-1).reshape(-1, 2)
  order = np.argsort(np.abs(offsets).sum(axis=1), kind="stable")  # nearest offsets first: argmax keeps them
  padded = np.pad(frames, [(0, 0), (0, 0), (search, search), (search, search)])
  out = np.zeros((n, t, d, 2), np.int64)
  for i in range(n):
    for j in range(t):
      for k in range(d):
        y, x = positions[i, j, k]
        region = padded[i, j, y:y + size + span - 1, x:x + size + span - 1]
        windows = np.lib.stride_tricks.sliding_window_view(region, (size, size)).reshape(-1, size, size)
        scores = np.minimum(windows, digits[i, k]).sum(axis=(1, 2))
        out[i, j, k] = offsets[order[np.argmax(scores[order])]]
  return out


def bounce_phase(velocities, num_context):
  """[N, Tp, D] int, an index into PHASES: 0 the digit does not bounce during the predicted frames, 1 it will
  but has not yet, 2 it has (it moves away from a wall, or has turned at one, since an earlier predicted frame).

  velocities: [N, Tc + Tp, D, 2], the velocity used from t to t + 1 (`trivd_gan.data.moving_mnist.sequence`).
  The predicted frame tc + k comes after a bounce when a velocity of the steps tc .. tc + k - 1 differs from the
  last context step's (tc - 1): a bounce at frame t clamps the digit to the wall there and negates the velocity
  from t on.
  """
  velocities = np.asarray(velocities)
  changed = np.any(velocities[:, num_context:] != velocities[:, num_context - 1:num_context], axis=-1)
  tp = velocities.shape[1] - num_context
  after = np.zeros(changed.shape, bool)  # [N, Tp, D]
  after[:, 1:] = np.cumsum(changed[:, :tp - 1], axis=1) > 0
  bounces = after[:, -1:]  # the digit turns before the last predicted frame
  return np.where(after, 2, np.where(bounces, 1, 0))


def frames_since_bounce(phase):
  """[N, Tp, D] int: for phase 2 (after a bounce) the predicted frames since the first one after it (1, 2, ...),
  else 0."""
  after = phase == 2
  return np.cumsum(after, axis=1) * after


def phase_report(values, copy_values, phase):
  """Means of a per-digit score per predicted frame and phase (model and copy-last-frame), and after a bounce by
  frames since it.

  values, copy_values: [N, Tp, D] (e.g. `digit_recall`); phase: `bounce_phase`. Returns JSON-ready dicts, one
  per PHASES name and "after_bounce_by_frames_since", of "count", "model", "copy_last_frame" lists; means of
  empty cells are None.
  """
  def mean(x, where):
    return float(x[where].mean()) if where.any() else None

  report, tp = {}, phase.shape[1]
  for p, name in enumerate(PHASES):
    report[name] = {"count": [int((phase[:, k] == p).sum()) for k in range(tp)],
                    "model": [mean(values[:, k], phase[:, k] == p) for k in range(tp)],
                    "copy_last_frame": [mean(copy_values[:, k], phase[:, k] == p) for k in range(tp)]}
  since = frames_since_bounce(phase)
  report["after_bounce_by_frames_since"] = {
      "count": [int((since == s).sum()) for s in range(1, tp)],
      "model": [mean(values, since == s) for s in range(1, tp)],
      "copy_last_frame": [mean(copy_values, since == s) for s in range(1, tp)]}
  return report


def field_on_digits(fields, positions, digits):
  """[N, Tp, D, 2]: G's motion field of each predicted step averaged over each digit's ink at its true position.

  fields: [N, Tp, S, S, 2] (dy, dx) px, the combined field of each step (content displacement from frame t - 1
  to t, on frame t's grid); positions: [N, Tp, D, 2] the digits' top-left corners in the predicted frames;
  digits: [N, D, 28, 28] uint8 (ink: pixels above 127).
  """
  n, tp, d = positions.shape[:3]
  size = digits.shape[-1]
  out = np.zeros((n, tp, d, 2))
  for i in range(n):
    for k in range(d):
      ink = digits[i, k] > 127
      for j in range(tp):
        y, x = positions[i, j, k]
        out[i, j, k] = fields[i, j, y:y + size, x:x + size][ink].mean(axis=0)
  return out


def field_report(field, displacement, phase):
  """Per predicted step, does the field move each digit as far as it moves? Least-squares slope (field =
  slope x displacement, per axis; 1 is right, 0.5 half the speed, < 0 the wrong way) and Pearson correlation
  over the digits, for all digits, for those that do not bounce in the predicted frames and for those after a
  bounce.

  field, displacement: [N, Tp, D, 2] px (`field_on_digits`; the true displacement of each digit into frame t);
  phase: `bounce_phase` [N, Tp, D].
  """
  def stats(a, b):
    a, b = a.reshape(-1, 2), b.reshape(-1, 2)
    if len(a) < 3:
      return None
    slope = [float((a[:, i] * b[:, i]).sum() / max((a[:, i] ** 2).sum(), 1e-9)) for i in range(2)]
    corr = [float(np.corrcoef(a[:, i], b[:, i])[0, 1]) if a[:, i].std() > 1e-9 and b[:, i].std() > 1e-9
            else 0.0 for i in range(2)]
    return {"slope_dy_dx": slope, "correlation_dy_dx": corr, "mean_abs_displacement": float(np.abs(a).mean()),
            "mean_abs_field": float(np.abs(b).mean())}

  tp = phase.shape[1]
  where = lambda p, k: phase[:, k] == p
  return {"all": [stats(displacement[:, k], field[:, k]) for k in range(tp)],
          "no_bounce": [stats(displacement[:, k][where(0, k)], field[:, k][where(0, k)]) for k in range(tp)],
          "after_bounce": [stats(displacement[:, k][where(2, k)], field[:, k][where(2, k)]) for k in range(tp)]}


def run(data_dir, num_clips=256, batch_size=32, truncation=0.0, tolerance=2, model=None, model_dir=None,
        log=print):
  """Predicts the held-out sequences with the model; returns the digits' "recall" (`digit_recall`) and
  "distance_px" (the length of `track_digits`' offset) as `phase_report`s, the "field" (`field_report`) and the
  settings."""
  from trivd_gan import inference  # pylint: disable=import-outside-toplevel
  predictor = inference.Predictor(model=model, model_dir=model_dir)
  tc, tp = predictor.num_context_frames, predictor.num_predicted_frames
  if predictor.resolution != 64:
    raise ValueError(f"the model predicts {predictor.resolution}x{predictor.resolution} frames; Moving MNIST's "
                     "are 64x64.")
  seqs = held_out_sequences(data_dir, num_clips, tc + tp)
  video = np.repeat(seqs["video"][..., None], 3, axis=-1)
  predicted, fields = [], []
  for start in range(0, num_clips, batch_size):
    out = predictor.predict(video[start:start + batch_size, :tc], [0, 7], truncation)
    predicted.append((out["frames"].mean(axis=-1) + 1.0) / 2.0)
    fields.append(field_on_digits(out["motion_field"], seqs["positions"][start:start + batch_size, tc:],
                                  seqs["digits"][start:start + batch_size]))
  positions, phase, digits = seqs["positions"][:, tc:], bounce_phase(seqs["velocities"], tc), seqs["digits"]
  predicted, last = np.concatenate(predicted), np.repeat(seqs["video"][:, tc - 1:tc] / 255.0, tp, axis=1)
  distance = lambda frames: np.linalg.norm(track_digits(frames, positions, digits), axis=-1)
  report = {"num_digits": int(phase.shape[0] * phase.shape[2]),
            "digits_bouncing": int((phase[:, -1] == 2).sum()),
            "recall": phase_report(digit_recall(predicted, positions, digits, tolerance),
                                   digit_recall(last, positions, digits, tolerance), phase),
            "distance_px": phase_report(distance(predicted), distance(last), phase),
            "field": field_report(np.concatenate(fields), positions - seqs["positions"][:, tc - 1:-1], phase)}
  for name in PHASES:
    log(f"{name} ({report['recall'][name]['count'][-1]} digits at frame {tp}): recall, distance (px) per "
        "predicted frame " + " ".join("-" if r is None else f"{r:.2f},{d:.1f}" for r, d in zip(
            report["recall"][name]["model"], report["distance_px"][name]["model"])))
  log("field on the digits / their displacement, least-squares slope dy, dx per predicted step: " +
      " ".join(f"{r['slope_dy_dx'][0]:.2f},{r['slope_dy_dx'][1]:.2f}" for r in report["field"]["all"]))
  report["settings"] = {"model": model, "model_dir": model_dir, "data_dir": data_dir, "num_clips": num_clips,
                        "truncation": truncation, "tolerance": tolerance}
  return report


def main(argv):
  from trivd_gan import cli_setup  # pylint: disable=import-outside-toplevel
  if len(argv) > 1:
    cli_setup.exit_with_error(f"unexpected arguments {argv[1:]}; use --flag=value.")
  try:
    report = run(FLAGS.data_dir, FLAGS.num_clips, FLAGS.batch_size, FLAGS.truncation, FLAGS.tolerance,
                 FLAGS.model, FLAGS.model_dir)
  except (ValueError, OSError) as e:
    cli_setup.exit_with_error(e)
  if FLAGS.json:
    with open(FLAGS.json, "w") as fh:
      json.dump(report, fh, indent=1)


if __name__ == "__main__":
  define_flags()
  app.run(main)
