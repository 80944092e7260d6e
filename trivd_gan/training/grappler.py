"""Whether TensorFlow's graph optimizer (Grappler) rewrites the training step's graphs: `train.grappler`.

Grappler optimizes each tf.function when it is first called: two rounds of pruning, common-subexpression
elimination, constant folding, arithmetic simplification, layout, op fusion (remapper) and memory passes. At
demo size it is a fifth of the time from launch to the end of the first step (`TF_CPP_VMODULE=meta_optimizer=1`:
1.5 s for D's update graph, 3.0 s for G's, of ~24 s). On this project's CPU the float32 steps it optimizes
ran as fast as unoptimized ones when first measured (demo: 274-293 ms without, 286-303 ms with; ch 16 at
64x64: 2.23 s both) and ~10% faster on later, leaner graphs (demo: 323-339 ms with, 361-377 ms without);
bfloat16 steps gain (ch 16: 1.79 s without, 1.59 s with: fewer casts and fused ops). On GPUs its layout pass
(NHWC to NCHW for tensor cores) and fusions matter. docs/benchmarks.md has the measurements.

`"auto"` turns Grappler off for float32 steps on CPUs only (no GPU or TPU, no XLA), on elsewhere.
"""

import tensorflow as tf


def choose(setting, bfloat16, strategy=None, jit_compile=False):
  """Resolves `train.grappler` to (run Grappler: bool, reason: str).

  Args:
    setting: True, False or "auto".
    bfloat16: whether the models compute in bfloat16 (the "mixed_bfloat16" policy).
    strategy: the training tf.distribute.Strategy (a TPUStrategy means TPUs), or None.
    jit_compile: whether the gradients are XLA-compiled (not measured without Grappler: left on).
  """
  if isinstance(setting, bool):
    return setting, f"train.grappler = {setting}"
  if setting != "auto":
    raise ValueError(f"train.grappler must be True, False or 'auto', got {setting!r}.")
  if strategy is not None and "TPU" in type(strategy).__name__:
    return True, "auto: TPU"
  if tf.config.list_physical_devices("GPU"):
    return True, "auto: GPU (layout and fusion passes)"
  if bfloat16:
    return True, "auto: bfloat16 steps run faster optimized (fewer casts, fused ops)"
  if jit_compile:
    return True, "auto: XLA-compiled gradients (not measured without Grappler)"
  return False, ("auto: float32 on a CPU: the step graphs build 5-9 s sooner unoptimized; "
                 "train.grappler = True may run a long run's steps ~10% faster")
