"""The evaluation report (paper sections 4.1, C.1, D.3): per-run numbers -> a JSON-serializable summary.

NumPy only. `assemble_report` turns the R runs' FVD, Inception Score and per-frame PSNR / SSIM (and the
copy-last-frame baseline, best-of-l SSIM) into means and unbiased stds over runs, names every I3D figure
"..._random_i3d" when the I3D has random weights, and says which frames entered FVD; `markdown_table` prints it.
"""

import math

import numpy as np

# Paper setting (section 4.1 / C.1): 16 frames enter FVD.
PAPER_FVD_FRAMES = 16
I3D_MIN_FRAMES = 9  # I3D's temporal receptive field needs T >= 9 (evaluation/i3d.py)


def metric_name(base, random_embedder):
  """The report key of an I3D-based figure: "fvd" -> "fvd_random_i3d" when the I3D has random weights."""
  return f"{base}_random_i3d" if random_embedder else base


def _finite_or_none(x):
  x = float(x)
  return x if math.isfinite(x) else None


def summarize_runs(values):
  """{"mean", "std", "num_runs", "per_run"} of per-run values; std is unbiased (N - 1), None for one run."""
  values = [float(v) for v in values]
  if not values:
    raise ValueError("summarize_runs needs at least one run.")
  arr = np.asarray(values, np.float64)
  std = float(np.std(arr, ddof=1)) if arr.size > 1 else None
  return {"mean": _finite_or_none(arr.mean()), "std": None if std is None else _finite_or_none(std),
          "num_runs": int(arr.size), "per_run": [_finite_or_none(v) for v in values]}


def summarize_per_frame(per_run_curves, first_frame):
  """Per-frame curves [R, Tp] -> summary of the per-run averages plus the run-mean curve, frames 1-based."""
  curves = np.asarray(per_run_curves, np.float64)
  summary = summarize_runs(curves.mean(axis=1))
  summary["per_frame"] = [_finite_or_none(v) for v in curves.mean(axis=0)]
  summary["frames"] = list(range(first_frame, first_frame + curves.shape[1]))
  return summary


def time_repeat_factor(num_frames):
  """How many times each frame is repeated so that I3D gets >= 9 frames (1 when num_frames >= 9)."""
  return max(1, math.ceil(I3D_MIN_FRAMES / num_frames))


def frames_description(num_context, num_predicted, time_repeat=1):
  """Says which frames enter FVD (real context + generated continuation) and how they differ from the paper."""
  total = num_context + num_predicted
  text = (f"{total} frames per clip: frames 1-{num_context} are the real context frames, frames "
          f"{num_context + 1}-{total} the {num_predicted} generated (or copied, for the baseline) frames; "
          f"the real statistics use the same {total}-frame ground-truth clips.")
  if total != PAPER_FVD_FRAMES:
    text += (f" The paper uses {PAPER_FVD_FRAMES} frames (5 + 11 on Kinetics-600, 1 + 15 on BAIR): "
             "not comparable.")
  if time_repeat > 1:
    text += (f" Every frame is repeated {time_repeat} times in time before I3D (which needs >= "
             f"{I3D_MIN_FRAMES} frames), for real and generated clips alike: not a protocol FVD.")
  return text


def assemble_report(*, embedder_name, random_embedder, fvd_runs, is_runs, copy_fvd, psnr_runs, ssim_runs,
                    copy_psnr, copy_ssim, num_context, num_predicted, best_of_l=0, best_of_l_ssim=None,
                    time_repeat=1, info=None):
  """Builds the JSON report from per-run numbers.

  Args:
    embedder_name: the I3D's name (`make_embedder`); random_embedder: `is_random_embedder(embedder_name)`.
    fvd_runs, is_runs: [R] FVD and Inception Score of each run.
    copy_fvd: FVD of the copy-last-frame baseline (D.3), one value (deterministic).
    psnr_runs, ssim_runs: [R, Tp] mean PSNR (dB) / SSIM of each predicted frame in each run.
    copy_psnr, copy_ssim: [Tp] the same for the baseline.
    num_context, num_predicted: Tc and Tp.
    best_of_l, best_of_l_ssim: l and the [Tp] mean best-of-l SSIM per predicted frame (C.1), or 0 / None.
    time_repeat: the temporal repeat applied before I3D (1 = none).
    info: extra key/values (model_dir, data set, seeds, ...) stored under "config".

  Returns:
    A JSON-serializable dict: "metrics" maps names to summaries; every I3D figure carries "_random_i3d" in its
    name when random_embedder.
  """
  first = num_context + 1
  metrics = {
      metric_name("fvd", random_embedder): summarize_runs(fvd_runs),
      metric_name("inception_score", random_embedder): summarize_runs(is_runs),
      metric_name("copy_last_frame_fvd", random_embedder): summarize_runs([copy_fvd]),
      "psnr": summarize_per_frame(psnr_runs, first),
      "ssim": summarize_per_frame(ssim_runs, first),
      "copy_last_frame_psnr": summarize_per_frame([copy_psnr], first),
      "copy_last_frame_ssim": summarize_per_frame([copy_ssim], first),
  }
  if best_of_l:
    metrics[f"best_of_{best_of_l}_ssim"] = summarize_per_frame([best_of_l_ssim], first)
  notes = [f"FVD frames: {frames_description(num_context, num_predicted, time_repeat)}",
           "std is the unbiased (N - 1) standard deviation over runs (None for one run); runs differ only in "
           "the latent seeds (same contexts).",
           "PSNR / SSIM: generated vs ground-truth predicted frames, frames mapped to [0, 1]; 'frames' are "
           "1-based indices in the clip."]
  if random_embedder:
    notes.insert(0, f"I3D has RANDOM weights ({embedder_name}): the *_random_i3d numbers check the pipeline; "
                 "they are not FVD or Inception Scores.")
  return {"embedder": embedder_name, "random_embedder": bool(random_embedder),
          "fvd_frames": {"context": int(num_context), "predicted": int(num_predicted),
                         "total": int(num_context + num_predicted), "time_repeat": int(time_repeat),
                         "description": frames_description(num_context, num_predicted, time_repeat)},
          "metrics": metrics, "notes": notes, "config": dict(info or {})}


def _fmt(x, digits=3):
  return "n/a" if x is None else f"{x:.{digits}f}"


def markdown_table(report):
  """A Markdown table of every metric: | metric | mean | std | runs |."""
  lines = ["| metric | mean | std | runs |", "|---|---|---|---|"]
  for name, summary in report["metrics"].items():
    lines.append(f"| {name} | {_fmt(summary['mean'])} | {_fmt(summary['std'])} | {summary['num_runs']} |")
  return "\n".join(lines)
