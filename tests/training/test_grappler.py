"""train.grappler: True / False / "auto" (TF's graph optimizer off for float32 steps on a CPU)."""

import pytest
import tensorflow as tf

from trivd_gan.training import grappler


def test_explicit_settings_are_kept():
  assert grappler.choose(True, bfloat16=False) == (True, "train.grappler = True")
  assert grappler.choose(False, bfloat16=True) == (False, "train.grappler = False")
  with pytest.raises(ValueError, match="True, False or 'auto'"):
    grappler.choose("off", bfloat16=False)


def test_auto_is_off_only_for_float32_on_a_cpu_without_xla():
  if tf.config.list_physical_devices("GPU"):
    pytest.skip("a GPU turns 'auto' on whatever the precision")
  on, reason = grappler.choose("auto", bfloat16=False)
  assert not on and "float32 on a CPU" in reason
  assert grappler.choose("auto", bfloat16=True)[0]
  assert grappler.choose("auto", bfloat16=False, jit_compile=True)[0]

  class TPUStrategy:  # the choice reads the strategy's type name only
    pass

  assert grappler.choose("auto", bfloat16=False, strategy=TPUStrategy()) == (True, "auto: TPU")


def test_auto_is_on_with_a_gpu(monkeypatch):
  real = tf.config.list_physical_devices
  monkeypatch.setattr(tf.config, "list_physical_devices",
                      lambda kind=None: ["GPU:0"] if kind == "GPU" else real(kind))
  assert grappler.choose("auto", bfloat16=False) == (True, "auto: GPU (layout and fusion passes)")
