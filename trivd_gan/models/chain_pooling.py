"""Motion fields pooled over the content they move, before each warp of G's chain (NOT in the paper).

`Generator.output_mode = "warp_chain"` moves each predicted frame's predecessor by G's combined motion field.
At CPU scale that field falls off across a Moving MNIST digit and the chain squeezes the digit into strokes
(docs/learning.md experiments 12-13). `Generator.chain_pooling_radius` replaces the field, before each warp,
by its mean over the content of the frame being moved:
- "window" (`content_pooled_flow`): over a (2r + 1)^2 window around each pixel;
- "object" (`object_pooled_flow`): over each connected region of content (an object: a digit, or two that
  touch), so every pixel of an object moves by one field and the object moves whole.
Both are off by default; no gradient flows through the content weights or the regions.
"""

import tensorflow as tf

CHAIN_POOLING = ("window", "object")


def content_weights(frame):
  """[B, H, W, 1] float32 in [0, 1]: c = (max - min of the frame over 3x3, max over channels) / 2, the frame's
  edges (no gradient). frame: [B, H, W, C] float in [-1, 1]."""
  frame = tf.cast(frame, tf.float32)
  window_max = lambda x: tf.nn.max_pool2d(x, 3, 1, "SAME")
  return tf.stop_gradient(tf.reduce_max(window_max(frame) + window_max(-frame), axis=-1, keepdims=True) / 2)


def content_pooled_flow(frame, flow, radius, eps=1e-3):
  """A motion field averaged over the content it moves within a window ("window" pooling).

    f'(x) = (mean_{y in W(x)} c(y) f(y) + eps f(x)) / (mean_{y in W(x)} c(y) + eps)

  with W(x) the (2 radius + 1)^2 window at x and c = `content_weights(frame)`. Near content every pixel moves
  by the content's mean field around it; on flat background far from any content f' = f (where any field moves
  nothing).

  Args:
    frame: [B, H, W, C] float in [-1, 1], the frame the field moves.
    flow: [B, H, W, 2] float, frame pixels.
    radius: >= 1, px.

  Returns:
    [B, H, W, 2] float32.
  """
  size = 2 * int(radius) + 1
  flow = tf.cast(flow, tf.float32)
  content = content_weights(frame)
  box = lambda x: tf.nn.avg_pool2d(x, size, 1, "SAME")
  return (box(content * flow) + eps * flow) / (box(content) + eps)


def content_regions(frame, radius, threshold=0.2):
  """[B, H, W] int32: 0 off content, else a label shared by exactly the pixels of one connected region.

  A pixel is in a region if some pixel within `radius` px of it (a (2 radius + 1)^2 window) has content
  weight c > `threshold`; regions are the 8-connected components of those pixels, labelled by propagating
  the largest pixel index (1 + y W + x) over 3x3 windows inside the regions until nothing changes.
  """
  size = 2 * int(radius) + 1
  near = tf.nn.max_pool2d(tf.cast(content_weights(frame) > threshold, tf.float32), size, 1, "SAME")
  shape = tf.shape(near)
  index = tf.reshape(tf.range(1, shape[1] * shape[2] + 1, dtype=tf.float32), [1, shape[1], shape[2], 1])
  labels = near * index  # exact in float32 up to 2^24 pixels

  def spread(labels, _):
    spread_labels = tf.nn.max_pool2d(labels, 3, 1, "SAME") * near
    return spread_labels, tf.reduce_any(spread_labels != labels)

  labels, _ = tf.while_loop(lambda _, changed: changed, spread, (labels, tf.constant(True)))
  return tf.cast(labels[..., 0], tf.int32)


def object_pooled_flow(frame, flow, radius, eps=1e-3):
  """A motion field averaged over each object it moves ("object" pooling).

    f'(x) = (sum_{y in R(x)} c(y) f(y) + eps f(x)) / (sum_{y in R(x)} c(y) + eps)  if x is in a region R(x),
    f'(x) = f(x)                                                                 elsewhere,

  with the regions of `content_regions(frame, radius)` and c = `content_weights(frame)`: every pixel of an
  object and of the `radius` px around it moves by the object's one (content-weighted) mean field.

  Args:
    frame: [B, H, W, C] float in [-1, 1], the frame the field moves.
    flow: [B, H, W, 2] float, frame pixels.
    radius: >= 1, px (at least the largest motion per step, so that an object's region covers where it goes).

  Returns:
    [B, H, W, 2] float32.
  """
  flow = tf.cast(flow, tf.float32)
  content = content_weights(frame)
  labels = content_regions(frame, radius)
  shape = tf.shape(labels)
  per_image = shape[1] * shape[2] + 1  # label 0 (off content) and one per pixel index
  segments = labels + per_image * tf.range(shape[0])[:, None, None]  # labels of different images never meet
  num_segments = shape[0] * per_image
  weighted = tf.math.unsorted_segment_sum(content * flow, segments, num_segments)
  weights = tf.math.unsorted_segment_sum(content, segments, num_segments)
  pooled = (tf.gather(weighted, segments) + eps * flow) / (tf.gather(weights, segments) + eps)
  return tf.where(labels[..., None] > 0, pooled, flow)


def pooled_flow(mode, frame, flow, radius):
  """`content_pooled_flow` ("window") or `object_pooled_flow` ("object") of frame [B, H, W, C], flow
  [B, H, W, 2] -> [B, H, W, 2] float32."""
  if mode == "object":
    return object_pooled_flow(frame, flow, radius)
  return content_pooled_flow(frame, flow, radius)


def pooled_flows(mode, frames, flows, radius):
  """`pooled_flow` of each step's frame [B, T, H, W, C] and field [B, T, H, W, 2] (static T, H, W) ->
  [B, T, H, W, 2] float32; radius 0: the fields unchanged, as a chain that does not pool moves its frames."""
  if not radius:
    return flows
  fold = lambda x: tf.reshape(x, [-1, *x.shape[2:]])
  return tf.reshape(pooled_flow(mode, fold(frames), fold(flows), radius), [-1, *flows.shape[1:]])
