"""Programs: those outside the library (benchmarks/, experiments/) start, and the library never imports them;
param_counts prints its table."""

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


def test_param_counts_prints_a_row_per_recurrent_unit_and_the_old_entry_point_still_works():
  from trivd_gan.layers import recurrent  # pylint: disable=import-outside-toplevel
  from trivd_gan.models import param_counts  # pylint: disable=import-outside-toplevel
  result = subprocess.run([sys.executable, "-m", "trivd_gan.param_counts", "--channel_multipliers=4"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  rows = [line for line in result.stdout.splitlines() if line.startswith("| ") and "recurrent unit" not in line]
  assert [row.split(" | ")[0][2:] for row in rows] == list(recurrent.RECURRENT_UNITS)
  total = param_counts.generator_parameter_counts(4, "convgru")["generator"]
  assert f"| convgru | {total:,} (" in result.stdout
  old = subprocess.run([sys.executable, "-m", "trivd_gan.models.param_counts", "--channel_multipliers=x"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
  assert "deprecated: use python -m trivd_gan.param_counts" in old.stderr
  assert old.returncode == 2 and old.stderr.strip().splitlines()[-1].startswith("error: --channel_multipliers")
