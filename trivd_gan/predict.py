"""Video prediction from a trained or exported TrIVD-GAN-FP generator, with motion fields (paper 4.4, Fig. 3).

  python -m trivd_gan.predict --model=EXPORT_DIR --input=video.mp4 --output=out.gif --num_samples=3 \
      --motion_fields
  python -m trivd_gan.predict --model_dir=TRAIN_DIR --input=video.mp4 --output=out.mp4

The input video is decoded with PyAV, resized so its smallest side is the model's frame size R (64 for the
paper's models; bilinear) and center-cropped to RxR (the evaluation preprocessing of appendix E.2); T_in frames
(the model's number of context frames) from --start_frame are the context. The output shows
context | prediction (| motion field) side by side, one row per sample (diversity of futures); during the
context part the prediction and motion columns hold the last context frame and white (no motion).

Readability: frames are enlarged (nearest neighbour) by --scale, by default to at least 128 pixels; a caption
bar above the video names the frame ("frame 7/16: predicted 2/11") and the columns; motion is coloured on the
Middlebury wheel with a fixed scale (--max_flow pixels, at the model's frame size, is full saturation; the
caption and a wheel legend in the motion column's context frames state it), so fields of two runs compare.

Paper: Luc et al., Transformation-based Adversarial Video Prediction on Large-Scale Data (2020).
"""

import os

if __name__ == "__main__":  # before TensorFlow is imported
  from trivd_gan import cli_setup  # pylint: disable=g-import-not-at-top
  cli_setup.quiet_tensorflow_logs()

import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app  # pylint: disable=wrong-import-position
from absl import flags  # pylint: disable=wrong-import-position
from absl import logging  # pylint: disable=wrong-import-position

from trivd_gan import cli_setup  # pylint: disable=wrong-import-position
from trivd_gan import visualization  # pylint: disable=wrong-import-position
# TensorFlow (with trivd_gan.inference and the video decoder) is imported once the flags are checked: --help
# and bad flags answer at once instead of after TensorFlow's ~4 s start-up.

FLAGS = flags.FLAGS

OUTPUT_EXTENSIONS = (".gif", ".mp4")


def load_video_clip(path, num_frames, start_frame=0, image_size=64):
  """Decodes `path` and returns its frames [start_frame, start_frame + num_frames) as the model sees them.

  Args:
    path: a video file.
    num_frames: T_in.
    start_frame: first frame index.
    image_size: the model's frame size R: smallest side resized to it (bilinear), then a center crop to RxR.

  Returns:
    [num_frames, image_size, image_size, 3] uint8.

  Raises:
    FileNotFoundError: no such file. ValueError: undecodable or too short a video, bad start_frame.
  """
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from trivd_gan.data import preprocessing  # pylint: disable=import-outside-toplevel
  from trivd_gan.data import video_folder  # pylint: disable=import-outside-toplevel

  if not os.path.isfile(path):
    raise FileNotFoundError(f"input video {path!r} does not exist.")
  if start_frame < 0:
    raise ValueError(f"--start_frame must be >= 0, got {start_frame}.")
  try:
    frames = video_folder.decode_video(path, image_size=image_size, max_frames=start_frame + num_frames)
  except video_folder.VideoDecodeError as e:
    raise ValueError(f"cannot decode {path!r} as a video: {e.reason}.") from e
  if len(frames) < start_frame + num_frames:
    raise ValueError(f"{path!r} has {len(frames)} frame(s); the model needs {num_frames} context frames from "
                     f"--start_frame={start_frame}, i.e. at least {start_frame + num_frames} frames.")
  clip = frames[start_frame:start_frame + num_frames]
  clip = preprocessing.resize_smallest_side(preprocessing.ensure_rgb(tf.constant(clip)), image_size)
  clip = preprocessing.crop(clip, image_size, training=False)
  return np.clip(np.round(clip.numpy()), 0, 255).astype(np.uint8)


def check_video_decodes(path, num_frames):
  """Raises ValueError unless `path` decodes to at least `num_frames` frames (decoding stops there)."""
  from trivd_gan.data import video_folder  # pylint: disable=import-outside-toplevel

  try:
    frames = video_folder.decode_video(path, image_size=None, max_frames=num_frames)
  except video_folder.VideoDecodeError as e:
    raise ValueError(f"cannot decode {path!r} as a video: {e.reason}.") from e
  if len(frames) < num_frames:
    raise ValueError(f"{path!r} has {len(frames)} frame(s); --start_frame={num_frames - 1} needs at least "
                     f"{num_frames}.")


# Full colour at 4 pixels per frame: a typical per-frame motion at 64x64 is 0.5-4 px (a TSRU's largest field is
# 14 px: 1 px at each of the three warping levels, 8 + 4 + 2 at the frame size).
DEFAULT_MAX_FLOW = 4.0


def compose_rows(context_u8, frames_u8, motion=None, max_flow=DEFAULT_MAX_FLOW):
  """Lays samples out as a video: one row per sample, columns context | prediction (| motion field).

  Args:
    context_u8: [T_in, R, R, 3] uint8, the shared context.
    frames_u8: [N, T_out, R, R, 3] uint8 predictions (N samples).
    motion: None or [N, T_out, R, R, 2] float (dy, dx) flows in pixels, coloured with the Middlebury wheel on a
      fixed scale: `max_flow` pixels is full saturation (larger motions saturate), 0 is white.
    max_flow: > 0, in pixels at the model's frame size R.

  Returns:
    [T_in + T_out, N * R, C * R, 3] uint8 with C = 2 or 3 columns. During the context frames the prediction
    column repeats the context (with no motion: white); afterwards the context column holds its last frame.
  """
  if max_flow <= 0:
    raise ValueError(f"--max_flow must be > 0 pixels, got {max_flow}.")
  n, t_out, res = frames_u8.shape[0], frames_u8.shape[1], frames_u8.shape[2]
  t_in = context_u8.shape[0]
  ctx_col = np.concatenate([context_u8, np.repeat(context_u8[-1:], t_out, axis=0)])  # [T, R, R, 3]
  rows = []
  colours = None
  if motion is not None:
    colours = visualization.flow_to_color(motion, max_flow=max_flow)  # [N, T_out, R, R, 3]
  for i in range(n):
    pred_col = np.concatenate([context_u8, frames_u8[i]])
    cols = [ctx_col, pred_col]
    if colours is not None:
      cols.append(np.concatenate([np.full((t_in, res, res, 3), 255, np.uint8), colours[i]]))
    rows.append(np.concatenate(cols, axis=2))
  return np.concatenate(rows, axis=1)


def render(video, num_context_frames, resolution, motion=False, max_flow=DEFAULT_MAX_FLOW, scale=1,
           captions=True):
  """Makes `compose_rows`' video readable: enlarged, with a caption bar and a motion legend.

  Args:
    video: `compose_rows`' [T, N * R, C * R, 3] uint8 (T = T_in + T_out).
    num_context_frames: T_in. resolution: R.
    motion: whether the third column is the motion field (it is named, and gets the wheel legend).
    max_flow: the motion colour scale in pixels (stated in the caption and the legend).
    scale: integer enlargement >= 1 (nearest neighbour).
    captions: add the caption bar (frame index, column names) and the legend.

  Returns:
    [T, bar + N * R * scale, C * R * scale, 3] uint8; bar = 0 without captions.
  """
  video = visualization.upscale(video, scale)
  if not captions:
    return video
  cell = resolution * scale
  total, t_in = video.shape[0], num_context_frames
  if motion and cell >= 32:
    # The motion cell of the first row is white during the context: the legend fits there without hiding data.
    legend = visualization.flow_legend(cell, max_flow, font_size=max(9, min(12, cell // 10)))
    video = video.copy()
    video[:t_in, :cell, 2 * cell:3 * cell] = legend
  names = ["context", "prediction"] + ([f"motion (max {max_flow:g} px)"] if motion else [])
  columns = [(c * cell, name) for c, name in enumerate(names)]
  lines = []
  for t in range(total):
    where = "context" if t < t_in else f"predicted {t - t_in + 1}/{total - t_in}"
    lines.append([[(0, f"frame {t + 1}/{total}: {where}")], columns])
  return visualization.add_caption_bar(video, lines, font_size=12)


def write_video(path, video, fps=8.0):
  """Writes [T, H, W, 3] uint8 to .gif (Pillow) or .mp4 (PyAV, libx264, yuv420p: even sides are padded)."""
  ext = os.path.splitext(path)[1].lower()
  if ext not in OUTPUT_EXTENSIONS:
    raise ValueError(f"--output must end in {' or '.join(OUTPUT_EXTENSIONS)}, got {path!r}.")
  parent = os.path.dirname(os.path.abspath(path))
  if not os.path.isdir(parent):
    raise FileNotFoundError(f"output folder {parent!r} does not exist.")
  if ext == ".gif":
    visualization.write_gif(path, video, frame_duration_ms=1000.0 / fps)
    return
  import av  # pylint: disable=import-outside-toplevel
  from fractions import Fraction  # pylint: disable=import-outside-toplevel
  height, width = video.shape[1] + video.shape[1] % 2, video.shape[2] + video.shape[2] % 2
  with av.open(path, mode="w") as container:
    stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.options = {"crf": "18"}
    for frame in video:
      frame = np.pad(frame, ((0, height - frame.shape[0]), (0, width - frame.shape[1]), (0, 0)))
      for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)


def run(model=None, model_dir=None, input_path=None, output=None, num_samples=1, truncation=0.8, start_frame=0,
        motion_fields_column=False, seed=0, fps=8.0, scale=None, captions=True, max_flow=DEFAULT_MAX_FLOW):
  """Predicts `num_samples` futures of a clip of `input_path` and writes the side-by-side video to `output`.

  scale: integer enlargement; None: `visualization.auto_scale` (frames of at least 128 pixels). captions: the
  caption bar and motion legend (`render`). max_flow: motion in pixels at full colour (fixed scale).

  Returns:
    The written video, [T_in + T_out, bar + num_samples * R * s, C * R * s, 3] uint8 (R: the model's frame size,
    s: the scale, bar: the caption bar's height, 0 without captions).
  """
  if not input_path or not output:
    raise ValueError("--input and --output are required.")
  if num_samples < 1:
    raise ValueError(f"--num_samples must be >= 1, got {num_samples}.")
  if truncation < 0:
    raise ValueError(f"--truncation must be >= 0 (0.8 in the paper), got {truncation}.")
  if fps <= 0:
    raise ValueError(f"--fps must be > 0, got {fps}.")
  if scale is not None and scale < 1:
    raise ValueError(f"--scale must be an integer >= 1 (1: the model's size), got {scale}.")
  if max_flow <= 0:
    raise ValueError(f"--max_flow must be > 0 pixels, got {max_flow}.")
  if os.path.splitext(output)[1].lower() not in OUTPUT_EXTENSIONS:
    raise ValueError(f"--output must end in {' or '.join(OUTPUT_EXTENSIONS)}, got {output!r}.")
  if not os.path.isfile(input_path):
    raise FileNotFoundError(f"input video {input_path!r} does not exist.")
  # Input and output are checked before the (slow) model loading; the frame count once T_in is known.
  parent = os.path.dirname(os.path.abspath(output))
  if not os.path.isdir(parent):
    raise FileNotFoundError(f"output folder {parent!r} does not exist; create it or choose another --output.")
  if start_frame < 0:
    raise ValueError(f"--start_frame must be >= 0, got {start_frame}.")
  check_video_decodes(input_path, start_frame + 1)
  from trivd_gan import inference  # pylint: disable=import-outside-toplevel
  predictor = inference.Predictor(model=model, model_dir=model_dir)
  context = load_video_clip(input_path, predictor.num_context_frames, start_frame, predictor.resolution)
  batch = np.repeat(context[None], num_samples, axis=0)
  result = predictor.predict(batch, [seed, 0], truncation)
  frames = visualization.to_uint8(result["frames"])
  motion = result["motion_field"] if motion_fields_column else None
  if motion is not None:
    magnitude = np.sqrt(np.sum(np.square(motion), axis=-1))
    logging.info("Motion fields: largest %.3f px, mean %.3f px per frame; full colour at --max_flow=%g px "
                 "(%.1f%% of pixels saturate).", magnitude.max(), magnitude.mean(), max_flow,
                 100.0 * np.mean(magnitude > max_flow))
  video = compose_rows(context, frames, motion, max_flow)
  scale = visualization.auto_scale(predictor.resolution) if scale is None else int(scale)
  video = render(video, predictor.num_context_frames, predictor.resolution, motion is not None, max_flow, scale,
                 captions)
  write_video(output, video, fps)
  logging.info("Wrote %s: %d frames of %dx%d (model frames %d px, shown at x%d).", output, video.shape[0],
               video.shape[2], video.shape[1], predictor.resolution, scale)
  return video


def main(argv):
  if len(argv) > 1:
    cli_setup.exit_with_error(f"unexpected arguments {argv[1:]}; use --flag=value.")
  try:
    run(model=FLAGS.model, model_dir=FLAGS.model_dir, input_path=FLAGS.input, output=FLAGS.output,
        num_samples=FLAGS.num_samples, truncation=FLAGS.truncation, start_frame=FLAGS.start_frame,
        motion_fields_column=FLAGS.motion_fields, seed=FLAGS.seed, fps=FLAGS.fps, scale=FLAGS.scale,
        captions=FLAGS.captions, max_flow=FLAGS.max_flow)
  except (ValueError, FileNotFoundError) as e:
    cli_setup.exit_with_error(e)


def define_flags():
  """The CLI flags (defined only when run as a program, so importing this module defines none)."""
  flags.DEFINE_string("model", None, "Folder of a SavedModel written by export/export_generator.py.")
  flags.DEFINE_string("model_dir", None,
                      "A training --model_dir (uses its EMA generator and saved BN statistics).")
  flags.DEFINE_string("input", None, "Input video (anything FFmpeg/PyAV reads, GIF included).")
  flags.DEFINE_string("output", None, "Output file: .gif or .mp4.")
  flags.DEFINE_integer("num_samples", 1, "Number of sampled futures (rows of the output).")
  flags.DEFINE_float("truncation", 0.8,
                     "Latent truncation: |z| <= t (0: z = 0). Default 0.8, the paper's setting for the samples "
                     "it shows (appendix D.1, D.3: truncation removes most implausible large motions and "
                     "artefacts). A large value (e.g. 100) samples the training distribution, as evaluate does "
                     "for FVD.")
  flags.DEFINE_integer("start_frame", 0, "Index of the first context frame in the input video.")
  flags.DEFINE_bool("motion_fields", False, "Add a column with the combined motion field (section 4.4).")
  flags.DEFINE_integer("seed", 0, "Random seed of the latents.")
  flags.DEFINE_float("fps", 8.0, "Frames per second of the output (a GIF frame lasts 1000 / fps ms).")
  flags.DEFINE_integer("scale", None, "Integer enlargement of the frames (nearest neighbour); default: the "
                       "smallest that shows frames of at least 128 pixels (x4 for 32-pixel models, x2 for 64). "
                       "1: the model's size.")
  flags.DEFINE_bool("captions", True, "Caption bar (frame index, context / prediction / motion) and the motion "
                    "legend; --nocaptions for the bare video.")
  flags.DEFINE_float("max_flow", DEFAULT_MAX_FLOW, "Motion colour scale: a motion of this many pixels (at the "
                     "model's frame size) per frame is full colour, larger ones saturate; the same scale for "
                     "every field, so fields compare. The largest motion is logged.")


if __name__ == "__main__":
  define_flags()
  app.run(main)
