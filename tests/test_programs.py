"""Programs outside the library (benchmarks/, experiments/): they start, and the library never imports them."""

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PROGRAMS = sorted(f"{p.parent.name}.{p.stem}" for folder in ("benchmarks", "experiments")
                  for p in (ROOT / folder).glob("*.py") if p.name != "__init__.py")


def test_the_programs_are_found():
  assert {"benchmarks.bench_recurrent", "benchmarks.bench_discriminators", "benchmarks.bench_data",
          "benchmarks.bench_i3d", "experiments.motion_readout"} <= set(PROGRAMS)


@pytest.mark.parametrize("module", PROGRAMS)
def test_program_starts_and_documents_its_flags(module):
  result = subprocess.run([sys.executable, "-m", module, "--helpshort"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
  # absl prints the module's docstring (whose usage line names the module) and its flags, then exits with 1.
  assert result.returncode == 1 and f"python -m {module}" in result.stdout, result.stderr[-2000:]
  assert "Traceback" not in result.stderr


def test_the_library_imports_no_program():
  for path in (ROOT / "trivd_gan").rglob("*.py"):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
      names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
               [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
      for name in names:
        assert name.split(".")[0] not in ("benchmarks", "experiments"), (
            f"{path.relative_to(ROOT)} imports {name}")
