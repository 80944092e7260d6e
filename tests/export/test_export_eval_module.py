"""export/export_eval_module.py: the I3D embedder SavedModel gives the in-process embedder's logits."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from trivd_gan.evaluation import fvd
from trivd_gan.evaluation import i3d_weights
from trivd_gan.evaluation import metrics

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

LOAD_CODE = """
import sys, numpy as np, tensorflow as tf
m = tf.saved_model.load(sys.argv[1])
np.save(sys.argv[3], m.embed(tf.constant(np.load(sys.argv[2])))["logits"].numpy())
print(m.embedder_name.numpy().decode())
a, b = (tf.constant(np.load(sys.argv[i]), tf.float32) for i in (4, 5))
print(float(m.fvd(a, b)["fvd"]), float(m.inception_score(a)["inception_score"]))
"""


def test_random_i3d_export_matches_embedder(tmp_path):
  out = str(tmp_path / "i3d")
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  result = subprocess.run([sys.executable, os.path.join(ROOT, "export", "export_eval_module.py"),
                           "--i3d=random", f"--output={out}"],
                          capture_output=True, text=True, env=env, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  videos = np.random.default_rng(0).uniform(-1, 1, (1, 9, 64, 64, 3)).astype(np.float32)
  np.save(tmp_path / "v.npy", videos)
  rng = np.random.default_rng(1)
  real, generated = (rng.normal(size=(20, 400)).astype(np.float32),
                     rng.normal(1, 2, (30, 400)).astype(np.float32))
  np.save(tmp_path / "a.npy", real)
  np.save(tmp_path / "b.npy", generated)
  # Loaded without the repository on sys.path: embed, then FVD and IS from the module alone.
  loaded = subprocess.run([sys.executable, "-c", LOAD_CODE, out, "v.npy", "l.npy", "a.npy", "b.npy"],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, check=False)
  assert loaded.returncode == 0, loaded.stderr[-3000:]
  name, scores = loaded.stdout.strip().splitlines()[-2:]
  assert name.startswith("random-")
  fvd_value, is_value = (float(x) for x in scores.split())
  np.testing.assert_allclose(fvd_value, fvd.frechet_distance_from_activations(real, generated), rtol=1e-6)
  np.testing.assert_allclose(is_value, metrics.inception_score(real), rtol=1e-9)
  logits = np.load(tmp_path / "l.npy")
  expected = i3d_weights.make_embedder("random").embed(videos)
  assert logits.shape == (1, 400)
  np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4)
  module = tf.saved_model.load(out)
  with pytest.raises(tf.errors.InvalidArgumentError, match="T >= 9"):
    module.embed(tf.zeros([1, 4, 64, 64, 3]))
  with pytest.raises(tf.errors.InvalidArgumentError, match=r"in \[-1, 1\]"):
    module.embed(tf.fill([1, 9, 64, 64, 3], 3.0))
  with pytest.raises(tf.errors.InvalidArgumentError, match="same d"):
    module.fvd(tf.zeros([4, 400]), tf.zeros([4, 300]))
  with pytest.raises(tf.errors.InvalidArgumentError, match=r"N >= 2"):
    module.fvd(tf.zeros([1, 400]), tf.zeros([4, 400]))
