"""Bazel cannot run on these machines; this keeps the BUILD files true for users who have it.

Every module under trivd_gan/ must be in the srcs of the py_library of its directory, every test file in a
py_test of its directory, and every dependency label must name a package that has a BUILD file.
"""

import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _evaluate_build(path):
  """Runs a BUILD file (Starlark is a Python subset for these rules) and records its targets."""
  targets = []

  def rule(kind):
    def record(**kwargs):
      targets.append({"kind": kind, **kwargs})
    return record

  env = {"py_library": rule("py_library"), "py_test": rule("py_test"), "py_binary": rule("py_binary"),
         "filegroup": rule("filegroup"), "glob": lambda *a, **k: [],
         "exports_files": lambda *a, **k: None, "load": lambda *a, **k: None}
  exec(compile(path.read_text(), str(path), "exec"), env)  # pylint: disable=exec-used
  return targets


def _python_dirs(top):
  return sorted({p.parent for p in (ROOT / top).rglob("*.py") if "__pycache__" not in p.parts})


LIBRARY_AND_PROGRAM_DIRS = _python_dirs("trivd_gan") + _python_dirs("experiments") + _python_dirs("benchmarks")


@pytest.mark.parametrize("directory", LIBRARY_AND_PROGRAM_DIRS, ids=str)
def test_every_module_is_in_a_py_library(directory):
  build = directory / "BUILD"
  assert build.exists(), f"{build.relative_to(ROOT)} is missing: add a py_library listing the modules."
  srcs = {s for t in _evaluate_build(build) if t["kind"] in ("py_library", "py_binary") for s in t["srcs"]}
  modules = {p.name for p in directory.glob("*.py")}
  missing = modules - srcs
  assert not missing, f"{build.relative_to(ROOT)}: add {sorted(missing)} to a py_library's srcs."
  stale = srcs - modules
  assert not stale, f"{build.relative_to(ROOT)}: srcs name files that do not exist: {sorted(stale)}."


@pytest.mark.parametrize("directory", _python_dirs("tests") + _python_dirs("export"), ids=str)
def test_every_test_file_is_a_py_test(directory):
  build = directory / "BUILD"
  assert build.exists(), f"{build.relative_to(ROOT)} is missing."
  targets = _evaluate_build(build)
  tests = {s for t in targets if t["kind"] == "py_test" for s in t["srcs"]}
  wanted = {p.name for p in directory.glob("test_*.py")}
  assert not wanted - tests, f"{build.relative_to(ROOT)}: add py_test targets for {sorted(wanted - tests)}."
  listed = {s for t in targets for s in t.get("srcs", [])}
  others = {p.name for p in directory.glob("*.py")} - wanted - listed
  assert not others, f"{build.relative_to(ROOT)}: list {sorted(others)} in a target."


def test_dependency_labels_name_real_packages():
  for build in ROOT.rglob("BUILD"):
    if any(part.startswith(".") or part == "node_modules" for part in build.relative_to(ROOT).parts):
      continue
    for target in _evaluate_build(build):
      for dep in target.get("deps", []):
        if dep.startswith("//"):
          package = dep[2:].split(":")[0]
          assert (ROOT / package / "BUILD").exists(), f"{build.relative_to(ROOT)}: {dep} has no BUILD file."


def test_workspace_exists():
  assert (ROOT / "WORKSPACE").exists()
