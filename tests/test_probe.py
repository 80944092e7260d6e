"""probe.py: flag checks, and held-out scores + context probes of a tiny trained run (in process)."""

import functools
import json
import os
import types

import numpy as np
import pytest
import tensorflow as tf

from trivd_gan import diagnostics
from trivd_gan import probe
from trivd_gan.models import decompositions
from trivd_gan.models import generator
from trivd_gan.training import loop


def flags_for(**kwargs):
  values = dict(model_dir=None, model=None, dataset="synthetic", data_dir=None, split="test", num_clips=4,
                batch_size=2, truncation=0.0, every_checkpoint=True, steps=[], diagnostics=True,
                standing_stats_batches=2,
                standing_stats_batch_size=2, json=None, samples_png=None, seed=0, clips_per_video=None,
                motion=False, weights="ema", chain_pooling=None)
  values.update(kwargs)
  return types.SimpleNamespace(**values)


def test_check_flags(tmp_path):
  with pytest.raises(ValueError, match="exactly one of"):
    probe.check_flags(flags_for())
  with pytest.raises(ValueError, match="no model_config.json"):
    probe.check_flags(flags_for(model_dir=str(tmp_path)))
  with pytest.raises(ValueError, match="no saved_model.pb"):
    probe.check_flags(flags_for(model=str(tmp_path), diagnostics=False))
  (tmp_path / "model_config.json").write_text("{}")
  with pytest.raises(ValueError, match="--dataset is required"):
    probe.check_flags(flags_for(model_dir=str(tmp_path), dataset=None))
  with pytest.raises(ValueError, match="num_clips"):
    probe.check_flags(flags_for(model_dir=str(tmp_path), num_clips=1))
  (tmp_path / "export").mkdir()
  (tmp_path / "export" / "saved_model.pb").write_text("")
  with pytest.raises(ValueError, match="--diagnostics needs --model_dir"):
    probe.check_flags(flags_for(model=str(tmp_path / "export")))
  with pytest.raises(ValueError, match="--chain_pooling needs --model_dir: an export keeps the pooling"):
    probe.check_flags(flags_for(model=str(tmp_path / "export"), diagnostics=False, chain_pooling="object"))
  probe.check_flags(flags_for(model_dir=str(tmp_path), motion=True))  # runs and SavedModels both
  probe.check_flags(flags_for(model=str(tmp_path / "export"), diagnostics=False, motion=True,
                              dataset="moving_mnist"))  # diagnostics.ink_motion, no labels needed
  with pytest.raises(ValueError, match="--motion needs a data set with motion labels"):
    probe.check_flags(flags_for(model=str(tmp_path / "export"), diagnostics=False, motion=True,
                                dataset="video_folder"))
  with pytest.raises(ValueError, match="--clips_per_video applies to --dataset=video_folder"):
    probe.check_flags(flags_for(model_dir=str(tmp_path), clips_per_video=2))
  with pytest.raises(ValueError, match="--clips_per_video must be >= 1"):
    probe.check_flags(flags_for(model_dir=str(tmp_path), clips_per_video=0, dataset="video_folder"))


def test_motion_report_cosines():
  flows = [[0.0, 2.0], [1.0, 0.0], [0.0, -1.0], [5.0, 5.0]]
  velocities = [[0.0, 1.0], [0.0, 3.0], [0.0, 1.0], [0.0, 0.0]]  # the last clip does not move: left out
  report = probe.motion_report(flows, velocities)
  assert report["num_clips"] == 3
  np.testing.assert_allclose(report["cosines"], [1.0, 0.0, -1.0], atol=1e-9)
  assert report["mean_cosine"] == pytest.approx(0.0) and report["fraction_above_0.5"] == pytest.approx(1 / 3)
  with pytest.raises(ValueError, match="no held-out clip moves"):
    probe.motion_report([[1.0, 0.0]], [[0.0, 0.0]])


def test_motion_entry_without_labels_reads_the_ink():
  """Unlabelled clips (Moving MNIST): the first step's fields against the objects' last context motion."""
  rng = np.random.default_rng(0)
  velocities = rng.integers(-3, 4, size=(6, 2))
  video = -np.ones((6, 4, 32, 32, 3), np.float32)
  for b, (vy, vx) in enumerate(velocities):
    for t in range(4):
      y, x = 12 + vy * t, 12 + vx * t
      video[b, t, y:y + 5, x:x + 5] = 1.0
  fields = np.zeros((6, 2, 32, 32, 2), np.float32) + velocities[:, None, None, None, :]
  motion = probe.motion_entry([fields[:3], fields[3:]], [video[:3], video[3:]], None, 3, "test")
  assert motion["correlation_dy"] == pytest.approx(1.0) and motion["correlation_dx"] == pytest.approx(1.0)
  assert "ink_retention" not in motion
  # With the predictions' ink: a prediction that keeps the last frame's block whole holds all of the real
  # future's ink; one whose block fades to mid-grey (0, half-way from black -1 to white 1) holds half of it.
  whole, faded = video[:, 3:], np.where(video[:, 3:] > 0, 0.0, -1.0)
  for prediction, expected in ((whole, 1.0), (faded, 0.5)):
    ink = [diagnostics.ink_mass(prediction[:3]), diagnostics.ink_mass(prediction[3:])]
    motion = probe.motion_entry([fields[:3], fields[3:]], [video[:3], video[3:]], None, 3, "test", ink)
    np.testing.assert_allclose(motion["ink_retention"], [expected])


def test_saved_model_motion_on_labelled_clips():
  """The shipped Moving MNIST model on synthetic pans: scores, and one cosine per moving clip in [-1, 1]."""
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  model = os.path.join(root, "pretrained", "moving_mnist")
  report = probe.probe_saved_model(flags_for(model=model, dataset="synthetic", num_clips=4, batch_size=4,
                                             diagnostics=False, motion=True))
  entry = report["entries"][0]
  assert entry["scores"]["num_clips"] == 4
  motion = entry["motion"]
  assert 1 <= motion["num_clips"] <= 4 and len(motion["cosines"]) == motion["num_clips"]
  assert all(-1.0 <= c <= 1.0 for c in motion["cosines"])
  assert motion["mean_cosine"] == pytest.approx(np.mean(motion["cosines"]))


def test_copy_mask_entry_joins_the_batches_of_a_warp_chain_generator():
  """--motion on a warp_chain run: `diagnostics.copy_mask_on_content` of every batch's parts at once."""
  g = generator.Generator(channel_multiplier=1, recurrent_unit="tsru_p", num_context_frames=2,
                          num_predicted_frames=2, resolution=32, output_mode="warp_chain").build_for_shapes(1)
  rng = np.random.default_rng(0)
  batches = [rng.uniform(-1, 1, [n, 4, 32, 32, 3]).astype(np.float32) for n in (2, 3)]
  parts_fn = lambda context: g.warp_chain_parts(context, tf.zeros([tf.shape(context)[0], g.latent_dim]))
  report = probe.copy_mask_entry(parts_fn, batches, 2, "test")
  video = np.concatenate(batches)
  expected = diagnostics.copy_mask_on_content(*(t.numpy() for t in parts_fn(tf.constant(video[:, :2]))),
                                              video[:, 2:])
  for key, values in expected.items():
    np.testing.assert_allclose(report[key], values, rtol=1e-5)
  assert len(report["mask_on_content"]) == 2 and all(0.0 < m < 1.0 for m in report["mask_on_content"])


@pytest.mark.slow  # about a minute on 2 idle cores: a training run, standing statistics and three probes
def test_probe_run_scores_every_checkpoint(tmp_path):
  model_dir = str(tmp_path / "run")
  loop.train(model_dir, num_steps=2, checkpoint_every=1, global_batch_size=2, d_steps_per_g_step=1,
             ema_start_step=1, run_eagerly=True, sample_every=0, g_learning_rate=0.05,
             generator_fn=functools.partial(generator.Generator, channel_multiplier=1,
                                            recurrent_unit="tsru_p", num_context_frames=2,
                                            num_predicted_frames=2, resolution=32),
             discriminator_fn=functools.partial(decompositions.DiscriminatorEnsemble, "dvd_gan_fp_faster",
                                                1, num_frames_K=2))
  png = str(tmp_path / "samples.png")
  report = probe.probe_run(flags_for(model_dir=model_dir, samples_png=png, motion=True))
  assert [e["step"] for e in report["entries"]] == [1, 2]
  for entry in report["entries"]:
    for predictor in ("model", "copy_last_frame", "context_mean"):
      scores = entry["scores"][predictor]
      assert len(scores["psnr"]) == 2 and len(scores["ssim"]) == 2 and scores["mean_mse"] >= 0
    assert entry["scores"]["num_clips"] == 4
    assert set(entry["context_swap_probe"]) == {"frame_downsampled", "video_cropped"}
    assert len(entry["context_sensitivity"]["frames_context"]) == 2
    assert entry["gradient_norms"]["encoder"] > 0
    assert len(entry["warp_saturation"]) == 3 and 0 < entry["warp_saturation"][0]["mean_max_weight"] <= 1
    motion = entry["motion"]  # synthetic clips' background velocities against each clip's mean field
    assert 1 <= motion["num_clips"] <= 4 and all(-1.0 <= c <= 1.0 for c in motion["cosines"])
  # The two checkpoints differ, and so do their scores.
  assert report["entries"][0]["scores"]["model"] != report["entries"][1]["scores"]["model"]
  # --weights=raw scores the trained G, not its EMA (decay 0.9999, G's learning rate 0.05: far apart).
  raw = probe.probe_run(flags_for(model_dir=model_dir, every_checkpoint=False, steps=["2"], diagnostics=False,
                                  weights="raw"))["entries"]
  assert [(e["step"], e["weights"]) for e in raw] == [(2, "raw")] and report["entries"][1]["weights"] == "ema"
  assert raw[0]["scores"]["model"] != report["entries"][1]["scores"]["model"]
  assert raw[0]["scores"]["copy_last_frame"] == report["entries"][1]["scores"]["copy_last_frame"]
  assert os.path.getsize(png) > 0
  json.dumps(report)  # the report is JSON-serializable
  # --chain_pooling goes through `inference.with_chain_pooling`: this run does not pool its fields.
  with pytest.raises(ValueError, match="needs a run whose generator pools its fields"):
    probe.probe_run(flags_for(model_dir=model_dir, steps=["2"], diagnostics=False, chain_pooling="object"))


def test_markdown_report_tables():
  def scores(offset):
    one = lambda base: {"psnr": [base, base + 1], "ssim": [0.5, 0.25], "mse": [10.0, 20.0],
                        "mean_psnr": base + 0.5, "mean_ssim": 0.375, "mean_mse": 15.0}
    return {"num_clips": 8, "model": one(20 + offset), "copy_last_frame": one(10), "context_mean": one(12)}

  text = probe.markdown_report({"entries": [{"step": 100, "scores": scores(0)},
                                            {"step": 200, "scores": scores(2)}]})
  lines = text.splitlines()
  assert lines[0] == "Held-out clips: 8."
  assert "| 2 | 23.00 | 11.00 | 13.00 | 0.250 | 0.250 | 0.250 |" in lines  # the last entry, frame 2
  assert "| mean | **22.50** | **10.50** | **12.50** | **0.375** | **0.375** | **0.375** |" in lines
  assert "| 100 | 20.50 | 10.50 | 0.375 | 0.375 | 15.0 | 15.0 |" in lines
  assert "| 200 | 22.50 | 10.50 | 0.375 | 0.375 | 15.0 | 15.0 |" in lines
  # Reports with the black-frame baseline get its columns too (older reports, as above, do not).
  with_black = {**scores(0), "black_frame": {"psnr": [13.0, 14.0], "ssim": [0.1, 0.2], "mse": [5.0, 6.0],
                                              "mean_psnr": 13.5, "mean_ssim": 0.15, "mean_mse": 5.5}}
  lines = probe.markdown_report({"entries": [{"scores": with_black}]}).splitlines()
  assert "PSNR black frame" in lines[2]
  mean_row = ("| mean | **20.50** | **10.50** | **12.50** | **13.50** | **0.375** | **0.375** | **0.375** | "
              "**0.150** |")
  assert mean_row in lines
