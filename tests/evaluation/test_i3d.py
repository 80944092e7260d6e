"""Tests for trivd_gan/evaluation/i3d.py: TF1 variable names / shapes, checkpoint loading, forward pass.

Checkpoints are written with the exact names of the released kinetics-i3d checkpoints
(../shared/reference/i3d/*.variables.txt) and random values. One 224x224x9 I3D forward pass on 2 CPU cores
takes about 1 s (measured), so every test here stays within a few seconds.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from trivd_gan.evaluation import i3d
from trivd_gan.evaluation import i3d_weights

# Copies of ../shared/reference/i3d/*.variables.txt (names and shapes of the released kinetics-i3d checkpoints).
_REF_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testdata")
KIN400_LISTING = os.path.join(_REF_DIR, "rgb_imagenet_and_rgb_scratch.variables.txt")
KIN600_LISTING = os.path.join(_REF_DIR, "rgb_scratch_kin600.variables.txt")
PREFIX = "RGB/inception_i3d/"


def read_listing(path):
  """{name: shape tuple} from a `name dtype [shape]` listing."""
  out = {}
  with open(path) as f:
    for line in f:
      if line.startswith("TOTAL") or not line.strip():
        continue
      name, dtype, shape = line.strip().split(" ", 2)
      assert dtype == "float32"
      out[name] = tuple(int(v) for v in shape.strip("[]").split(","))
  return out


def random_values(listing, seed):
  rng = np.random.default_rng(seed)
  values = {}
  for name, shape in sorted(listing.items()):
    if name.endswith("/w") or name.endswith("/w/Momentum"):
      value = rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[:-1])), shape)
    elif name.endswith("/moving_variance"):
      value = rng.uniform(0.5, 1.5, shape)
    else:
      value = rng.normal(0.0, 0.1, shape)
    values[name] = value.astype(np.float32)
  return values


def write_tf1_checkpoint(prefix, values):
  """Writes a TF1-style (name-based) checkpoint with exactly these names, as tf.compat.v1 Saver would."""
  names = sorted(values)
  tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                    tensors=[tf.constant(values[n]) for n in names])
  return prefix


def relative(name):
  return name[len(PREFIX):] if name.startswith(PREFIX) else name


@pytest.fixture(scope="module")
def kin400_checkpoint(tmp_path_factory):
  values = random_values(read_listing(KIN400_LISTING), seed=1)
  prefix = str(tmp_path_factory.mktemp("rgb_imagenet") / "model.ckpt")
  return write_tf1_checkpoint(prefix, values), values


@pytest.fixture(scope="module")
def kin400_model(kin400_checkpoint):
  return i3d_weights.load_i3d_from_checkpoint(kin400_checkpoint[0])


@pytest.mark.parametrize("listing,num_classes", [(KIN400_LISTING, 400), (KIN600_LISTING, 600)],
                         ids=["kin400", "kin600"])
def test_variable_names_and_shapes_match_released_checkpoints(listing, num_classes):
  expected = read_listing(listing)
  model = i3d.I3D(num_classes)
  got = model.checkpoint_variables()
  assert len(got) == len(model.weights) == 230  # every Keras variable has a checkpoint name
  if num_classes == 400:
    assert {PREFIX + k: tuple(v.shape) for k, v in got.items()} == expected
  else:
    # Kinetics-600 layout: no prefix, BN tensors stored [1, 1, 1, 1, C], Momentum slots on top.
    stored = {k: ((1, 1, 1, 1) + tuple(v.shape) if "/batch_norm/" in k else tuple(v.shape))
              for k, v in got.items()}
    assert stored == {k: s for k, s in expected.items() if not k.endswith("/Momentum")}
  assert sum(int(np.prod(v.shape)) for v in got.values()) == sum(
      int(np.prod(s)) for k, s in expected.items() if not k.endswith("/Momentum"))


def test_kin400_checkpoint_loads_every_variable(kin400_checkpoint, kin400_model):
  _, values = kin400_checkpoint
  targets = kin400_model.checkpoint_variables()
  assert {PREFIX + k for k in targets} == set(values)
  for name, var in targets.items():
    np.testing.assert_array_equal(var.numpy(), values[PREFIX + name])


def test_kin600_checkpoint_layout_loads(tmp_path):
  listing = read_listing(KIN600_LISTING)
  values = random_values(listing, seed=2)
  prefix = write_tf1_checkpoint(str(tmp_path / "model.ckpt"), values)
  model = i3d_weights.load_i3d_from_checkpoint(prefix)
  assert model.num_classes == 600
  for name, var in model.checkpoint_variables().items():
    np.testing.assert_array_equal(var.numpy(), values[name].reshape(var.shape))


def _numpy_unit1_at(video, w, beta, mean, var, t, y, x, c):
  """Conv3d_1a_7x7 output at one position, TF SAME padding (stride 2, kernel 7: pad_before = total // 2)."""
  out = 0.0
  sizes = video.shape[1:4]
  starts = []
  for pos, size in zip((t, y, x), sizes):
    out_size = -(-size // 2)
    pad_before = max((out_size - 1) * 2 + 7 - size, 0) // 2
    starts.append(pos * 2 - pad_before)
  for dt in range(7):
    for dy in range(7):
      for dx in range(7):
        st, sy, sx = starts[0] + dt, starts[1] + dy, starts[2] + dx
        if 0 <= st < sizes[0] and 0 <= sy < sizes[1] and 0 <= sx < sizes[2]:
          out += np.dot(video[0, st, sy, sx].astype(np.float64), w[dt, dy, dx, :, c])
  return max((out - mean[c]) / np.sqrt(var[c] + 1e-3) + beta[c], 0.0)


def _reference_i3d(x, v):
  """Independent forward pass with tf.nn ops straight from the checkpoint dict (names relative to prefix)."""

  def unit(x, scope, stride=1, bn=True, relu=True):
    y = tf.nn.conv3d(x, v[scope + "/conv_3d/w"], strides=[1, stride, stride, stride, 1], padding="SAME")
    if scope + "/conv_3d/b" in v:
      y = y + v[scope + "/conv_3d/b"]
    if bn:
      y = (y - v[scope + "/batch_norm/moving_mean"]) / np.sqrt(v[scope + "/batch_norm/moving_variance"] + 1e-3)
      y = y + v[scope + "/batch_norm/beta"]
    return tf.nn.relu(y) if relu else y

  def pool(x, k, s, padding="SAME"):
    return tf.nn.max_pool3d(x, [1] + k + [1], [1] + s + [1], padding)

  def mixed(x, s):
    second = "Conv3d_0a_3x3" if s == "Mixed_5b" else "Conv3d_0b_3x3"
    b0 = unit(x, s + "/Branch_0/Conv3d_0a_1x1")
    b1 = unit(unit(x, s + "/Branch_1/Conv3d_0a_1x1"), s + "/Branch_1/Conv3d_0b_3x3")
    b2 = unit(unit(x, s + "/Branch_2/Conv3d_0a_1x1"), s + "/Branch_2/" + second)
    b3 = unit(pool(x, [3, 3, 3], [1, 1, 1]), s + "/Branch_3/Conv3d_0b_1x1")
    return tf.concat([b0, b1, b2, b3], -1)

  x = unit(x, "Conv3d_1a_7x7", stride=2)
  x = pool(x, [1, 3, 3], [1, 2, 2])
  x = unit(unit(x, "Conv3d_2b_1x1"), "Conv3d_2c_3x3")
  x = pool(x, [1, 3, 3], [1, 2, 2])
  x = mixed(mixed(x, "Mixed_3b"), "Mixed_3c")
  x = pool(x, [3, 3, 3], [2, 2, 2])
  for s in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
    x = mixed(x, s)
  x = pool(x, [2, 2, 2], [2, 2, 2])
  x = mixed(mixed(x, "Mixed_5b"), "Mixed_5c")
  x = tf.nn.avg_pool3d(x, [1, 2, 7, 7, 1], [1, 1, 1, 1, 1], "VALID")
  x = unit(x, "Logits/Conv3d_0c_1x1", bn=False, relu=False)
  return tf.reduce_mean(x[:, :, 0, 0, :], axis=1)


def test_loaded_model_matches_independent_forward_pass(kin400_checkpoint, kin400_model):
  _, values = kin400_checkpoint
  v = {relative(k): val for k, val in values.items()}
  video = tf.random.stateless_uniform([1, 9, 224, 224, 3], seed=[3, 4], minval=-1.0, maxval=1.0)
  logits, ends = kin400_model(video, return_endpoints=True)
  assert logits.shape == (1, 400)
  assert ends["Conv3d_1a_7x7"].shape == (1, 5, 112, 112, 64)
  assert ends["Mixed_5c"].shape == (1, 2, 7, 7, 1024)
  # First unit at corners (where SAME padding matters) and the middle, against plain NumPy.
  unit1 = ends["Conv3d_1a_7x7"].numpy()
  video_np = video.numpy()
  for t, y, x, c in [(0, 0, 0, 0), (4, 111, 111, 63), (2, 55, 30, 17), (4, 0, 111, 5)]:
    expected = _numpy_unit1_at(video_np, v["Conv3d_1a_7x7/conv_3d/w"], v["Conv3d_1a_7x7/batch_norm/beta"],
                               v["Conv3d_1a_7x7/batch_norm/moving_mean"],
                               v["Conv3d_1a_7x7/batch_norm/moving_variance"], t, y, x, c)
    np.testing.assert_allclose(unit1[0, t, y, x, c], expected, rtol=1e-4, atol=1e-4)
  reference = _reference_i3d(video, v).numpy()
  scale = np.abs(reference).max()
  assert scale > 0.1  # non-degenerate logits
  np.testing.assert_allclose(logits.numpy(), reference, atol=1e-4 * scale, rtol=1e-4)
  # Deterministic: a second call gives the same numbers.
  np.testing.assert_array_equal(kin400_model(video).numpy(), logits.numpy())


def test_checkpoint_mismatch_lists_unmatched_variables(tmp_path, kin400_checkpoint):
  _, values = kin400_checkpoint
  extra = dict(values)
  extra[PREFIX + "Mixed_9z/conv_3d/w"] = np.zeros([1], np.float32)
  del extra[PREFIX + "Mixed_3b/Branch_0/Conv3d_0a_1x1/batch_norm/beta"]
  prefix = write_tf1_checkpoint(str(tmp_path / "bad.ckpt"), extra)
  with pytest.raises(ValueError, match=r"Mixed_9z/conv_3d/w.*Mixed_3b/Branch_0/Conv3d_0a_1x1/batch_norm/beta"):
    i3d_weights.load_i3d_from_checkpoint(prefix)


def test_bad_inputs_raise():
  with pytest.raises(ValueError, match="400"):
    i3d.I3D(num_classes=101)
  model = i3d.I3D(400)
  with pytest.raises(ValueError, match="at least 9 frames"):
    model(tf.zeros([1, 8, 224, 224, 3]))
  with pytest.raises(ValueError, match="224x224"):
    model(tf.zeros([1, 9, 64, 64, 3]))


def test_configs_round_trip():
  unit = i3d.Unit3D(8, (3, 3, 3), (2, 2, 2), use_bias=True, scope="Mixed_4b/Branch_1/Conv3d_0b_3x3", name="u")
  assert i3d.Unit3D.from_config(unit.get_config()).get_config() == unit.get_config()
  block = i3d.MixedBlock((1, 2, 3, 4, 5, 6), "Mixed_5b")
  clone = i3d.MixedBlock.from_config(block.get_config())
  assert clone.b2b.scope == "Mixed_5b/Branch_2/Conv3d_0a_3x3" and clone.get_config() == block.get_config()
  model = i3d.I3D(600)
  assert i3d.I3D.from_config(model.get_config()).num_classes == 600
