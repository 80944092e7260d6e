"""Tests for trivd_gan/field_losses.py: each term on G's motion fields against a NumPy reference written from
its docstring, and the behaviour it exists for (docs/learning.md experiments 11-20)."""

import numpy as np
import pytest
import tensorflow as tf

from trivd_gan import field_losses

def test_mean_flow_penalty_is_the_squared_batch_mean_field():
  rng = np.random.default_rng(2)
  flows = rng.normal(0.5, 2.0, (4, 3, 5, 5, 2)).astype(np.float32)
  mean = flows.mean(axis=(0, 2, 3))  # [Tp, 2]: the field shared by the batch
  expected = np.mean(np.sum(mean ** 2, axis=-1))
  np.testing.assert_allclose(field_losses.mean_flow_penalty(flows).numpy(), expected, rtol=1e-5)
  # Clips moving in opposite directions cancel: no penalty for per-clip motion alone.
  opposite = np.concatenate([flows[:2], -flows[:2]], axis=0)
  np.testing.assert_allclose(field_losses.mean_flow_penalty(opposite).numpy(), 0.0, atol=1e-10)
  # A replica holding 4 of 8 clips contributes half of its mean.
  np.testing.assert_allclose(field_losses.mean_flow_penalty(flows, global_batch_size=8).numpy(), expected / 2,
                             rtol=1e-5)
  with pytest.raises(ValueError, match="motion fields"):
    field_losses.mean_flow_penalty(flows[..., :1])


def test_mean_flow_penalty_on_content_is_the_weighted_batch_mean_field():
  # Experiment 14: the mean where the fields move content, so that a drift on the digits is not hidden by the
  # background's zero field.
  rng = np.random.default_rng(3)
  flows = rng.normal(0.5, 2.0, (4, 3, 5, 5, 2)).astype(np.float32)
  weights = rng.uniform(0.0, 1.0, (4, 3, 5, 5)).astype(np.float32)
  mean = (weights[..., None] * flows).sum(axis=(0, 2, 3)) / weights.sum(axis=(0, 2, 3))[:, None]  # [Tp, 2]
  np.testing.assert_allclose(field_losses.mean_flow_penalty(flows, weights).numpy(),
                             np.mean(np.sum(mean ** 2, axis=-1)), rtol=1e-4)
  # A drift on the content only (a quarter of the frame) counts fully, not a quarter of it.
  drift = np.zeros((2, 1, 4, 4, 2), np.float32)
  drift[:, :, :2, :2] = [3.0, -1.0]
  on_content = np.zeros((2, 1, 4, 4), np.float32)
  on_content[:, :, :2, :2] = 1.0
  np.testing.assert_allclose(field_losses.mean_flow_penalty(drift, on_content).numpy(), 10.0, rtol=1e-5)
  np.testing.assert_allclose(field_losses.mean_flow_penalty(drift).numpy(), 10.0 / 16, rtol=1e-5)
  with pytest.raises(ValueError, match="weights"):
    field_losses.mean_flow_penalty(flows, weights[:, :2])


def _np_backward_warp(image, flow):
  """NumPy reference of warping.backward_warp: out[y, x] = image[y - dy, x - dx], bilinear, border-clamped."""
  h, w, _ = image.shape
  out = np.zeros_like(image)
  for y in range(h):
    for x in range(w):
      sy, sx = np.clip(y - flow[y, x, 0], 0, h - 1), np.clip(x - flow[y, x, 1], 0, w - 1)
      y0, x0 = int(np.floor(sy)), int(np.floor(sx))
      y1, x1, fy, fx = min(y0 + 1, h - 1), min(x0 + 1, w - 1), sy - y0, sx - x0
      out[y, x] = ((1 - fy) * (1 - fx) * image[y0, x0] + (1 - fy) * fx * image[y0, x1]
                   + fy * (1 - fx) * image[y1, x0] + fy * fx * image[y1, x1])
  return out


def _np_pool(x, s):
  h, w, c = x.shape
  return x.reshape(h // s, s, w // s, s, c).mean(axis=(1, 3))


def test_warp_photometric_loss_matches_a_numpy_reference():
  rng = np.random.default_rng(3)
  tc, tp, size = 2, 2, 8
  video = rng.uniform(-1, 1, (2, tc + tp, size, size, 3)).astype(np.float32)
  flows = rng.normal(0, 1.5, (2, tp, size, size, 2)).astype(np.float32)
  errors = []
  for s in (1, 2):
    for b in range(2):
      for t in range(tp):
        warped = _np_backward_warp(_np_pool(video[b, tc + t - 1], s), _np_pool(flows[b, t], s) / s)
        errors.append((s, np.abs(warped - _np_pool(video[b, tc + t], s)).mean()))
  expected = np.mean([np.mean([e for s, e in errors if s == scale]) for scale in (1, 2)])
  got = field_losses.warp_photometric_loss(video, flows, tc, scales=(1, 2)).numpy()
  np.testing.assert_allclose(got, expected, rtol=1e-5)
  scaled = field_losses.warp_photometric_loss(video, flows, tc, scales=(1, 2), global_batch_size=8)
  np.testing.assert_allclose(scaled, expected / 4, rtol=1e-5)
  with pytest.raises(ValueError, match="Tc = 3"):
    field_losses.warp_photometric_loss(video, flows, 3)
  with pytest.raises(ValueError, match="does not divide"):
    field_losses.warp_photometric_loss(video, flows, tc, scales=(3,))
  # With `previous`, each field moves those frames (G's own, for the chain term) onto the same real frames.
  previous = rng.uniform(-1, 1, (2, tp, size, size, 3)).astype(np.float32)
  errors = [np.abs(_np_backward_warp(previous[b, t], flows[b, t]) - video[b, tc + t]).mean()
            for b in range(2) for t in range(tp)]
  got = field_losses.warp_photometric_loss(video, flows, tc, scales=(1,), previous=previous).numpy()
  np.testing.assert_allclose(got, np.mean(errors), rtol=1e-5)
  with pytest.raises(ValueError, match="previous must be"):
    field_losses.warp_photometric_loss(video, flows, tc, previous=previous[:, :1])


def test_warp_photometric_loss_is_zero_for_the_true_motion():
  # A pattern translating 2 px down and 1 px right per frame, away from the borders, and its true field.
  frame = np.zeros((16, 16, 3), np.float32)
  frame[2:6, 3:7] = 1.0
  video = np.stack([np.roll(frame, (2 * t, t), axis=(0, 1)) for t in range(4)])[None]  # [1, 4, 16, 16, 3]
  true = np.broadcast_to(np.array([2.0, 1.0], np.float32), (1, 2, 16, 16, 2))
  assert field_losses.warp_photometric_loss(video, true, 2, scales=(1,)).numpy() < 1e-6
  assert field_losses.warp_photometric_loss(video, np.zeros_like(true), 2, scales=(1,)).numpy() > 0.05


def test_warp_photometric_loss_on_a_lagging_prediction_asks_the_field_to_catch_up():
  # The real pattern moves 2 px down per frame; G's previous frame has it 1 px behind (at 1 px instead of 2).
  # On the real previous frame the true motion scores 0; on G's own frame the field that scores 0 is 3 px
  # (catch up), and the true 2 px leaves an error: the chain term trains the field where G's content is.
  frame = np.zeros((16, 16, 3), np.float32)
  frame[4:8, 5:9] = 1.0
  video = np.stack([np.roll(frame, 2 * t, axis=0) for t in range(3)])[None]  # [1, 3, 16, 16, 3]
  lagging = np.roll(frame, 1, axis=0)[None, None]  # G's frame 1 of the clip: 1 px behind the real one
  field = lambda dy: np.broadcast_to(np.array([dy, 0.0], np.float32), (1, 1, 16, 16, 2))
  loss = lambda dy, previous=None: field_losses.warp_photometric_loss(video, field(dy), 2, scales=(1,),
                                                                      previous=previous).numpy()
  assert loss(2.0) < 1e-6 and loss(3.0, lagging) < 1e-6
  assert loss(2.0, lagging) > 0.01


def test_warp_photometric_loss_coarse_scales_reach_moves_beyond_one_pixel_of_overlap():
  # A 4x4 block moving 6 px right: at a small flow the full-resolution loss has no gradient (the old and new
  # blocks are 2 px apart); pooled by 4, they touch, and the gradient says "move right". (0.3 px, not 0:
  # bilinear sampling has a kink at integer flows.)
  frame = np.zeros((32, 32, 3), np.float32)
  frame[12:16, 4:8] = 1.0
  video = np.stack([frame, np.roll(frame, 6, axis=1)])[None]  # [1, 2, 32, 32, 3]: Tc = 1, Tp = 1
  dx = tf.Variable(0.3)
  for scales, moves_right in (((1,), False), ((1, 2, 4), True)):
    with tf.GradientTape() as tape:
      flows = tf.stack([tf.zeros([1, 1, 32, 32]), dx * tf.ones([1, 1, 32, 32])], axis=-1)
      loss = field_losses.warp_photometric_loss(video, flows, 1, scales=scales)
    grad = float(tape.gradient(loss, dx))
    assert (grad < -1e-4) if moves_right else abs(grad) < 1e-7, (scales, grad)


def test_flow_smoothness_loss_matches_a_numpy_reference():
  rng = np.random.default_rng(4)
  flows = rng.normal(0, 2.0, (2, 3, 5, 6, 2)).astype(np.float32)
  b, tp, h, w, _ = flows.shape
  expected = 0.0
  for c in range(2):  # loops over neighbours, written from the docstring's formula
    vertical = [abs(flows[i, t, y + 1, x, c] - flows[i, t, y, x, c])
                for i in range(b) for t in range(tp) for y in range(h - 1) for x in range(w)]
    horizontal = [abs(flows[i, t, y, x + 1, c] - flows[i, t, y, x, c])
                  for i in range(b) for t in range(tp) for y in range(h) for x in range(w - 1)]
    expected += np.mean(vertical) + np.mean(horizontal)
  np.testing.assert_allclose(field_losses.flow_smoothness_loss(flows).numpy(), expected, rtol=1e-5)
  scaled = field_losses.flow_smoothness_loss(flows, global_batch_size=4).numpy()
  np.testing.assert_allclose(scaled, expected / 2, rtol=1e-5)
  # A field constant in space (each clip and step its own) costs nothing, whatever its size.
  constant = np.broadcast_to(flows[:, :, :1, :1], flows.shape)
  np.testing.assert_allclose(field_losses.flow_smoothness_loss(constant).numpy(), 0.0, atol=1e-7)
  with pytest.raises(ValueError, match="motion fields"):
    field_losses.flow_smoothness_loss(flows[:, :, :1])


def test_fields_that_fall_off_at_a_digit_edge_squeeze_it_in_a_warp_chain():
  # Why the smoothness term: a block moving 2 px right per step. A field equal to the motion only where the
  # block was (0 elsewhere) leaves ink behind and cuts the leading edge; the constant field, smoothness 0,
  # moves the block intact.
  from trivd_gan.layers import warping
  frame = np.zeros((1, 24, 24, 1), np.float32)
  frame[0, 8:16, 4:10] = 1.0
  constant = np.zeros((1, 24, 24, 2), np.float32)
  constant[..., 1] = 2.0
  falls_off = constant * frame  # the motion on the block's old position only
  moved = {}
  for name, field in (("constant", constant), ("falls_off", falls_off)):
    image = tf.constant(frame)
    for _ in range(3):
      image = warping.backward_warp(image, tf.constant(field))
    moved[name] = image.numpy()
  np.testing.assert_allclose(moved["constant"], np.roll(frame, 6, axis=2), atol=1e-6)
  assert np.abs(moved["falls_off"] - np.roll(frame, 6, axis=2)).sum() > 20  # smeared, not moved
  assert float(field_losses.flow_smoothness_loss(falls_off[:, None])) > 0.0


def test_content_weights_match_a_numpy_reference():
  rng = np.random.default_rng(5)
  video = -np.ones((2, 4, 12, 10, 3), np.float32)  # black clips, Tc = 2, Tp = 2
  video[:, :, 5, 4, 1] = rng.uniform(-1, 1, (2, 4))  # one dot per frame, green channel only
  video[1, 3, 0, 9] = 0.9  # and a white corner in one frame
  radius, contrast = 2, 0.5
  expected = np.zeros((2, 2, 12, 10), np.float32)
  for b, t, y, x in np.ndindex(*expected.shape):  # written from the docstring's formula
    ranges = []
    for frame in (video[b, 2 + t - 1], video[b, 2 + t]):
      window = frame[max(0, y - radius):y + radius + 1, max(0, x - radius):x + radius + 1]
      ranges.append((window.max(axis=(0, 1)) - window.min(axis=(0, 1))).max())
    expected[b, t, y, x] = min(1.0, max(ranges) / contrast)
  got = field_losses.content_weights(video, 2, radius, contrast).numpy()
  np.testing.assert_allclose(got, expected, atol=1e-6)
  assert got[0, 0, 0, 0] == 0.0 and got[0, 0, 5, 4] > 0.0  # 0 far from the dot, > 0 on it
  with pytest.raises(ValueError, match="radius >= 1"):
    field_losses.content_weights(video, 2, 0)


def test_weighted_flow_smoothness_matches_a_numpy_reference():
  rng = np.random.default_rng(6)
  flows = rng.normal(0, 2.0, (2, 3, 5, 6, 2)).astype(np.float32)
  weights = rng.uniform(0, 1, flows.shape[:-1]).astype(np.float32)
  b, tp, h, w, _ = flows.shape
  expected = 0.0
  for c in range(2):
    for pairs in ([((i, t, y, x), (i, t, y + 1, x)) for i in range(b) for t in range(tp) for y in range(h - 1)
                   for x in range(w)],
                  [((i, t, y, x), (i, t, y, x + 1)) for i in range(b) for t in range(tp) for y in range(h)
                   for x in range(w - 1)]):
      pair_weights = np.array([min(weights[p], weights[q]) for p, q in pairs])
      differences = np.array([abs(flows[q][c] - flows[p][c]) for p, q in pairs])
      expected += (pair_weights * differences).sum() / pair_weights.sum()
  np.testing.assert_allclose(field_losses.flow_smoothness_loss(flows, weights).numpy(), expected, rtol=1e-5)
  # Weights of 1 everywhere are the unweighted term.
  np.testing.assert_allclose(field_losses.flow_smoothness_loss(flows, np.ones_like(weights)).numpy(),
                             field_losses.flow_smoothness_loss(flows).numpy(), rtol=1e-6)
  with pytest.raises(ValueError, match="weights must be"):
    field_losses.flow_smoothness_loss(flows, weights[:, :1])


def test_content_weights_let_the_field_differ_on_the_background_far_from_a_digit():
  # Why the weights (docs/learning.md experiment 13): a clip's field is its digit's motion (2 px right) on and
  # around the digit, and some other value (here 0) on the background far from it, where G has no way of
  # knowing the digit's motion. Unweighted smoothness pulls the two together; the weighted term does not,
  # and the warp still moves the digit intact.
  from trivd_gan.layers import warping
  video = -np.ones((1, 2, 32, 32, 1), np.float32)
  video[0, 0, 12:20, 6:12] = 1.0
  video[0, 1, 12:20, 8:14] = 1.0  # moved 2 px right
  weights = field_losses.content_weights(video, 1, radius=3)
  near = weights.numpy()[0, 0] > 0
  field = np.zeros((1, 1, 32, 32, 2), np.float32)
  field[0, 0, ..., 1] = np.where(near, 2.0, 0.0)
  assert float(field_losses.flow_smoothness_loss(field, weights)) == 0.0
  assert float(field_losses.flow_smoothness_loss(field)) > 0.0
  warped = warping.backward_warp(tf.constant(video[:, 0]), tf.constant(field[:, 0])).numpy()
  np.testing.assert_allclose(warped, video[:, 1], atol=1e-6)


def _np_content_weights(video, tc, radius, contrast=0.2):
  b, t, h, w, _ = video.shape
  out = np.zeros((b, t - tc, h, w), np.float32)
  for i, s, y, x in np.ndindex(*out.shape):
    windows = [frame[max(0, y - radius):y + radius + 1, max(0, x - radius):x + radius + 1]
               for frame in (video[i, tc + s - 1], video[i, tc + s])]
    ranges = [np.ptp(window, axis=(0, 1)).max() for window in windows]
    out[i, s, y, x] = min(1.0, max(ranges) / contrast)
  return out


def test_copy_mask_loss_matches_a_numpy_reference():
  rng = np.random.default_rng(7)
  tc, tp, size = 2, 2, 8
  video = -np.ones((2, tc + tp, size, size, 3), np.float32)
  video[:, :, 2:5, 3:6] = rng.uniform(-1, 1, (2, tc + tp, 3, 3, 3))  # textured blocks on black
  flows = rng.normal(0, 0.7, (2, tp, size, size, 2)).astype(np.float32)
  mask = rng.uniform(0.05, 0.95, (2, tp, size, size, 1)).astype(np.float32)
  tolerance = 0.5  # written from the docstring's formula: w = c max(0, 1 - e / tol), sum w (1 - m) / sum w
  content = _np_content_weights(video, tc, 1)
  weights = np.zeros_like(content)
  for b, t in np.ndindex(2, tp):
    error = np.abs(_np_backward_warp(video[b, tc + t - 1], flows[b, t]) - video[b, tc + t]).mean(-1)
    weights[b, t] = content[b, t] * np.maximum(0.0, 1.0 - error / tolerance)
  expected = (weights * (1.0 - mask[..., 0])).sum() / weights.sum()
  got = field_losses.copy_mask_loss(video, flows, mask, tc, tolerance=tolerance)
  np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5)
  assert (weights == 0).any() and (weights > 0).any()  # pixels moved right and wrong, content and background
  np.testing.assert_allclose(field_losses.copy_mask_loss(video, flows, mask, tc, global_batch_size=8).numpy(),
                             expected / 4, rtol=1e-5)
  with pytest.raises(ValueError, match="mask"):
    field_losses.copy_mask_loss(video, flows, mask[:, :1], tc)


def test_copy_mask_loss_asks_to_keep_content_moved_right_and_nothing_where_the_field_is_wrong():
  # A block moving 2 px right per frame. With the true field, the term asks m = 1 on and around the block
  # (its gradient is negative on every mask pixel there); with a field that moves it the wrong way, far
  # enough that no pixel of the block's new position matches, the block's pixels carry no weight.
  frame = -np.ones((16, 16, 3), np.float32)
  frame[6:10, 3:7] = 1.0
  video = np.stack([np.roll(frame, 2 * t, axis=1) for t in range(3)])[None]  # [1, 3, 16, 16, 3]: Tc 2, Tp 1
  mask = tf.Variable(tf.fill([1, 1, 16, 16, 1], 0.5))
  for dx, asks_on_block in ((2.0, True), (-4.0, False)):
    flows = np.broadcast_to(np.array([0.0, dx], np.float32), (1, 1, 16, 16, 2))
    with tf.GradientTape() as tape:
      loss = field_losses.copy_mask_loss(video, flows, mask, 2)
    grad = tape.gradient(loss, mask).numpy()[0, 0, ..., 0]
    block = grad[6:10, 7:11]  # where the block is in the real frame
    assert (block < 0).all() if asks_on_block else (block == 0).all(), (dx, block)
    assert (grad <= 0).all() and grad[0, 0] == 0.0  # never asks m < 1; nothing far from the content
  # With m = 1 everywhere the term is 0; it carries no gradient to the field.
  flows = tf.Variable(tf.fill([1, 1, 16, 16, 2], 1.0))
  with tf.GradientTape() as tape:
    loss = field_losses.copy_mask_loss(video, flows, tf.ones([1, 1, 16, 16, 1]), 2)
  assert float(loss) == 0.0 and tape.gradient(loss, flows) is None
