"""Style checks on the tracked sources (docs/CONVENTIONS.md): lines <= 112 characters, modules <= 400 lines."""

import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
MAX_LINE_LENGTH = 112

def _tracked_python_files():
  result = subprocess.run(["git", "ls-files", "-z", "*.py"], cwd=ROOT, capture_output=True, check=False)
  if result.returncode != 0:
    pytest.skip(f"not a git checkout (git ls-files: {result.stderr.decode(errors='replace').strip()})")
  return [name for name in result.stdout.decode("utf-8").split("\0") if name]


def test_no_line_is_longer_than_112_characters():
  offenders = []
  for name in _tracked_python_files():
    path = ROOT / name
    if not path.exists():  # deleted in the working tree but not yet in the index
      continue
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
      if len(line) > MAX_LINE_LENGTH:
        offenders.append(f"{name}:{number}: {len(line)} characters")
  assert not offenders, (f"Lines longer than {MAX_LINE_LENGTH} characters (wrap them by hand):\n" +
                         "\n".join(offenders))


MAX_MODULE_LINES = 400


def test_no_module_is_longer_than_400_lines():
  # A longer module does more than one job: split it by what its parts own (docs/architecture.md).
  offenders = []
  for name in _tracked_python_files():
    path = ROOT / name
    if name.startswith("tests/") or not path.exists():
      continue
    lines = path.read_text(encoding="utf-8").count("\n")
    if lines > MAX_MODULE_LINES:
      offenders.append(f"{name}: {lines} lines")
  assert not offenders, f"Modules over {MAX_MODULE_LINES} lines (split them):\n" + "\n".join(offenders)
