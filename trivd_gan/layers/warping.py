"""Kernel-based warping (paper appendix B, eqs. 11-12), its hyper-networks (F.1) and motion fields (4.4).

Paper: Luc et al., Transformation-based Adversarial Video Prediction on Large-Scale Data (2020).

A warping is a dynamic, depth-wise, locally connected layer: every position (i, j) of a feature map h gets its
own k x k weight vector W[i, j] (shared by all channels), eq. 11. The weights come from a hyper-network f:
  * pixelwise warping: f predicts W [B, H, W, k^2] directly (`PixelwiseWarpingNetwork`);
  * factorized warping: f predicts N sample-dependent kernels w [B, k^2, N] and a selection map
    S [B, H, W, N], combined by eq. 12 into W (`FactorizedWarpingNetwork`, `factorized_weights`).
Both hyper-networks end with a softmax, so W[i, j] is a probability distribution over the k^2 offsets; this is
what makes the motion-field reading of section 4.4 (`expected_flow`, `combine_flows`) possible.

Memory: `kernel_warp` never materializes a k^2-times larger patch tensor. It accumulates over the k^2 shifted
slices of the zero-padded h, and its custom gradient recomputes the slices instead of keeping k^2 of them alive
for the backward pass, so both passes need O(B*H*W*(C + k^2)) memory.
"""

import keras
import tensorflow as tf

from trivd_gan.layers.spectral_norm import SNConv2D, SNDense, fused_sn_conv


def _check_kernel_size(kernel_size, name="kernel_size"):
  if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
    raise ValueError(f"{name} must be a positive odd int (1, 3, 5, ...), got {kernel_size!r}.")


def _offsets(kernel_size):
  """[(q, m, n)] with q = m*k + n, m, n in [0, k-1] (eq. 11's indexing)."""
  return [(m * kernel_size + n, m, n) for m in range(kernel_size) for n in range(kernel_size)]


def _spatial_size(h):  # Python ints where static: a dynamic slice bound adds ops to every offset's slice
  return (h.shape[1], h.shape[2]) if None not in h.shape[1:3] else (tf.shape(h)[1], tf.shape(h)[2])


def _warp_forward(h, weights, kernel_size):
  pad, (height, width) = (kernel_size - 1) // 2, _spatial_size(h)
  hp = tf.pad(h, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
  # One split into k^2 weight maps, not k^2 slices: k^2 - 1 fewer ops in every call (every recurrent step).
  weight_maps = tf.split(weights, kernel_size ** 2, axis=-1)
  out = None
  for q, m, n in _offsets(kernel_size):
    term = weight_maps[q] * hp[:, m:m + height, n:n + width, :]
    out = term if out is None else out + term
  return out


def _make_warp(kernel_size):
  """kernel_warp for one static kernel size, with a memory-lean gradient."""
  pad = (kernel_size - 1) // 2

  @tf.custom_gradient
  def warp(h, weights):
    out = _warp_forward(h, weights, kernel_size)

    def grad(g):
      height, width = _spatial_size(h)
      paddings = [[0, 0], [pad, pad], [pad, pad], [0, 0]]
      hp, gp, wp = tf.pad(h, paddings), tf.pad(g, paddings), tf.pad(weights, paddings)
      dweights, dh = [], None
      for q, m, n in _offsets(kernel_size):
        # d out[i, j] / d W[i, j, q] = h[i + m - p, j + n - p].
        dweights.append(tf.reduce_sum(g * hp[:, m:m + height, n:n + width, :], axis=-1))
        # h[y, x] feeds out[y - m + p, x - n + p] with weight W[y - m + p, x - n + p, q]: a gather over the
        # zero-padded W and g, so no padded copy per offset is needed.
        a, b = 2 * pad - m, 2 * pad - n
        term = wp[:, a:a + height, b:b + width, q:q + 1] * gp[:, a:a + height, b:b + width, :]
        dh = term if dh is None else dh + term
      return dh, tf.stack(dweights, axis=-1)

    return out, grad

  return warp


def kernel_warp(h, weights, kernel_size=3):
  """Dynamic depth-wise locally connected warping, eq. 11.

  out[b, i, j, c] = sum_{m, n in [0, k-1]} W[b, i, j, m*k + n] * h[b, i + m - (k-1)/2, j + n - (k-1)/2, c],
  with h zero-padded so the output keeps h's spatial size.

  Args:
    h: [B, H, W, C] float tensor (the previous hidden state h_{t-1} in the recurrent units).
    weights: [B, H, W, k^2] tensor W of the same dtype; any real values (the hyper-networks give
      distributions over offsets, i.e. non-negative and summing to 1).
    kernel_size: odd int k.

  Returns:
    [B, H, W, C] tensor, the warped h~.
  """
  _check_kernel_size(kernel_size)
  h = tf.convert_to_tensor(h)
  weights = tf.convert_to_tensor(weights, dtype=h.dtype)
  if h.shape.rank != 4 or weights.shape.rank != 4:
    raise ValueError(f"kernel_warp needs h [B, H, W, C] and weights [B, H, W, k^2], got shapes {h.shape} and "
                     f"{weights.shape}.")
  if weights.shape[-1] is not None and weights.shape[-1] != kernel_size ** 2:
    raise ValueError(f"weights must have k^2 = {kernel_size ** 2} channels for kernel_size={kernel_size}, got "
                     f"{weights.shape[-1]}.")
  return _make_warp(kernel_size)(h, weights)


def factorized_weights(selection, kernels):
  """Per-pixel warping weights from N shared kernels and a selection map, eq. 12.

  W[b, i, j, q] = sum_l S[b, i, j, l] * w[b, q, l], from the selection map S [B, H, W, N] (a softmax over N in
  the hyper-network) and the kernels w [B, k^2, N] (each column a softmax over k^2). Returns W [B, H, W, k^2],
  a distribution over offsets if S and the columns of w are distributions.
  """
  selection = tf.convert_to_tensor(selection)
  kernels = tf.convert_to_tensor(kernels, dtype=selection.dtype)
  if selection.shape.rank != 4 or kernels.shape.rank != 3:
    raise ValueError(f"factorized_weights needs selection [B, H, W, N] and kernels [B, k^2, N], got shapes "
                     f"{selection.shape} and {kernels.shape}.")
  if selection.shape[-1] is not None and kernels.shape[-1] is not None and (
      selection.shape[-1] != kernels.shape[-1]):
    raise ValueError(
        f"selection and kernels must agree on N, got {selection.shape[-1]} and {kernels.shape[-1]}.")
  return tf.einsum("bhwl,bql->bhwq", selection, kernels)


def adaptive_max_pool(x, output_size=4):
  """Adaptive max-pooling [B, H, W, C] -> [B, s, s, C] (PyTorch's bins: [floor(i*H/s), ceil((i+1)*H/s)))."""
  height, width = int(x.shape[1]), int(x.shape[2])
  if height % output_size == 0 and width % output_size == 0:
    window = (height // output_size, width // output_size)
    return tf.nn.max_pool2d(x, window, window, "VALID")
  rows = []
  for i in range(output_size):
    r0, r1 = (i * height) // output_size, -(-((i + 1) * height) // output_size)
    cols = []
    for j in range(output_size):
      c0, c1 = (j * width) // output_size, -(-((j + 1) * width) // output_size)
      cols.append(tf.reduce_max(x[:, r0:r1, c0:c1, :], axis=[1, 2]))
    rows.append(tf.stack(cols, axis=1))
  return tf.stack(rows, axis=1)


def _build_conv(conv, input_shape):
  conv.build(tuple(input_shape))
  return (*tuple(input_shape)[:-1], conv.filters)


def _half_channels(input_channels, who):
  if input_channels is None or input_channels < 2:
    raise ValueError(f"{who} halves its input channels for its hidden layers, so it needs >= 2 input channels "
                     f"([h_{{t-1}}; x_t] concatenated), got {input_channels}.")
  return input_channels // 2


def _logit_scale(logit_scale):
  if logit_scale is not None and not logit_scale > 0:
    raise ValueError(f"logit_scale must be None (the paper's softmax) or > 0, got {logit_scale!r}.")
  return None if logit_scale is None else float(logit_scale)


def warp_softmax(logits, axis, logit_scale=None):
  """The hyper-networks' softmax: the paper's (logit_scale None), or a departure (docs/learning.md experiment
  10): logits standardized along `axis` and times tau = logit_scale, so that runaway logits cannot make the
  weights one-hot, where their gradient vanishes (with 9 offsets no weight exceeds 1 / (1 + 8 exp(-3.18 tau)),
  reached by one large logit among eight equal ones)."""
  if _logit_scale(logit_scale) is None:
    return tf.nn.softmax(logits, axis=axis)
  mean, variance = tf.nn.moments(logits, axes=[axis], keepdims=True)
  return tf.nn.softmax(logit_scale * (logits - mean) * tf.math.rsqrt(variance + 1e-6), axis=axis)


@keras.saving.register_keras_serializable(package="trivd_gan")
class FactorizedWarpingNetwork(keras.layers.Layer):
  """Hyper-network f of factorized warping (F.1, 3.2), predicting (w, S) and W by eq. 12.

  Input: [B, H, W, Cin] = [h_{t-1}; x_t] concatenated along channels (appendix B).
  Kernels w: SN conv (conv_kernel_size, Cin//2 channels) -> ReLU -> adaptive max-pool to 4x4 -> flatten
  ([B, 16*(Cin//2)], row-major over (y, x, c)) -> SN dense (Cin//2 hidden units: F.1 sets every hidden
  layer's channels or units to half the number of input channels of f) -> ReLU -> SN dense (k^2*N) ->
  reshape [B, k^2, N] (index q*N + l) -> softmax over k^2.
  Selection S: SN conv (conv_kernel_size, N channels) -> softmax over N.
  Output of `call`: W [B, H, W, k^2], each W[b, i, j] a distribution over the k^2 offsets.

  Choices the paper leaves open: the conv kernel size (3x3 here, `conv_kernel_size`), that the kernel softmax
  runs over the k^2 offsets (so each kernel is a distribution, which makes W one) and the flatten order.
  Defaults N = k^2 = 9, k = 3 (section 3.2).
  """

  def __init__(self, kernel_size=3, num_kernels=None, conv_kernel_size=3, pool_size=4, spectral_norm=True,
               logit_scale=None, **kwargs):
    super().__init__(**kwargs)
    self.logit_scale = _logit_scale(logit_scale)
    _check_kernel_size(kernel_size)
    _check_kernel_size(conv_kernel_size, "conv_kernel_size")
    if num_kernels is not None and num_kernels < 1:
      raise ValueError(f"num_kernels must be >= 1 (or None for k^2), got {num_kernels}.")
    if pool_size < 1:
      raise ValueError(f"pool_size must be >= 1, got {pool_size}.")
    self.kernel_size = kernel_size
    self.num_kernels = int(num_kernels) if num_kernels is not None else kernel_size ** 2
    self.conv_kernel_size = conv_kernel_size
    self.pool_size = pool_size
    self.spectral_norm = spectral_norm
    self.conv_w = None

  def build(self, input_shape):
    hidden = _half_channels(input_shape[-1], type(self).__name__)
    sn = dict(spectral_norm=self.spectral_norm)
    self.conv_w = SNConv2D(hidden, self.conv_kernel_size, name="conv_w", **sn)
    self.conv_s = SNConv2D(self.num_kernels, self.conv_kernel_size, name="conv_s", **sn)
    flat = self.pool_size ** 2 * hidden
    self.dense_hidden = SNDense(hidden, name="dense_hidden", **sn)
    self.dense_out = SNDense(self.kernel_size ** 2 * self.num_kernels, name="dense_out", **sn)
    _build_conv(self.conv_w, input_shape)
    _build_conv(self.conv_s, input_shape)
    self.dense_hidden.build((None, flat))
    self.dense_out.build((None, self.dense_hidden.units))

  @property
  def input_convs(self):
    """The SN convs applied directly to the input, in the order `head` expects their outputs."""
    return [self.conv_w, self.conv_s]

  def head(self, conv_outputs, training=False):
    """(w [B, k^2, N], S [B, H, W, N]) from the pre-activation outputs of `input_convs`."""
    feat_w, logits_s = conv_outputs
    z = adaptive_max_pool(tf.nn.relu(feat_w), self.pool_size)
    z = tf.reshape(z, [-1, self.pool_size ** 2 * self.conv_w.filters])
    z = tf.nn.relu(self.dense_hidden(z, training=training))
    z = tf.reshape(self.dense_out(z, training=training), [-1, self.kernel_size ** 2, self.num_kernels])
    kernels = warp_softmax(z, 1, self.logit_scale)
    selection = warp_softmax(logits_s, -1, self.logit_scale)
    return kernels, selection

  def factors(self, inputs, training=False):
    """(w [B, k^2, N], S [B, H, W, N]) for inputs [B, H, W, Cin]."""
    return self.head(fused_sn_conv(self.input_convs, inputs, training), training)

  def weights_from_conv_outputs(self, conv_outputs, training=False):
    return factorized_weights(*reversed(self.head(conv_outputs, training)))

  def call(self, inputs, training=False):
    return self.weights_from_conv_outputs(fused_sn_conv(self.input_convs, inputs, training), training)

  def compute_output_shape(self, input_shape):
    return (*tuple(input_shape)[:-1], self.kernel_size ** 2)

  def get_config(self):
    return {**super().get_config(), "kernel_size": self.kernel_size, "num_kernels": self.num_kernels,
            "conv_kernel_size": self.conv_kernel_size, "pool_size": self.pool_size,
            "spectral_norm": self.spectral_norm, "logit_scale": self.logit_scale}


@keras.saving.register_keras_serializable(package="trivd_gan")
class PixelwiseWarpingNetwork(keras.layers.Layer):
  """Hyper-network f of pixelwise warping (PTSRU, F.1): a resolution-preserving CNN.

  Input [B, H, W, Cin] = [h_{t-1}; x_t]. SN conv (Cin//2) -> ReLU -> SN conv (Cin//2) -> ReLU ->
  SN conv (k^2) -> softmax over k^2. Output W [B, H, W, k^2], a distribution over offsets per position.
  All convs use `conv_kernel_size` (3x3, 'same' padding; the paper does not state the size).
  """

  def __init__(self, kernel_size=3, conv_kernel_size=3, spectral_norm=True, logit_scale=None, **kwargs):
    super().__init__(**kwargs)
    self.logit_scale = _logit_scale(logit_scale)
    _check_kernel_size(kernel_size)
    _check_kernel_size(conv_kernel_size, "conv_kernel_size")
    self.kernel_size = kernel_size
    self.conv_kernel_size = conv_kernel_size
    self.spectral_norm = spectral_norm
    self.conv1 = None

  def build(self, input_shape):
    hidden = _half_channels(input_shape[-1], type(self).__name__)
    sn = dict(spectral_norm=self.spectral_norm)
    self.conv1 = SNConv2D(hidden, self.conv_kernel_size, name="conv1", **sn)
    self.conv2 = SNConv2D(hidden, self.conv_kernel_size, name="conv2", **sn)
    self.conv_out = SNConv2D(self.kernel_size ** 2, self.conv_kernel_size, name="conv_out", **sn)
    shape = _build_conv(self.conv1, input_shape)
    shape = _build_conv(self.conv2, shape)
    _build_conv(self.conv_out, shape)

  @property
  def input_convs(self):
    return [self.conv1]

  def weights_from_conv_outputs(self, conv_outputs, training=False):
    z = tf.nn.relu(conv_outputs[0])
    z = tf.nn.relu(self.conv2(z, training=training))
    return warp_softmax(self.conv_out(z, training=training), -1, self.logit_scale)

  def call(self, inputs, training=False):
    return self.weights_from_conv_outputs([self.conv1(inputs, training=training)], training)

  def compute_output_shape(self, input_shape):
    return (*tuple(input_shape)[:-1], self.kernel_size ** 2)

  def get_config(self):
    return {**super().get_config(), "kernel_size": self.kernel_size, "conv_kernel_size": self.conv_kernel_size,
            "spectral_norm": self.spectral_norm, "logit_scale": self.logit_scale}


def expected_flow(weights, kernel_size=3):
  """Expected motion field of warping weights (section 4.4).

  W[b, i, j] is read as a probability distribution over the kernel's offsets. Eq. 11 reads h at
  (i + m - (k-1)/2, j + n - (k-1)/2): content at output (i, j) comes FROM that sampling offset. The returned
  flow is the displacement of content, i.e. the NEGATIVE expected sampling offset:
    flow[..., 0] = dy = -sum_q W[q] * (m - (k-1)/2),  flow[..., 1] = dx = -sum_q W[q] * (n - (k-1)/2),
  so content translating right (down) by one pixel gives dx = +1 (dy = +1). Units: pixels of this resolution.
  W is not renormalized (the hyper-networks' W already sums to 1).

  Args:
    weights: [B, H, W, k^2] warping weights.
    kernel_size: odd int k.

  Returns:
    [B, H, W, 2] float flow (dy, dx).
  """
  _check_kernel_size(kernel_size)
  weights = tf.convert_to_tensor(weights)
  if weights.shape[-1] != kernel_size ** 2:
    raise ValueError(f"weights must have k^2 = {kernel_size ** 2} channels, got shape {weights.shape}.")
  pad = (kernel_size - 1) // 2
  offsets = [[-(m - pad), -(n - pad)] for _, m, n in _offsets(kernel_size)]
  return tf.tensordot(weights, tf.constant(offsets, dtype=weights.dtype), axes=[[-1], [0]])


def combine_flows(flows, method="nearest"):
  """Combines per-resolution flows into one field at the finest resolution (section 4.4).

  flows: list, coarse to fine, of [B, H_l, W_l, 2] flows (dy, dx); each level's size the same integer multiple
  of the previous one's in both axes. From the coarsest flow, repeatedly: upsample to the next level's size
  (`method`: "nearest" or "bilinear"), multiply by the upsampling factor (a displacement of 1 coarse pixel is
  `factor` fine pixels), add the next level's flow. Returns [B, H_L, W_L, 2] in pixels of the finest level.
  """
  if method not in ("nearest", "bilinear"):
    raise ValueError(f"method must be 'nearest' or 'bilinear', got {method!r}.")
  if not flows:
    raise ValueError("combine_flows needs a non-empty list of flows, coarse to fine.")
  combined = tf.convert_to_tensor(flows[0])
  for flow in flows[1:]:
    flow = tf.convert_to_tensor(flow, dtype=combined.dtype)
    (h0, w0), (h1, w1) = combined.shape[1:3], flow.shape[1:3]
    if h1 % h0 or w1 % w0 or h1 // h0 != w1 // w0:
      raise ValueError(f"Each flow's size must be the same integer multiple of the previous one's in both axes "
                       f"(coarse to fine), got {h0}x{w0} then {h1}x{w1}.")
    factor = h1 // h0
    up = tf.image.resize(combined, (h1, w1), method=method)
    combined = tf.cast(up, flow.dtype) * factor + flow
  return combined


def frame_flow(levels, resolution):
  """The combined motion field of a generator at frame resolution (section 4.4, Figure 3).

  levels: list, coarse to fine, of [B, T, h_l, w_l, 2] float32 per-level flows (dy, dx) in pixels of their own
  level (static h_l, w_l); resolution: the frame size R, an integer multiple of the finest level's size.
  Returns [B, T, R, R, 2] float32: `combine_flows` of the levels, upsampled (nearest) to R x R and multiplied by
  the upsampling factor, so displacements are in frame pixels.
  """
  num_frames = levels[0].shape[1]
  combined = combine_flows([tf.reshape(f, [-1] + list(f.shape[2:])) for f in levels])
  factor = resolution // int(combined.shape[1])
  if factor > 1:
    combined = tf.image.resize(combined, (resolution, resolution), method="nearest") * float(factor)
  return tf.reshape(combined, [-1, num_frames, resolution, resolution, 2])


def backward_warp(images, flow):
  """Moves image content by `flow` with bilinear sampling: out[b, y, x] = images[b, y - dy, x - dx].

  The flow has the convention of `expected_flow` (the displacement of content, (dy, dx) in pixels), so a flow of
  (0, +1) moves content one pixel right. Samples outside the image take the nearest border pixel.

  Args:
    images: [B, H, W, C] float.
    flow: [B, H, W, 2] float (dy, dx) in pixels, same B, H, W.

  Returns:
    [B, H, W, C], differentiable in both images and flow (the flow through the bilinear weights).
  """
  images = tf.convert_to_tensor(images)
  flow = tf.cast(flow, images.dtype)
  shape = tf.shape(images)
  height, width = shape[1], shape[2]
  grid_y, grid_x = tf.meshgrid(tf.range(height), tf.range(width), indexing="ij")
  max_y, max_x = tf.cast(height - 1, images.dtype), tf.cast(width - 1, images.dtype)
  y = tf.clip_by_value(tf.cast(grid_y, images.dtype)[None] - flow[..., 0], 0.0, max_y)
  x = tf.clip_by_value(tf.cast(grid_x, images.dtype)[None] - flow[..., 1], 0.0, max_x)
  y0, x0 = tf.floor(y), tf.floor(x)
  wy, wx = (y - y0)[..., None], (x - x0)[..., None]
  y0, x0 = tf.cast(y0, tf.int32), tf.cast(x0, tf.int32)
  y1, x1 = tf.minimum(y0 + 1, height - 1), tf.minimum(x0 + 1, width - 1)
  flat = tf.reshape(images, [shape[0], height * width, shape[3]])

  def at(yy, xx):
    return tf.reshape(tf.gather(flat, tf.reshape(yy * width + xx, [shape[0], -1]), batch_dims=1), shape)

  top = (1.0 - wx) * at(y0, x0) + wx * at(y0, x1)
  bottom = (1.0 - wx) * at(y1, x0) + wx * at(y1, x1)
  return (1.0 - wy) * top + wy * bottom
