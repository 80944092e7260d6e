"""train.mixed_precision: True / False / "auto" (bfloat16 where the device multiplies it in hardware)."""

import pytest
import tensorflow as tf

from trivd_gan.training import precision


def _cpuinfo(tmp_path, flags):
  path = tmp_path / "cpuinfo"
  path.write_text(f"processor\t: 0\nmodel name\t: x\nflags\t\t: fpu sse2 avx2 {flags}\n\nprocessor\t: 1\n")
  return str(path)


def test_explicit_settings_are_kept():
  assert precision.choose(True) == (True, "train.mixed_precision = True")
  assert precision.choose(False) == (False, "train.mixed_precision = False")


def test_auto_on_a_cpu_follows_its_bf16_flags(tmp_path):
  if tf.config.list_physical_devices("GPU"):
    pytest.skip("a GPU decides 'auto' before the CPU flags")
  flags = "avx512f amx_tile amx_bf16 avx512_bf16"
  use, reason = precision.choose("auto", cpuinfo_path=_cpuinfo(tmp_path, flags))
  assert use and "amx_bf16, avx512_bf16" in reason
  use, reason = precision.choose("auto", cpuinfo_path=_cpuinfo(tmp_path, "avx512f"))
  assert not use and "no bfloat16 matrix units" in reason
  use, _ = precision.choose("auto", cpuinfo_path=str(tmp_path / "missing"))  # not Linux: float32
  assert not use


def test_auto_on_tpu_is_bfloat16():
  class TPUStrategy:  # only the type's name is read
    pass
  assert precision.choose("auto", TPUStrategy())[0]


def test_bad_setting():
  with pytest.raises(ValueError, match="True, False or 'auto'"):
    precision.choose("bf16")
