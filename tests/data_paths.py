"""The one place tests find data files: tests/testdata (in the repository) and the large shared files.

The suite passes from a clone alone. Only tests that truly need the large shared files (the whole MNIST test
set, the four shared videos) call `shared_data` and skip, with the reason, when the folder is absent. The
shared folder is `../shared/data` beside the repository, or `$TRIVD_GAN_SHARED_DATA` (set it to a missing
path, e.g. /nonexistent, to run the suite as on a machine without it).
"""

import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTDATA = os.path.join(ROOT, "tests", "testdata")
# 320x240, 36 frames of real camera footage; BSD-2-Clause (imageio), see tests/testdata/README.md.
REALSHORT_MP4 = os.path.join(TESTDATA, "realshort.mp4")
SHARED_DATA_ENV = "TRIVD_GAN_SHARED_DATA"


def shared_data_dir():
  """The shared data folder (`$TRIVD_GAN_SHARED_DATA`, else ../shared/data from the repository root)."""
  return os.environ.get(SHARED_DATA_ENV) or os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))


def shared_data(*parts):
  """The path of a shared file or folder (e.g. "mnist"); skips the calling test if it is absent."""
  path = os.path.join(shared_data_dir(), *parts)
  if not os.path.exists(path):
    pytest.skip(f"needs the shared data file {path} (not in the repository; set ${SHARED_DATA_ENV} to the "
                "shared data folder to run this test)")
  return path
