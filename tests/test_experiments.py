"""experiments/motion_readout.py: G alone on photograph pans, scored on the held-out pans (docs/learning.md)."""

import numpy as np

from experiments import motion_readout


def test_motion_readout_trains_and_scores_the_held_out_pans():
  lines = []
  curve = motion_readout.run(steps=2, batch_size=2, channel_multiplier=1, resolution=32, eval_every=1,
                             num_eval_clips=16, encoder_correlation=True, warp_spectral_norm=False,
                             flow_weight=1.0, log=lines.append)
  assert [c["step"] for c in curve] == [1, 2] and len(lines) == 2 and "motion cosine" in lines[0]
  for c in curve:
    assert -1.0 <= c["mean_cosine"] <= 1.0 and 0.0 <= c["fraction_above_0.5"] <= 1.0
    assert np.isfinite(c["train_loss"]) and c["train_loss"] > 0
    assert 0 < c["l1_first_frame"] <= 2 and 0 < c["copy_last_l1_first_frame"] < c["copy_last_l1_mean"]
  assert curve[0]["l1_mean"] != curve[1]["l1_mean"]  # G was trained between the two scores
