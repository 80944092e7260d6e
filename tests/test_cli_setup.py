"""cli_setup: gin error messages trimmed, gin search paths, TensorFlow's C++ log level default."""

import os

import pytest

from trivd_gan import cli_setup


def test_trim_gin_message():
  text = ("train.global_batch_size=0 must be >= 1.\n  In call to configurable 'train' "
          "(<function train at 0x7f3a2b1c0d60>)")
  assert cli_setup.trim_gin_message(text) == "train.global_batch_size=0 must be >= 1."
  assert cli_setup.trim_gin_message("no suffix here") == "no suffix here"


def test_gin_search_paths(tmp_path):
  gin_file = tmp_path / "project" / "gin" / "mine.gin"
  paths = cli_setup.gin_search_paths([str(gin_file)])
  assert paths == [cli_setup.REPO_ROOT, str(tmp_path / "project" / "gin"), str(tmp_path / "project")]
  assert os.path.isfile(os.path.join(paths[0], "gin", "base.gin"))


def test_quiet_tensorflow_logs_respects_the_user(monkeypatch):
  monkeypatch.setattr(cli_setup.glob, "glob", lambda pattern: [])  # a machine without an NVIDIA GPU
  monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
  cli_setup.quiet_tensorflow_logs()
  assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"
  monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
  cli_setup.quiet_tensorflow_logs()
  assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"
  monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
  monkeypatch.setattr(cli_setup.glob, "glob", lambda pattern: ["/dev/nvidia0"])
  cli_setup.quiet_tensorflow_logs()
  assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ


def test_exit_with_error_is_one_line_and_status_2(capsys):
  with pytest.raises(SystemExit) as exit_info:
    cli_setup.exit_with_error("bad --flag\n  value In call to configurable 'train' (<function train at 0x7f>)")
  assert exit_info.value.code == 2
  assert capsys.readouterr().err == "error: bad --flag value\n"
