"""Spectrally normalized Dense, Conv2D and Conv3D layers (Miyato et al. 2018; paper E.2).

The forward pass uses W / sigma(W), where sigma(W) is the largest singular value of the kernel reshaped to
[fan_in, units], estimated with one power iteration from a persistent vector u (BigGAN). Gradients flow
through sigma (u and v are constants of the power iteration). u is updated only when `training` is true.

Why not `keras.layers.SpectralNormalization`: it overwrites the trainable kernel with W / sigma on every
training call, so the optimizer never sees W and no gradient flows through sigma.

All kernels are orthogonally initialized (paper E.2), biases start at zero.
"""

import contextlib
import threading

import keras
import tensorflow as tf

# The normalized kernels of the innermost `kernels_shared_over_calls` block of this thread (None outside one).
# Thread-local: MirroredStrategy traces each replica's step in its own thread, on its own copy of the weights.
_SHARED = threading.local()


@contextlib.contextmanager
def kernels_shared_over_calls():
  """Within the block, each layer computes W / sigma(W) once and reuses it in its later calls.

  A recurrent unit unrolled over Tp time steps calls its layers Tp times in one forward pass. BigGAN's spectral
  normalization runs one power iteration (and one update of u) per forward pass; without this block every call
  would run its own, i.e. Tp power iterations and Tp updates of u per step, and Tp copies of those ops in the
  step's graph (about 1,000 power iterations per demo training step; tracing them took a quarter of the step
  graph's build time). With training=False, u does not change between calls, so outputs are identical either
  way. Keyed by graph, so a tensor never leaks into another tf.function; a graph nested in the one that computed
  the kernel (the body of `recurrent.unroll`'s symbolic loop) captures it instead of running its own iteration.
  """
  previous = getattr(_SHARED, "kernels", None)
  _SHARED.kernels = {}
  try:
    yield
  finally:
    _SHARED.kernels = previous


def shared_over_calls(key, compute):
  """compute(), or within `kernels_shared_over_calls` the tensor it gave for `key` in this graph or in one that
  encloses it (a loop body captures it): e.g. a normalized kernel, or a slice of one that a loop body needs."""
  shared = getattr(_SHARED, "kernels", None)
  graphs = _enclosing_graphs()
  if shared is not None:
    for graph in graphs:
      if (key, graph) in shared:
        return shared[(key, graph)]
  value = compute()
  if shared is not None:
    shared[(key, graphs[0])] = value
  return value


def _enclosing_graphs():
  """Ids of the current graph and of the graphs enclosing it (a while-loop body's graph, then the function
  that holds the loop, ...), innermost first; [None] when executing eagerly."""
  if tf.executing_eagerly():
    return [None]
  graphs, graph = [], tf.compat.v1.get_default_graph()
  while graph is not None:
    graphs.append(id(graph))
    graph = getattr(graph, "outer_graph", None)
  return graphs


def inverse_spectral_sigma(kernel_matrix, u, epsilon=1e-12):
  """One power iteration: 1 / sigma(W) and the updated u.

  sigma(W) = v W u_new^T, where v = l2_normalize(u W^T) and u_new = l2_normalize(v W) are constants of the
  iteration. Since u_new = vW / |vW|, sigma = |vW| exactly, and the gradient of |vW| with respect to W,
  v^T vW / |vW| = v^T u_new, is the paper's (BigGAN's) gradient of v W u_new^T. So 1 / sigma is one rsqrt of
  the squared norm: W / sigma needs no division, no second normalization and no product with u_new (fewer ops
  in the step graph and its gradient: ~200 spectrally normalized kernels per demo G update).

  Args:
    kernel_matrix: [fan_in, units] float tensor W.
    u: [1, units] float tensor, the running estimate of the first right-singular vector of W^T.
    epsilon: guards the l2 normalizations (added to the squared norm of vW, as l2_normalize bounds it below).

  Returns:
    (inverse_sigma, u_new): inverse_sigma is a scalar tensor, differentiable with respect to W; u_new is
    [1, units] and carries no gradient.
  """
  w = kernel_matrix
  v = tf.stop_gradient(tf.math.l2_normalize(tf.matmul(u, w, transpose_b=True), epsilon=epsilon))  # [1, fan_in]
  vw = tf.matmul(v, w)  # [1, units]
  inverse_sigma = tf.math.rsqrt(tf.reduce_sum(tf.square(vw)) + epsilon)
  u_new = tf.stop_gradient(vw * inverse_sigma)
  return inverse_sigma, u_new


class _SpectralNormMixin:
  """Shared state and kernel normalization for the three layer types."""

  def _build_sn(self, kernel_shape):
    self.kernel = self.add_weight(
        name="kernel", shape=kernel_shape, initializer=keras.initializers.Orthogonal(), trainable=True)
    if self.use_bias:
      self.bias = self.add_weight(name="bias", shape=(self.units_,), initializer="zeros", trainable=True)
    else:
      self.bias = None
    if self.spectral_norm:
      # Every replica computes the same u from the same mirrored W, so the first replica's value is kept.
      self.sn_u = self.add_weight(
          name="sn_u", shape=(1, self.units_), initializer=keras.initializers.RandomNormal(stddev=1.0),
          trainable=False, aggregation="only_first_replica", autocast=False)

  def normalized_kernel(self, training=False):
    """Returns W / sigma(W) (or W when spectral_norm is off), updating u when training.

    Inside `kernels_shared_over_calls`, only the layer's first call computes it; later calls reuse that tensor.
    """
    if not self.spectral_norm:
      return tf.convert_to_tensor(self.kernel)
    return shared_over_calls((id(self), bool(training)), lambda: self._normalize_kernel(training))

  def _normalize_kernel(self, training):
    kernel = tf.convert_to_tensor(self.kernel)
    # The power iteration runs in float32 even under mixed precision: sigma is a ratio of small numbers.
    w32 = tf.cast(tf.reshape(kernel, [-1, self.units_]), tf.float32)
    inverse_sigma, u_new = inverse_spectral_sigma(w32, tf.convert_to_tensor(self.sn_u), self.sn_epsilon)
    if training:
      self.sn_u.assign(u_new)
    return kernel * tf.cast(inverse_sigma, kernel.dtype)

  def _sn_config(self):
    return {"use_bias": self.use_bias, "spectral_norm": self.spectral_norm, "sn_epsilon": self.sn_epsilon}


@keras.saving.register_keras_serializable(package="trivd_gan")
class SNDense(_SpectralNormMixin, keras.layers.Layer):
  """Dense layer with spectral normalization.

  Input [..., fan_in] -> output [..., units].
  """

  def __init__(self, units, use_bias=True, spectral_norm=True, sn_epsilon=1e-12, **kwargs):
    super().__init__(**kwargs)
    if units < 1:
      raise ValueError(f"SNDense needs units >= 1, got {units}.")
    self.units = self.units_ = int(units)
    self.use_bias = use_bias
    self.spectral_norm = spectral_norm
    self.sn_epsilon = sn_epsilon

  def build(self, input_shape):
    self._build_sn((int(input_shape[-1]), self.units_))

  def call(self, inputs, training=False):
    kernel = self.normalized_kernel(training)
    outputs = tf.tensordot(inputs, tf.cast(kernel, inputs.dtype), axes=[[-1], [0]])
    if self.bias is not None:
      outputs = outputs + tf.cast(self.bias, outputs.dtype)
    return outputs

  def compute_output_shape(self, input_shape):
    return tuple(input_shape[:-1]) + (self.units,)

  def get_config(self):
    return {**super().get_config(), "units": self.units, **self._sn_config()}


class _SNConv(_SpectralNormMixin, keras.layers.Layer):
  """N-d convolution with spectral normalization; NHWC / NDHWC, 'SAME' or 'VALID' padding."""

  rank = None

  def __init__(self, filters, kernel_size=3, strides=1, padding="same", use_bias=True, spectral_norm=True,
               sn_epsilon=1e-12, **kwargs):
    super().__init__(**kwargs)
    if filters < 1:
      raise ValueError(f"{type(self).__name__} needs filters >= 1, got {filters}.")
    if padding.lower() not in ("same", "valid"):
      raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}.")
    self.filters = self.units_ = int(filters)
    self.kernel_size = _tuple(kernel_size, self.rank)
    self.strides = _tuple(strides, self.rank)
    self.padding = padding.lower()
    self.use_bias = use_bias
    self.spectral_norm = spectral_norm
    self.sn_epsilon = sn_epsilon

  def build(self, input_shape):
    self._build_sn(self.kernel_size + (int(input_shape[-1]), self.filters))

  def call(self, inputs, training=False):
    kernel = tf.cast(self.normalized_kernel(training), inputs.dtype)
    strides = (1,) + self.strides + (1,)
    if self.rank == 2:
      outputs = tf.nn.conv2d(inputs, kernel, strides, self.padding.upper())
    else:
      outputs = tf.nn.conv3d(inputs, kernel, strides, self.padding.upper())
    if self.bias is not None:
      outputs = outputs + tf.cast(self.bias, outputs.dtype)
    return outputs

  def compute_output_shape(self, input_shape):
    spatial = []
    for size, k, s in zip(input_shape[1:-1], self.kernel_size, self.strides):
      if size is None:
        spatial.append(None)
      elif self.padding == "same":
        spatial.append(-(-size // s))
      else:
        spatial.append((size - k) // s + 1)
    return (input_shape[0], *spatial, self.filters)

  def get_config(self):
    return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
            "strides": self.strides, "padding": self.padding, **self._sn_config()}


@keras.saving.register_keras_serializable(package="trivd_gan")
class SNConv2D(_SNConv):
  """2D convolution with spectral normalization. Input [B, H, W, C_in] -> [B, H', W', filters]."""

  rank = 2


@keras.saving.register_keras_serializable(package="trivd_gan")
class SNConv3D(_SNConv):
  """3D convolution with spectral normalization. Input [B, T, H, W, C_in] -> [B, T', H', W', filters]."""

  rank = 3


def _tuple(value, rank):
  if isinstance(value, int):
    return (value,) * rank
  value = tuple(int(v) for v in value)
  if len(value) != rank:
    raise ValueError(f"Expected an int or {rank} ints, got {value}.")
  return value


def runs_as_one(convs):
  """Whether SN convolutions can run as one convolution over their concatenated kernels: the same kernel size,
  strides and padding, and all or none with a bias."""
  first = convs[0]
  return all(c.kernel_size == first.kernel_size and c.strides == first.strides and c.padding == first.padding
             and (c.bias is None) == (first.bias is None) for c in convs)


def fused_sn_conv(convs, inputs, training=False):
  """Applies several built SN convolutions that share one input as a single convolution.

  Each layer keeps its own kernel and its own spectral normalization (sigma is computed per layer, as the
  paper normalizes every weight separately); only the convolution op is shared, which saves a pass over the
  input. Layers with different kernel sizes/strides/padding are run separately.

  Args:
    convs: list of built `SNConv2D` layers (stride 1 for fusion).
    inputs: [B, H, W, Cin] tensor.
    training: updates the spectral-norm vectors u when true.

  Returns:
    list of [B, H, W, filters_i] tensors, one per layer, in order.
  """
  first = convs[0]
  if len(convs) == 1 or not runs_as_one(convs):
    return [c(inputs, training=training) for c in convs]
  kernel = tf.concat([tf.cast(c.normalized_kernel(training), inputs.dtype) for c in convs], axis=-1)
  out = tf.nn.conv2d(inputs, kernel, (1,) + first.strides + (1,), first.padding.upper())
  if first.bias is not None:
    out = out + tf.concat([tf.cast(c.bias, out.dtype) for c in convs], axis=0)
  return tf.split(out, [c.filters for c in convs], axis=-1)


class StateInputConvs:
  """Convolutions of [state; x] (concatenated along channels, state first) as conv(state) + conv(x).

  A convolution is linear in its input channels: conv([s; x], [W_s; W_x]) + b = conv(s, W_s) + (conv(x, W_x) +
  b), the same function up to float rounding. The x part does not depend on the recurrent state, so it can be
  computed for many time steps at once (`project`), and each step then convolves only its state (`__call__`).
  Each kernel keeps its own spectral normalization, sigma of the whole [W_s; W_x] (paper E.2). Convolutions
  with the same kernel size, strides, padding and bias presence run as one convolution over their concatenated
  kernels.

  Args:
    convs: built SNConv2D layers whose input is [state; x].
    state_channels: the number of leading input channels that come from the state.
  """

  def __init__(self, convs, state_channels):
    self.convs = list(convs)
    self.state_channels = int(state_channels)
    self.fused = runs_as_one(convs)
    self.filters = [c.filters for c in convs]

  def _runs(self, part, training):
    """[(kernel [kh, kw, Cs or Cx, F], bias [F] or None, conv)] for part "state" or "input": one run of all
    convs if fused, else one per conv. Computed once per forward pass (`shared_over_calls`): a loop body
    captures the state part instead of slicing the kernels at every step."""
    rows = slice(None, self.state_channels) if part == "state" else slice(self.state_channels, None)

    def compute():
      if not self.fused:
        return [(c.normalized_kernel(training)[:, :, rows], c.bias, c) for c in self.convs]
      kernel = tf.concat([c.normalized_kernel(training) for c in self.convs], axis=-1)[:, :, rows]
      bias = None if self.convs[0].bias is None else tf.concat([c.bias for c in self.convs], axis=0)
      return [(kernel, bias, self.convs[0])]

    return shared_over_calls((id(self), part, bool(training)), compute)

  @staticmethod
  def _conv(inputs, kernel, conv):
    return tf.nn.conv2d(inputs, tf.cast(kernel, inputs.dtype), (1,) + conv.strides + (1,), conv.padding.upper())

  def project(self, x, training=False):
    """[N, H, W, Cx] -> [N, H, W, sum of filters]: conv(x, W_x) + b of every conv, concatenated."""
    outs = []
    for kernel, bias, conv in self._runs("input", training):
      out = self._conv(x, kernel, conv)
      outs.append(out if bias is None else out + tf.cast(bias, out.dtype))
    return outs[0] if len(outs) == 1 else tf.concat(outs, axis=-1)

  def __call__(self, state, projection, training=False):
    """state [N, H, W, Cs] and `project`'s output -> list of [N, H, W, filters_i], one per conv."""
    runs = self._runs("state", training)
    sizes = [sum(self.filters)] if self.fused else self.filters
    projections = tf.split(projection, sizes, axis=-1) if len(runs) > 1 else [projection]
    outs = [self._conv(state, kernel, conv) + p
            for (kernel, _, conv), p in zip(runs, projections)]
    return tf.split(outs[0], self.filters, axis=-1) if self.fused and len(self.filters) > 1 else outs
