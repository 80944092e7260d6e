"""Motion fields pooled over content before each warp of G's chain (`Generator.chain_pooling_radius`, NOT in the
paper): NumPy references written from the docstrings, and what each pooling does to a moving block."""

import collections

import numpy as np
import pytest
import tensorflow as tf

from trivd_gan.layers import warping
from trivd_gan.models import chain_pooling


def _np_content(frame):
  """c = (max - min over the 3x3 window, clipped at the border; max over channels) / 2."""
  b, h, w, _ = frame.shape
  content = np.zeros((b, h, w), np.float32)
  for i, y, x in np.ndindex(b, h, w):
    window = frame[i, max(0, y - 1):y + 2, max(0, x - 1):x + 2]
    content[i, y, x] = (window.max(axis=(0, 1)) - window.min(axis=(0, 1))).max() / 2
  return content


def _np_regions(frame, radius, threshold=0.2):
  """Connected components (8-neighbours, breadth first) of the pixels within radius px of content > threshold;
  each region as a set of (y, x)."""
  content = _np_content(frame)
  b, h, w = content.shape
  out = []
  for i in range(b):
    near = np.zeros((h, w), bool)
    for y, x in zip(*np.nonzero(content[i] > threshold)):
      near[max(0, y - radius):y + radius + 1, max(0, x - radius):x + radius + 1] = True
    seen, regions = np.zeros((h, w), bool), []
    for start in zip(*np.nonzero(near)):
      if seen[start]:
        continue
      seen[start], queue, region = True, collections.deque([start]), set()
      while queue:
        y, x = queue.popleft()
        region.add((y, x))
        for dy, dx in np.ndindex(3, 3):
          v, u = y + dy - 1, x + dx - 1
          if 0 <= v < h and 0 <= u < w and near[v, u] and not seen[v, u]:
            seen[v, u] = True
            queue.append((v, u))
      regions.append(region)
    out.append(regions)
  return out


def _two_objects(seed=7):
  """[2, 20, 24, 3] frames: two textured patches on a flat background (two objects, apart)."""
  rng = np.random.default_rng(seed)
  frame = -np.ones((2, 20, 24, 3), np.float32)
  frame[:, 3:7, 2:6] = rng.uniform(-1, 1, (2, 4, 4, 3))
  frame[:, 10:16, 14:19] = rng.uniform(-1, 1, (2, 6, 5, 3))
  frame[1, 16:18, 2:4] = 1.0  # a third object in the second image only
  return frame


def test_content_pooled_flow_matches_a_numpy_reference():
  rng = np.random.default_rng(7)
  frame = -np.ones((2, 10, 9, 3), np.float32)
  frame[:, 3:6, 2:5] = rng.uniform(-1, 1, (2, 3, 3, 3))  # a textured patch on a flat background
  flow = rng.normal(0, 2.0, (2, 10, 9, 2)).astype(np.float32)
  radius, eps = 2, 1e-3
  b, h, w, _ = frame.shape
  content = _np_content(frame)
  expected = np.zeros_like(flow)
  for i, y, x in np.ndindex(b, h, w):
    ys, xs = slice(max(0, y - radius), y + radius + 1), slice(max(0, x - radius), x + radius + 1)
    c, f = content[i, ys, xs], flow[i, ys, xs]
    expected[i, y, x] = ((c[..., None] * f).mean(axis=(0, 1)) + eps * flow[i, y, x]) / (c.mean() + eps)
  pooled = chain_pooling.content_pooled_flow(frame, flow, radius).numpy()
  np.testing.assert_allclose(pooled, expected, rtol=1e-4, atol=1e-5)
  # Far from the patch (no content within radius + 1 px) the field passes unchanged.
  np.testing.assert_allclose(pooled[:, 9, 8], flow[:, 9, 8], rtol=1e-5)


def test_chain_pooling_moves_a_digit_whole_with_a_field_that_falls_off_at_its_edge():
  # Why the option (docs/learning.md experiment 13): a block moving 2 px right per step, warped three times,
  # each time by a field that is its motion where the block is (and 1 px around it) and 0 beyond. Unpooled,
  # the chain cuts the block's leading edge and leaves ink behind; pooled over the content it moves, every
  # pixel near the block moves by the block's mean field, and the block arrives whole.
  frame = -np.ones((1, 24, 24, 1), np.float32)
  frame[0, 8:16, 4:10] = 1.0
  target = np.roll(frame, 6, axis=2)
  moved = {}
  for pooled in (False, True):
    image = tf.constant(frame)
    for _ in range(3):
      near = tf.nn.max_pool2d(tf.cast(image > 0, tf.float32), 3, 1, "SAME")[..., 0]
      falls_off = tf.stack([tf.zeros_like(near), 2.0 * near], axis=-1)
      field = chain_pooling.content_pooled_flow(image, falls_off, 4) if pooled else falls_off
      image = warping.backward_warp(image, field)
    moved[pooled] = float(np.abs(image.numpy() - target).mean())
  assert moved[True] < 0.01 < 0.05 < moved[False], moved


def test_content_regions_are_the_connected_regions_near_content():
  frame, radius = _two_objects(), 1
  labels = chain_pooling.content_regions(frame, radius).numpy()
  for i, regions in enumerate(_np_regions(frame, radius)):
    assert len(regions) == (2 if i == 0 else 3)
    assert sum(map(len, regions)) == np.count_nonzero(labels[i])  # nothing else is labelled
    for region in regions:
      values = {labels[i][p] for p in region}
      assert len(values) == 1 and 0 not in values  # one label per region ...
    assert len({labels[i][next(iter(r))] for r in regions}) == len(regions)  # ... and different ones
  # A radius that bridges the gap between the patches makes them one region.
  assert len(set(chain_pooling.content_regions(frame, 4).numpy()[0].ravel()) - {0}) == 1


def test_object_pooled_flow_matches_a_numpy_reference():
  frame, radius, eps = _two_objects(), 1, 1e-3
  flow = np.random.default_rng(3).normal(0, 2.0, (2, 20, 24, 2)).astype(np.float32)
  content = _np_content(frame)
  expected = flow.copy()  # off every region the field passes unchanged
  for i, regions in enumerate(_np_regions(frame, radius)):
    for region in regions:
      ys, xs = map(np.array, zip(*region))
      c, f = content[i, ys, xs], flow[i, ys, xs]
      expected[i, ys, xs] = ((c[:, None] * f).sum(axis=0) + eps * f) / (c.sum() + eps)
  np.testing.assert_allclose(chain_pooling.object_pooled_flow(frame, flow, radius).numpy(), expected,
                             rtol=1e-4, atol=1e-5)


def test_object_pooling_moves_a_block_whole_under_a_field_that_varies_across_it():
  # Why "object" (docs/learning.md experiment 14): a block warped three times by a field that converges on
  # the frame's centre (3 px right per step at its left edge, 1 px at its right edge: the shared field of
  # experiment 13 that squeezes digits). Window pooling over 2 px still squeezes it; pooled over the object,
  # every pixel moves by the block's mean field and the block keeps its width.
  frame = -np.ones((1, 24, 32, 1), np.float32)
  frame[0, 8:16, 4:14] = 1.0
  converging = np.zeros((1, 24, 32, 2), np.float32)
  converging[..., 1] = np.linspace(4.0, -2.0, 32)[None, None, :]
  widths = {}
  for mode in ("none", "window", "object"):
    image = tf.constant(frame)
    for _ in range(3):
      field = converging if mode == "none" else chain_pooling.pooled_flow(mode, image, converging, 2)
      image = warping.backward_warp(image, field)
    ink = (image.numpy()[0, 12, :, 0] + 1) / 2  # the middle row's ink in [0, 1]
    widths[mode] = float(ink.sum())
  assert abs(widths["object"] - 10.0) < 0.3, widths
  assert widths["none"] < 8.5 and widths["window"] < 9.5, widths


def test_object_pooled_flow_passes_gradients_and_compiles_under_xla():
  frame = tf.constant(_two_objects())
  flow = tf.constant(np.random.default_rng(5).normal(0, 1.0, (2, 20, 24, 2)).astype(np.float32))

  def loss_and_grad(flow):
    with tf.GradientTape() as tape:
      tape.watch(flow)
      loss = tf.reduce_sum(warping.backward_warp(frame, chain_pooling.object_pooled_flow(frame, flow, 1)) ** 2)
    return loss, tape.gradient(loss, flow)

  loss, grad = loss_and_grad(flow)
  assert np.isfinite(grad.numpy()).all() and np.abs(grad.numpy()).sum() > 0
  xla_loss, xla_grad = tf.function(loss_and_grad, jit_compile=True)(flow)
  np.testing.assert_allclose(xla_loss.numpy(), loss.numpy(), rtol=1e-4)
  np.testing.assert_allclose(xla_grad.numpy(), grad.numpy(), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("mode", chain_pooling.CHAIN_POOLING)
def test_pooled_flow_keeps_a_field_that_is_already_constant_over_an_object(mode):
  frame = _two_objects()
  flow = np.broadcast_to(np.array([1.5, -0.5], np.float32), (2, 20, 24, 2))
  np.testing.assert_allclose(chain_pooling.pooled_flow(mode, frame, flow, 2).numpy(), flow, rtol=1e-5)


@pytest.mark.parametrize("mode", ["window", "object"])
def test_pooled_flows_pools_each_step_with_its_own_frame(mode):
  rng = np.random.default_rng(11)
  frames = rng.uniform(-1, 1, (2, 3, 16, 16, 3)).astype(np.float32)
  flows = rng.normal(0, 1, (2, 3, 16, 16, 2)).astype(np.float32)
  pooled = chain_pooling.pooled_flows(mode, frames, flows, 2).numpy()
  for b in range(2):
    for t in range(3):
      alone = chain_pooling.pooled_flow(mode, frames[b:b + 1, t], flows[b:b + 1, t], 2).numpy()[0]
      np.testing.assert_allclose(pooled[b, t], alone, rtol=1e-5, atol=1e-6)
  assert chain_pooling.pooled_flows(mode, frames, flows, 0) is flows  # radius 0: a chain that does not pool
