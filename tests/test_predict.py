"""trivd_gan/predict.py: clip loading, the CLI end to end (GIF and mp4, motion fields), bad input (the motion
fields themselves: tests/test_inference.py)."""

import json
import os
import subprocess
import sys

import av
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from trivd_gan import inference
from trivd_gan import predict
from trivd_gan import visualization
from trivd_gan.models import generator as generator_lib
from trivd_gan.training import checkpoints
from tests import data_paths

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VIDEO = data_paths.REALSHORT_MP4
T_IN, T_OUT = 2, 3


def tiny_generator(unit="tsru_p"):
  return generator_lib.Generator(channel_multiplier=1, resolution=64, num_context_frames=T_IN,
                                 num_predicted_frames=T_OUT, recurrent_unit=unit).build_for_shapes(1)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
  """A model_dir as the trainer writes it: model_config.json and a checkpoint with `ema_generator`."""
  path = str(tmp_path_factory.mktemp("run"))
  g = tiny_generator()
  with open(os.path.join(path, inference.MODEL_CONFIG), "w") as f:
    json.dump({"generator": checkpoints._config_of(g),  # pylint: disable=protected-access
               "discriminator": {}}, f)
  tf.train.Checkpoint(ema_generator=inference.variables_by_path(g)).save(os.path.join(path, "ckpt"))
  return path


def test_truncated_latents_match_sample_latents():
  seed = tf.constant([5, 6], tf.int64)
  for t in (0.5, 0.8, 2.0):
    z = generator_lib.truncated_latents(3, 128, tf.constant(t), seed).numpy()
    np.testing.assert_allclose(z, generator_lib.sample_latents(3, 128, t, seed), atol=1e-6)
    assert np.abs(z).max() <= t
  assert not np.any(generator_lib.truncated_latents(2, 128, tf.constant(0.0), seed).numpy())


def test_load_video_clip_resizes_and_center_crops():
  clip = predict.load_video_clip(VIDEO, 4, start_frame=1)
  assert clip.shape == (4, 64, 64, 3) and clip.dtype == np.uint8
  with pytest.raises(ValueError, match="at least 100004 frames"):
    predict.load_video_clip(VIDEO, 4, start_frame=100000)


def test_bad_input_errors(tmp_path):
  bogus = tmp_path / "bogus.mp4"
  bogus.write_text("not a video")
  with pytest.raises(FileNotFoundError, match="does not exist"):
    predict.load_video_clip(str(tmp_path / "missing.mp4"), 2)
  with pytest.raises(ValueError, match="cannot decode"):
    predict.load_video_clip(str(bogus), 2)
  with pytest.raises(ValueError, match="start_frame must be >= 0"):
    predict.load_video_clip(VIDEO, 2, start_frame=-1)
  common = dict(model_dir="x", input_path=VIDEO)
  with pytest.raises(ValueError, match=r"\.gif or \.mp4"):
    predict.run(output=str(tmp_path / "o.avi"), **common)
  with pytest.raises(ValueError, match="num_samples"):
    predict.run(output=str(tmp_path / "o.gif"), num_samples=0, **common)
  with pytest.raises(ValueError, match="truncation"):
    predict.run(output=str(tmp_path / "o.gif"), truncation=-1, **common)
  with pytest.raises(ValueError, match="exactly one of --model"):
    predict.run(model="a", model_dir="b", input_path=VIDEO, output=str(tmp_path / "o.gif"))
  with pytest.raises(ValueError, match="not a SavedModel"):
    predict.run(model=str(tmp_path), input_path=VIDEO, output=str(tmp_path / "o.gif"))


def test_input_and_output_are_checked_before_the_model_loads(tmp_path):
  # --model_dir does not exist: loading the model would fail with "does not exist"; these errors come first.
  bogus = tmp_path / "bogus.mp4"
  bogus.write_text("not a video")
  common = dict(model_dir=str(tmp_path / "no_such_run"))
  with pytest.raises(ValueError, match="cannot decode"):
    predict.run(input_path=str(bogus), output=str(tmp_path / "o.gif"), **common)
  with pytest.raises(FileNotFoundError, match="output folder .*missing_folder.* does not exist"):
    predict.run(input_path=VIDEO, output=str(tmp_path / "missing_folder" / "o.gif"), **common)
  with pytest.raises(ValueError, match="has 36 frame"):
    predict.run(input_path=VIDEO, output=str(tmp_path / "o.gif"), start_frame=36, **common)


def test_predict_to_gif_in_process(model_dir, tmp_path):
  out = str(tmp_path / "pred.gif")
  video = predict.run(model_dir=model_dir, input_path=VIDEO, output=out, num_samples=2, start_frame=1, scale=1,
                      captions=False)
  assert video.shape == (T_IN + T_OUT, 128, 128, 3)
  with Image.open(out) as gif:
    assert gif.n_frames == T_IN + T_OUT and gif.size == (128, 128)
  # The two rows are two different futures of the same context.
  np.testing.assert_array_equal(video[:T_IN, :64], video[:T_IN, 64:])
  assert np.abs(video[T_IN:, :64, 64:].astype(int) - video[T_IN:, 64:, 64:].astype(int)).max() > 0


def _cli(*args, cwd=None):
  env = {**os.environ, "PYTHONPATH": ROOT}
  return subprocess.run([sys.executable, "-m", "trivd_gan.predict", *args], capture_output=True, text=True,
                        env=env, cwd=cwd or ROOT, check=False)


def test_cli_mp4_with_motion_fields(model_dir, tmp_path):
  out = str(tmp_path / "pred.mp4")
  result = _cli(f"--model_dir={model_dir}", f"--input={VIDEO}", f"--output={out}", "--num_samples=2",
                "--motion_fields", "--truncation=0.5")
  assert result.returncode == 0, result.stderr[-3000:]
  with av.open(out) as container:
    frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
  assert len(frames) == T_IN + T_OUT
  # 64-pixel frames are shown at x2 by default, under a caption bar:
  # 2 samples x (context | prediction | motion).
  bar = frames[0].shape[0] - 2 * 128
  assert frames[0].shape[1] == 3 * 128 and 20 <= bar <= 40
  assert frames[0][bar + 128:, 256:].min() > 200  # context frames: no motion, white (the legend is in row 1)
  assert frames[0][bar:bar + 128, 256:].min() < 100  # ... where the colour wheel legend is drawn
  assert "full colour at --max_flow=4 px" in result.stderr  # the fields' largest motion is stated


def test_cli_help_says_why_truncation_is_0_8():
  result = _cli("--help")
  text = " ".join(result.stdout.split())
  assert "(default: '0.8')" in text, text[-2000:]  # absl's --help exits with status 1
  assert "the paper's setting for the samples it shows (appendix D.1, D.3" in text and "for FVD" in text


def test_cli_undecodable_input_is_one_clean_line(tmp_path):
  # The message used to name the file three times and end in a raw "(InvalidDataError(1094995529, ...))".
  bogus = tmp_path / "bogus.mp4"
  bogus.write_text("not a video")
  result = _cli(f"--model_dir={tmp_path}", f"--input={bogus}", f"--output={tmp_path / 'o.gif'}")
  assert result.returncode == 2 and "Traceback" not in result.stderr
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith(f"error: cannot decode {str(bogus)!r} as a video: no decodable frame"), last
  assert last.count(str(bogus)) == 1 and "Error(" not in last


def test_cli_bad_input_is_one_line(tmp_path):
  result = _cli(f"--model_dir={tmp_path}", f"--input={tmp_path / 'missing.mp4'}",
                f"--output={tmp_path / 'o.gif'}")
  assert result.returncode == 2
  assert "Traceback" not in result.stderr
  assert (result.stderr.strip().splitlines()[-1] ==
          f"error: input video {str(tmp_path / 'missing.mp4')!r} does not exist.")


def test_motion_colours_use_a_fixed_scale():
  # A 0.15-pixel field was coloured relative to its own maximum: full colour, as if it were a large motion.
  context = np.zeros((T_IN, 8, 8, 3), np.uint8)
  frames = np.zeros((1, T_OUT, 8, 8, 3), np.uint8)
  small = np.zeros((1, T_OUT, 8, 8, 2), np.float32)
  small[..., 1] = 0.15
  cell = predict.compose_rows(context, frames, small)[T_IN, :, 16:]
  assert cell.min() > 230  # 0.15 px of predict.DEFAULT_MAX_FLOW (4 px): nearly white
  large = small * 40.0  # 6 px: beyond the scale, saturated red (rightwards)
  np.testing.assert_array_equal(predict.compose_rows(context, frames, large)[T_IN, 0, 16], [255, 0, 0])
  np.testing.assert_array_equal(predict.compose_rows(context, frames, small, max_flow=0.15)[T_IN, 0, 16],
                                [255, 0, 0])
  with pytest.raises(ValueError, match="max_flow must be > 0"):
    predict.compose_rows(context, frames, small, max_flow=0)


def test_render_enlarges_and_captions_every_frame():
  context = np.zeros((T_IN, 32, 32, 3), np.uint8)
  frames = np.full((2, T_OUT, 32, 32, 3), 128, np.uint8)
  video = predict.compose_rows(context, frames, np.zeros((2, T_OUT, 32, 32, 2)))
  shown = predict.render(video, T_IN, 32, motion=True, scale=4)
  bar = shown.shape[1] - 2 * 128
  assert shown.shape == (T_IN + T_OUT, bar + 256, 3 * 128, 3) and bar > 0
  bare = predict.render(video, T_IN, 32, motion=True, scale=4, captions=False)
  np.testing.assert_array_equal(bare, np.repeat(np.repeat(video, 4, axis=1), 4, axis=2))
  np.testing.assert_array_equal(shown[T_IN:, bar:], bare[T_IN:])  # predicted frames: nothing drawn over them
  assert shown[:, :bar].min() < 80  # text in every caption bar
  assert np.any(shown[0, :bar] != shown[T_IN, :bar])  # "frame 1/5: context" vs "frame 3/5: predicted 1/3"
  legend = shown[0, bar:bar + 128, 256:]  # row 1's motion cell during the context: the colour wheel
  assert len(np.unique(legend.reshape(-1, 3), axis=0)) > 50
  assert predict.render(video, T_IN, 32, motion=True, scale=1).shape[2] == 96


def test_cli_defaults_to_readable_size(model_dir, tmp_path):
  assert visualization.auto_scale(32) == 4 and visualization.auto_scale(64) == 2
  assert visualization.auto_scale(128) == 1 and visualization.auto_scale(100) == 2
  out = str(tmp_path / "pred.gif")
  video = predict.run(model_dir=model_dir, input_path=VIDEO, output=out, fps=8.0)
  assert video.shape[2] == 2 * 128  # 64-pixel frames at x2
  with Image.open(out) as gif:
    gif.seek(1)
    assert gif.info["duration"] >= 100  # 1000 / fps ms, in GIF's 10-ms units
  with pytest.raises(ValueError, match="scale must be"):
    predict.run(model_dir=model_dir, input_path=VIDEO, output=out, scale=0)
