"""Choosing the compute precision: float32 or the "mixed_bfloat16" Keras policy (bfloat16 compute, float32
variables, batch-norm statistics and spectral-norm power iterations). The paper trains on TPUv3 (E.3), whose
matrix units compute in bfloat16; it does not state its precision.

`train.mixed_precision = "auto"` picks mixed_bfloat16 where the device multiplies bfloat16 in hardware (TPUs,
NVIDIA GPUs of compute capability >= 8.0, x86 CPUs with AMX-BF16 or AVX512-BF16) and float32 elsewhere, and
says which it chose and why. On this project's CPU (AMD EPYC, AVX512-BF16, no AMX) a Table 1 size step (ch 48)
ran 1.8x faster in bfloat16, while a demo-size step (ch 4) gains nothing (docs/benchmarks.md): small
configurations set it False explicitly.
"""

import tensorflow as tf

_CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_bf16_flags(cpuinfo_path="/proc/cpuinfo"):
  """The bfloat16 matrix-unit flags this CPU reports (e.g. ["avx512_bf16"]); [] if none or unknown."""
  try:
    with open(cpuinfo_path) as f:
      for line in f:
        if line.startswith("flags"):
          flags = set(line.split(":", 1)[1].split())
          return [flag for flag in _CPU_BF16_FLAGS if flag in flags]
  except OSError:
    pass
  return []


def choose(setting, strategy=None, cpuinfo_path="/proc/cpuinfo"):
  """Resolves `train.mixed_precision` to (use mixed_bfloat16: bool, reason: str).

  Args:
    setting: True, False or "auto".
    strategy: the training tf.distribute.Strategy (a TPUStrategy means TPUs), or None.
    cpuinfo_path: where the CPU's feature flags are read (Linux).
  """
  if isinstance(setting, bool):
    return setting, f"train.mixed_precision = {setting}"
  if setting != "auto":
    raise ValueError(f"train.mixed_precision must be True, False or 'auto', got {setting!r}.")
  if strategy is not None and "TPU" in type(strategy).__name__:
    return True, "auto: TPU (bfloat16 matrix units)"
  gpus = tf.config.list_physical_devices("GPU")
  if gpus:
    capabilities = [tf.config.experimental.get_device_details(g).get("compute_capability", (0, 0))
                    for g in gpus]
    if all(c >= (8, 0) for c in capabilities):
      return True, f"auto: GPUs of compute capability {min(capabilities)} have bfloat16 tensor cores"
    return False, f"auto: GPUs of compute capability {min(capabilities)} (< 8.0) have no bfloat16 tensor cores"
  flags = cpu_bf16_flags(cpuinfo_path)
  if flags:
    return True, f"auto: this CPU has bfloat16 matrix units ({', '.join(flags)})"
  return False, "auto: this CPU reports no bfloat16 matrix units (amx_bf16 / avx512_bf16)"
