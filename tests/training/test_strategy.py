"""strategy.make_strategy: names, the default strategy and bad input."""

import pytest
import tensorflow as tf

from trivd_gan.training import strategy as strategy_lib


def test_default_strategy():
  s = strategy_lib.make_strategy("default")
  assert s.num_replicas_in_sync == 1
  assert strategy_lib.is_chief(s) and strategy_lib.worker_index(s) == 0


def test_mirrored_on_cpu():
  s = strategy_lib.make_strategy("mirrored")
  assert s.num_replicas_in_sync == len(tf.config.list_logical_devices("CPU"))


def test_bad_input(monkeypatch):
  with pytest.raises(ValueError, match="allowed"):
    strategy_lib.make_strategy("horovod")
  monkeypatch.delenv("TF_CONFIG", raising=False)
  with pytest.raises(ValueError, match="TF_CONFIG"):
    strategy_lib.make_strategy("multi_worker")
  with pytest.raises(ValueError, match="--tpu"):
    strategy_lib.make_strategy("tpu")
