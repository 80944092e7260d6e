"""Convolutional recurrent units of the generator: ConvGRU, ConvLSTM, K-TrajGRU, TSRU_c/p/s and PTSRU_s.

Paper (Luc et al. 2020): section 2.3 (eqs. 1-5), 3.2 (eqs. 6-10), appendix F (F.1-F.3, F.5).

All units share one interface and are drop-in replacements for each other:
  h_t, warp_weights = unit(x_t, h_prev, training=False)
with x_t [B, H, W, Cx], h_prev and h_t [B, H, W, channels], and warp_weights the warping weights W
[B, H, W, k^2] (a distribution over offsets per position, see `warping.expected_flow`) for the warping units
(`unit.warps` is True) or None. Every convolution and dense layer is spectrally normalized (paper A, E.2).
Gate convolutions have kernel size `kernel_size` (k = 3) and 'same' padding; the warping kernel size is
`warp_kernel_size` (k = 3) with N = k^2 factorized kernels (3.2).

Speed: convolutions that read the same input (e.g. r and u of ConvGRU, or theta's convs, c and u of TSRU_p)
run as one convolution over the concatenated kernels, each kernel normalized by its own sigma. A convolution of
[state; x_t] is conv(state) + conv(x_t) (`StateInputConvs`): `unroll` convolves the inputs of all time steps
before the loop (G's first stage once, as its input is the same at every step), and each step convolves its
state alone. Units split a step into `project_inputs(x_t)` and `step(projections, h_prev)`; calling a unit does
both.
"""

import keras
import tensorflow as tf

from trivd_gan import compat
from trivd_gan.layers.spectral_norm import SNConv2D
from trivd_gan.layers.spectral_norm import StateInputConvs
from trivd_gan.layers.spectral_norm import kernels_shared_over_calls
from trivd_gan.layers.warping import FactorizedWarpingNetwork, PixelwiseWarpingNetwork, kernel_warp

RECURRENT_UNITS = ("convgru", "convlstm", "k_trajgru", "tsru_c", "tsru_p", "tsru_s", "ptsru_s")

_ACTIVATIONS = {"relu": tf.nn.relu, "tanh": tf.nn.tanh}


class _RecurrentUnit(keras.layers.Layer):
  """Common constructor arguments, validation and config of the units."""

  warps = False
  default_activation = "relu"

  def __init__(self, channels, kernel_size=3, activation=None, spectral_norm=True, **kwargs):
    super().__init__(**kwargs)
    if not isinstance(channels, int) or channels < 1:
      raise ValueError(f"{type(self).__name__} needs channels to be an int >= 1, got {channels!r}.")
    if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
      raise ValueError(f"kernel_size must be a positive odd int, got {kernel_size!r}.")
    activation = activation or self.default_activation
    if activation not in _ACTIVATIONS:
      raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}.")
    self.channels = channels
    self.kernel_size = kernel_size
    self.activation = activation
    self.spectral_norm = spectral_norm
    self._rho = _ACTIVATIONS[activation]

  def _conv(self, filters, name):
    return SNConv2D(filters, self.kernel_size, spectral_norm=self.spectral_norm, name=name)

  def _check_shapes(self, x_t_shape, h_prev_shape):
    if len(x_t_shape) != 4 or len(h_prev_shape) != 4:
      raise ValueError(f"{type(self).__name__} needs x_t [B, H, W, Cx] and h_prev [B, H, W, C], got shapes "
                       f"{x_t_shape} and {h_prev_shape}.")
    if h_prev_shape[-1] != self.channels:
      raise ValueError(f"{type(self).__name__} was built with channels={self.channels}, so h_prev must have "
                       f"{self.channels} channels; got shape {h_prev_shape}.")
    if x_t_shape[-1] is None:
      raise ValueError(f"x_t needs a static channel dimension, got shape {x_t_shape}.")
    return int(x_t_shape[-1])

  def compute_output_shape(self, x_t_shape, h_prev_shape):
    return tuple(h_prev_shape)

  def project_inputs(self, x, training=False):
    """The x_t parts of the unit's convolutions of x_t: x [N, H, W, Cx] -> a list of [N, H, W, F_i] tensors.

    N may hold several time steps (`unroll` folds them into the batch)."""
    return [group.project(x, training) for group in self._input_groups]

  def call(self, x_t, h_prev, training=False):
    return self.step(self.project_inputs(x_t, training), h_prev, training)

  def get_config(self):
    return {**super().get_config(), "channels": self.channels, "kernel_size": self.kernel_size,
            "activation": self.activation, "spectral_norm": self.spectral_norm}


def _built(conv, input_channels):
  conv.build((None, None, None, input_channels))
  return conv


@keras.saving.register_keras_serializable(package="trivd_gan")
class ConvGRU(_RecurrentUnit):
  """ConvGRU of DVD-GAN-FP, eqs. 1-5 with rho = ReLU (F.1).

  r = sigma(W_r * [h_{t-1}; x_t] + b_r); h' = r . h_{t-1}; c = rho(W_c * [h'; x_t] + b_c);
  u = sigma(W_u * [h_{t-1}; x_t] + b_u); h_t = u . h_{t-1} + (1 - u) . c.
  """

  def build(self, x_t_shape, h_prev_shape):
    cin = self._check_shapes(x_t_shape, h_prev_shape) + self.channels
    self.conv_r = _built(self._conv(self.channels, "conv_r"), cin)
    self.conv_u = _built(self._conv(self.channels, "conv_u"), cin)
    self.conv_c = _built(self._conv(self.channels, "conv_c"), cin)
    self._input_groups = [StateInputConvs([self.conv_r, self.conv_u], self.channels),
                          StateInputConvs([self.conv_c], self.channels)]

  def step(self, projections, h_prev, training=False):
    ru, c = self._input_groups
    r_logits, u_logits = ru(h_prev, projections[0], training)
    r, u = tf.sigmoid(r_logits), tf.sigmoid(u_logits)
    c = self._rho(c(r * h_prev, projections[1], training)[0])
    return u * h_prev + (1.0 - u) * c, None


@keras.saving.register_keras_serializable(package="trivd_gan")
class ConvLSTM(_RecurrentUnit):
  """ConvLSTM baseline (F.3), without peepholes, rho = ReLU by default (F.1).

  The state of `channels` channels is [h; c], hidden state and memory cell of channels/2 each (so the state
  initialized from the conditioning encoding is split into its first and second half, F.3):
    i, f, o = sigma(W_{i,f,o} * [h_{t-1}; x_t] + b), g = rho(W_g * [h_{t-1}; x_t] + b_g),
    c_t = f . c_{t-1} + i . g,  h_t = o . rho(c_t),
  and the unit outputs its new state [h_t; c_t] (F.3: both are concatenated and passed on). All biases start
  at zero (no forget-gate bias offset: not in the paper).
  """

  def __init__(self, channels, kernel_size=3, activation=None, spectral_norm=True, **kwargs):
    if isinstance(channels, int) and (channels < 2 or channels % 2):
      raise ValueError(f"ConvLSTM splits its state into hidden state and memory cell of channels/2 each, so "
                       f"channels must be an even int >= 2, got {channels}.")
    super().__init__(channels, kernel_size, activation, spectral_norm, **kwargs)

  def build(self, x_t_shape, h_prev_shape):
    cin = self._check_shapes(x_t_shape, h_prev_shape) + self.channels // 2
    half = self.channels // 2
    self.conv_i = _built(self._conv(half, "conv_i"), cin)
    self.conv_f = _built(self._conv(half, "conv_f"), cin)
    self.conv_o = _built(self._conv(half, "conv_o"), cin)
    self.conv_g = _built(self._conv(half, "conv_g"), cin)
    self._input_groups = [StateInputConvs([self.conv_i, self.conv_f, self.conv_o, self.conv_g], half)]

  def step(self, projections, h_prev, training=False):
    h, cell = tf.split(h_prev, 2, axis=-1)
    i, f, o, g = self._input_groups[0](h, projections[0], training)
    cell = tf.sigmoid(f) * cell + tf.sigmoid(i) * self._rho(g)
    h = tf.sigmoid(o) * self._rho(cell)
    return tf.concat([h, cell], axis=-1), None


class _WarpingUnit(_RecurrentUnit):
  """Shared hyper-network handling of the warping units.

  `hyper_spectral_norm`: None (the paper: like every other layer, `spectral_norm`) or False, a departure for
  CPU-scale training (docs/learning.md experiment 8): with spectral normalization every layer of the
  hyper-network has gain at most 1, so the softmax logits of the warping weights differ between clips by no more
  than the (small) differences of their inputs; the weights stay near uniform and the motion fields near zero.
  `hyper_logit_scale`: None (the paper's softmax) or tau > 0, the hyper-network's softmax over standardized
  logits times tau (`warping.warp_softmax`, a departure: without spectral normalization the logits can run away
  and the weights become one-hot and constant, docs/learning.md experiment 10).
  """

  warps = True
  warping = "factorized"

  def __init__(self, channels, kernel_size=3, warp_kernel_size=3, num_kernels=None, activation=None,
               spectral_norm=True, hyper_spectral_norm=None, hyper_logit_scale=None, **kwargs):
    super().__init__(channels, kernel_size, activation, spectral_norm, **kwargs)
    if not isinstance(warp_kernel_size, int) or warp_kernel_size < 1 or warp_kernel_size % 2 == 0:
      raise ValueError(f"warp_kernel_size must be a positive odd int, got {warp_kernel_size!r}.")
    self.warp_kernel_size = warp_kernel_size
    self.num_kernels = num_kernels
    self.hyper_spectral_norm = hyper_spectral_norm
    hyper_sn = spectral_norm if hyper_spectral_norm is None else bool(hyper_spectral_norm)
    self.hyper_logit_scale = hyper_logit_scale
    hyper = dict(spectral_norm=hyper_sn, logit_scale=hyper_logit_scale, name="hyper")
    if self.warping == "factorized":
      self.hyper = FactorizedWarpingNetwork(warp_kernel_size, num_kernels, **hyper)
    else:
      if num_kernels is not None:
        raise ValueError("num_kernels is only used by factorized warping; leave it None for pixelwise warping.")
      self.hyper = PixelwiseWarpingNetwork(warp_kernel_size, **hyper)

  def _build_hyper(self, cin):
    self.hyper.build((None, None, None, cin))

  def _warp(self, h_prev, hyper_conv_outputs, training):
    weights = self.hyper.weights_from_conv_outputs(hyper_conv_outputs, training)
    return kernel_warp(h_prev, weights, self.warp_kernel_size), weights

  def get_config(self):
    return {**super().get_config(), "warp_kernel_size": self.warp_kernel_size, "num_kernels": self.num_kernels,
            "hyper_spectral_norm": self.hyper_spectral_norm, "hyper_logit_scale": self.hyper_logit_scale}


@keras.saving.register_keras_serializable(package="trivd_gan")
class KTrajGRU(_WarpingUnit):
  """K-TrajGRU, eqs. 16-22 (F.2), factorized warping, rho = tanh (F.2).

  theta = f([h_{t-1}; x_t]); h~ = w(h_{t-1}; theta); r = sigma(W_r * [h~; x_t] + b_r); h' = r . h~;
  c = rho(W_c * [h'; x_t] + b_c); u = sigma(W_u * [h~; x_t] + b_u); h_t = u . h_{t-1} + (1 - u) . c
  (eq. 22 mixes the UNWARPED h_{t-1}).
  """

  default_activation = "tanh"

  def build(self, x_t_shape, h_prev_shape):
    cin = self._check_shapes(x_t_shape, h_prev_shape) + self.channels
    self._build_hyper(cin)
    self.conv_r = _built(self._conv(self.channels, "conv_r"), cin)
    self.conv_u = _built(self._conv(self.channels, "conv_u"), cin)
    self.conv_c = _built(self._conv(self.channels, "conv_c"), cin)
    self._input_groups = [StateInputConvs(self.hyper.input_convs, self.channels),
                          StateInputConvs([self.conv_r, self.conv_u], self.channels),
                          StateInputConvs([self.conv_c], self.channels)]

  def step(self, projections, h_prev, training=False):
    theta, ru, c = self._input_groups
    h_warped, weights = self._warp(h_prev, theta(h_prev, projections[0], training), training)
    r_logits, u_logits = ru(h_warped, projections[1], training)
    r, u = tf.sigmoid(r_logits), tf.sigmoid(u_logits)
    c = self._rho(c(r * h_warped, projections[2], training)[0])
    return u * h_prev + (1.0 - u) * c, weights


@keras.saving.register_keras_serializable(package="trivd_gan")
class TSRU(_WarpingUnit):
  """Transformation-based Spatial Recurrent Unit, eqs. 6-10, rho = ReLU (as DVD-GAN's ConvGRU, F.1).

  theta = f([h_{t-1}; x_t]) (6); h~ = w(h_{t-1}; theta) (7); h_t = u . h~ + (1 - u) . c (10), with by variant:
    "c": c = rho(W_c * [h~; x_t] + b_c) (8),       u = sigma(W_u * [h_{t-1}; x_t] + b_u) (9);
    "p": c = rho(W_c * [h_{t-1}; x_t] + b_c),      u as (9): theta, c, u computed in parallel;
    "s": c as (8),                                 u = sigma(W_u * [h~; c] + b_u).
  `warping`: "factorized" (TSRU) or "pixelwise" (PTSRU).
  """

  def __init__(self, channels, variant="p", warping="factorized", kernel_size=3, warp_kernel_size=3,
               num_kernels=None, activation=None, spectral_norm=True, hyper_spectral_norm=None,
               hyper_logit_scale=None, **kwargs):
    if variant not in ("c", "p", "s"):
      raise ValueError(f"TSRU variant must be 'c', 'p' or 's', got {variant!r}.")
    if warping not in ("factorized", "pixelwise"):
      raise ValueError(f"TSRU warping must be 'factorized' or 'pixelwise', got {warping!r}.")
    self.variant = variant
    self.warping = warping
    super().__init__(channels, kernel_size, warp_kernel_size, num_kernels, activation, spectral_norm,
                     hyper_spectral_norm, hyper_logit_scale, **kwargs)

  def build(self, x_t_shape, h_prev_shape):
    cx = self._check_shapes(x_t_shape, h_prev_shape)
    cin = cx + self.channels
    self._build_hyper(cin)
    self.conv_c = _built(self._conv(self.channels, "conv_c"), cin)
    self.conv_u = _built(self._conv(self.channels, "conv_u"), 2 * self.channels if self.variant == "s" else cin)
    hyper = list(self.hyper.input_convs)
    if self.variant == "p":  # theta, c and u all read [h_{t-1}; x_t]
      self._input_groups = [StateInputConvs(hyper + [self.conv_c, self.conv_u], self.channels)]
    elif self.variant == "c":  # theta and u read [h_{t-1}; x_t], c reads [h~; x_t]
      self._input_groups = [StateInputConvs(hyper + [self.conv_u], self.channels),
                            StateInputConvs([self.conv_c], self.channels)]
    else:  # theta reads [h_{t-1}; x_t], c reads [h~; x_t], u reads [h~; c] (no x_t)
      self._input_groups = [StateInputConvs(hyper, self.channels),
                            StateInputConvs([self.conv_c], self.channels)]

  def step(self, projections, h_prev, training=False):
    n_hyper = len(self.hyper.input_convs)
    outs = self._input_groups[0](h_prev, projections[0], training)
    h_warped, weights = self._warp(h_prev, outs[:n_hyper], training)
    if self.variant == "p":
      c, u = self._rho(outs[n_hyper]), tf.sigmoid(outs[n_hyper + 1])
    elif self.variant == "c":
      u = tf.sigmoid(outs[n_hyper])
      c = self._rho(self._input_groups[1](h_warped, projections[1], training)[0])
    else:
      c = self._rho(self._input_groups[1](h_warped, projections[1], training)[0])
      u = tf.sigmoid(self.conv_u(tf.concat([h_warped, c], axis=-1), training=training))
    return u * h_warped + (1.0 - u) * c, weights

  def get_config(self):
    return {**super().get_config(), "variant": self.variant, "warping": self.warping}


_FACTORY = {
    "convgru": (ConvGRU, {}),
    "convlstm": (ConvLSTM, {}),
    "k_trajgru": (KTrajGRU, {}),
    "tsru_c": (TSRU, {"variant": "c", "warping": "factorized"}),
    "tsru_p": (TSRU, {"variant": "p", "warping": "factorized"}),
    "tsru_s": (TSRU, {"variant": "s", "warping": "factorized"}),
    "ptsru_s": (TSRU, {"variant": "s", "warping": "pixelwise"}),
}


def make_recurrent_unit(unit, channels, **kwargs):
  """Builds the recurrent unit called `unit` (one of `RECURRENT_UNITS`) with `channels` state channels.

  kwargs go to the unit's constructor (kernel_size, activation, spectral_norm, warp_kernel_size, name, ...).
  """
  if unit not in _FACTORY:
    raise ValueError(f"Unknown recurrent unit {unit!r}; allowed names: {', '.join(RECURRENT_UNITS)}.")
  cls, fixed = _FACTORY[unit]
  clash = set(fixed) & set(kwargs)
  if clash:
    raise ValueError(f"{unit!r} fixes {sorted(clash)}; do not pass them.")
  return cls(channels, **fixed, **kwargs)


def unroll(unit, inputs, initial_state, training=False, symbolic_loop=True, num_steps=None):
  """Runs `unit` over time.

  Args:
    unit: a recurrent unit of this module.
    inputs: [B, T, H, W, Cx] tensor with static T; or [B, H, W, Cx], the same input at every one of `num_steps`
      steps (G's first stage: its input is the same at every step, so its convolutions of x_t run once).
    initial_state: [B, H, W, C] tensor, h_0 (for ConvLSTM, [h; c]).
    training: passed to the unit.
    symbolic_loop: in a graph (tf.function), run steps 2..T as a `tf.while_loop`, so the unit is traced twice
      instead of T times (a smaller step graph that builds faster, docs/benchmarks.md); False unrolls all T
      steps in Python. Eagerly both are the same Python loop. The outputs are the same either way. Under XLA
      (jit_compile, TPUs) always the Python unroll: XLA cannot compile the loop's gradient (a transpose's
      permutation inside it is not a compile-time constant), and it optimizes the unrolled graph itself.
    num_steps: T for [B, H, W, Cx] inputs; None (or T) for [B, T, H, W, Cx] inputs.

  Returns:
    (outputs [B, T, H, W, C] = h_1..h_T, warp_weights [B, T, H, W, k^2] or None when `unit.warps` is false).
    The convolutions of the inputs of all steps run before the loop, at once (`unit.project_inputs`).
  """
  inputs = tf.convert_to_tensor(inputs)
  initial_state = tf.convert_to_tensor(initial_state)
  constant = inputs.shape.rank == 4 and num_steps is not None
  if not constant and (inputs.shape.rank != 5 or inputs.shape[1] is None):
    raise ValueError(f"unroll needs inputs [B, T, H, W, Cx] with a static T, or [B, H, W, Cx] with num_steps; "
                     f"got shape {inputs.shape} and num_steps={num_steps}.")
  if not constant:
    if num_steps not in (None, inputs.shape[1]):
      raise ValueError(f"num_steps={num_steps} disagrees with the inputs' T = {inputs.shape[1]}.")
    num_steps = inputs.shape[1]
  if num_steps < 1:
    raise ValueError(f"unroll needs num_steps >= 1, got {num_steps}.")
  step_shape = inputs.shape if constant else inputs.shape[:1] + inputs.shape[2:]
  if not unit.built:
    unit.build(tuple(step_shape), tuple(initial_state.shape))
  # Direct calls of project_inputs and step bypass Keras' autocasting: cast to the unit's compute dtype here.
  inputs, h = tf.cast(inputs, unit.compute_dtype), tf.cast(initial_state, unit.compute_dtype)
  # One power iteration per forward pass, as for every other layer (BigGAN), not one per time step.
  with kernels_shared_over_calls():
    # The projections and step 1 run outside any loop: they compute every normalized kernel (and update u)
    # once, in this graph. The loop body then captures those kernels: an update of u inside a loop body would
    # be a cross-replica merge_call under MirroredStrategy, which a loop body cannot hold.
    if constant:
      projections = unit.project_inputs(inputs, training)
      at = lambda t: projections
    else:
      folded = unit.project_inputs(tf.reshape(inputs, [-1] + list(inputs.shape[2:])), training)
      # [B*T, H, W, F] -> [T, B, H, W, F]: a step reads one leading index.
      projections = [tf.transpose(tf.reshape(p, [-1, num_steps] + list(p.shape[1:])), [1, 0, 2, 3, 4])
                     for p in folded]
      at = lambda t: [p[t] for p in projections]
    h, w = unit.step(at(0), h, training)
    if num_steps == 1 or not symbolic_loop or tf.executing_eagerly() or compat.in_xla_context():
      outputs, weights = [h], [w]
      for t in range(1, num_steps):
        h, w = unit.step(at(t), h, training)
        outputs.append(h)
        weights.append(w)
      warp = tf.stack(weights, axis=1) if unit.warps else None
      return tf.stack(outputs, axis=1), warp
    if not constant:
      # A TensorArray's read has a lean gradient; a slice of a captured tensor adds a full-size one per step.
      arrays = [tf.TensorArray(p.dtype, size=num_steps, element_shape=p.shape[1:]).unstack(p)
                for p in projections]
      at = lambda t: [a.read(t) for a in arrays]
    return _symbolic_unroll(unit, at, num_steps, h, w, training)


def _symbolic_unroll(unit, at, num_steps, h_1, w_1, training):
  """Steps 2..T of `unroll` as a tf.while_loop, given step 1's state h_1 and warp weights w_1 (or None); at(t)
  gives step t's input projections."""
  states = tf.TensorArray(h_1.dtype, size=num_steps, element_shape=h_1.shape).write(0, h_1)
  weights = (tf.TensorArray(w_1.dtype, size=num_steps, element_shape=w_1.shape).write(0, w_1)
             if unit.warps else tf.zeros([]))  # a placeholder loop variable for units that do not warp

  def body(t, h, states, weights):
    h, w = unit.step(at(t), h, training)
    return t + 1, h, states.write(t, h), weights.write(t, w) if unit.warps else weights

  loop_vars = (tf.constant(1), h_1, states, weights)
  _, _, states, weights = tf.while_loop(lambda t, *_: t < num_steps, body, loop_vars,
                                        maximum_iterations=num_steps - 1)
  to_batch_major = lambda ta: tf.transpose(ta.stack(), [1, 0] + list(range(2, h_1.shape.rank + 1)))
  return to_batch_major(states), to_batch_major(weights) if unit.warps else None
