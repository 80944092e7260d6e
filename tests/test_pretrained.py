"""The shipped Moving MNIST model, pretrained/moving_mnist (docs/results/pretrained.md).

It loads through hub.load and predicts a held-out clip; on the fixed held-out sequences of
tests/testdata/moving_mnist_heldout.npz (test digits, never seen in training) it beats copy-last-frame on mean
PSNR over the predicted frames: a regression guard, not a benchmark (the benchmark is `python -m
trivd_gan.probe`, docs/results/pretrained.md).
"""

import os

import numpy as np
import pytest
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "pretrained", "moving_mnist")
HELD_OUT = os.path.join(ROOT, "tests", "testdata", "moving_mnist_heldout.npz")


@pytest.fixture(scope="module")
def module():
  import tensorflow_hub as hub  # pylint: disable=import-outside-toplevel
  assert os.path.isfile(os.path.join(MODEL, "saved_model.pb")), "the shipped model is missing from the repo"
  return hub.load(MODEL)


@pytest.fixture(scope="module")
def held_out():
  """[8, 20, 64, 64, 3] uint8: 8 held-out Moving MNIST sequences."""
  video = np.load(HELD_OUT)["video"]
  return np.repeat(video[..., None], 3, axis=-1)


def test_hub_load_predicts_a_held_out_clip(module, held_out):
  assert int(module.num_context_frames.numpy()) == 10 and int(module.num_predicted_frames.numpy()) == 10
  assert int(module.resolution.numpy()) == 64
  out = module.predict_uint8(tf.constant(held_out[:1, :10]), tf.constant([0, 0], tf.int64), tf.constant(0.0))
  frames = out["frames"].numpy()
  assert frames.shape == (1, 10, 64, 64, 3) and frames.dtype == np.uint8
  # Not a constant image: the prediction has dark background and bright strokes.
  assert frames.min() < 40 and frames.max() > 120


def test_beats_copy_last_frame_on_held_out_sequences(module, held_out):
  from trivd_gan.evaluation import metrics  # pylint: disable=import-outside-toplevel
  video = tf.constant(held_out.astype(np.float32) / 127.5 - 1.0)
  context, future = video[:, :10], video[:, 10:]
  frames = module.predict(context, tf.constant([0, 0], tf.int64), tf.constant(0.0))["frames"]
  model_psnr = float(tf.reduce_mean(metrics.psnr_per_frame(frames, future)))
  copy_psnr = float(tf.reduce_mean(metrics.psnr_per_frame(metrics.copy_last_frame(context, 10), future)))
  assert model_psnr > copy_psnr, (model_psnr, copy_psnr)
  # The predictions depend on the context: two clips' predictions differ.
  assert float(tf.reduce_mean(tf.abs(frames[0] - frames[1]))) > 0.02
