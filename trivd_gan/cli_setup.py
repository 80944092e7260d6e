"""What every command line program does first: quieter TensorFlow logs, gin files found from any directory;
and how each one fails: `exit_with_error` (one line "error: ...", exit status 2, as argparse does).

Imports neither TensorFlow nor gin (call `quiet_tensorflow_logs` before TensorFlow is imported).
"""

import glob
import os
import re
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# gin appends this to errors raised inside a configurable; the address says nothing to a user.
_GIN_CALL_SUFFIX = re.compile(r"\s*In call to configurable '[^']*' \(<[^>]*>\)")


def quiet_tensorflow_logs():
  """Defaults TF_CPP_MIN_LOG_LEVEL to 3 on machines without an NVIDIA GPU, unless the user has set it.

  There TensorFlow's C++ start-up lines are noise, the "failed call to cuInit" ERROR line included (only level
  3 hides ERROR lines); errors that matter reach Python as exceptions. Set TF_CPP_MIN_LOG_LEVEL=0 to see them.
  """
  if "TF_CPP_MIN_LOG_LEVEL" not in os.environ and not glob.glob("/dev/nvidia[0-9]*"):
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"


def gin_search_paths(gin_files):
  """Folders for gin.add_config_file_search_path, so that `include 'gin/base.gin'` works from any directory.

  The repository root, then for each gin file its folder and that folder's parent (a file in <dir>/gin/
  includes 'gin/base.gin' relative to <dir>).
  """
  paths = [REPO_ROOT]
  for path in gin_files:
    folder = os.path.dirname(os.path.abspath(path))
    paths += [folder, os.path.dirname(folder)]
  return list(dict.fromkeys(paths))


def trim_gin_message(text):
  """`text` without gin's "In call to configurable 'train' (<function train at 0x...>)" suffixes."""
  return _GIN_CALL_SUFFIX.sub("", str(text)).strip()


def exit_with_error(message):
  """Ends a program on bad input: one line `error: <message>` on stderr (gin's suffix trimmed), status 2."""
  sys.stderr.write(f"error: {' '.join(trim_gin_message(str(message)).split())}\n")
  sys.exit(2)
