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


# Runs a program as `python -m` / `python script` would, then says whether TensorFlow was imported.
_RUN_AND_REPORT = """
import runpy, sys
target, sys.argv = sys.argv[1], sys.argv[1:]
try:
  if target.endswith(".py"):
    runpy.run_path(target, run_name="__main__")
  else:  # alter_sys: the program is sys.modules["__main__"], whose docstring absl's --help prints
    runpy.run_module(target, run_name="__main__", alter_sys=True)
except SystemExit as e:
  print("exit status", e.code)
print("tensorflow imported:", "tensorflow" in sys.modules)
"""


def test_the_programs_are_found():
  assert {"benchmarks.bench_recurrent", "benchmarks.bench_discriminators", "benchmarks.bench_data",
          "benchmarks.bench_i3d", "experiments.motion_readout"} <= set(PROGRAMS)


@pytest.mark.parametrize("module", PROGRAMS)
def test_program_starts_and_documents_its_flags(module):
  result = subprocess.run([sys.executable, "-c", _RUN_AND_REPORT, module, "--helpshort"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
  # absl prints the module's docstring (whose usage line names the module) and its flags, then exits with 1.
  assert "exit status 1" in result.stdout and f"python -m {module}" in result.stdout, result.stderr[-2000:]
  assert "Traceback" not in result.stderr
  # --help answers without TensorFlow's ~4 s start-up: the programs import it when they run.
  assert "tensorflow imported: False" in result.stdout


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




@pytest.mark.parametrize("program, args, expected", [
    ("trivd_gan.predict", ["--help"], "exit status 1"),
    ("trivd_gan.predict", ["--input=missing.mp4", "--output=o.gif"], "error: input video 'missing.mp4'"),
    ("trivd_gan.predict", ["--input=x.mp4", "--output=o.png"], "error: --output must end in .gif or .mp4"),
    ("export/export_generator.py", ["--help"], "exit status 1"),
    ("export/export_generator.py", ["--model_dir=missing", "--output=o"], "error: --model_dir 'missing' does"),
    ("export/export_generator.py", ["--output=o"], "error: --model_dir and --output are required."),
])
def test_help_and_flag_errors_come_before_tensorflow_starts(program, args, expected):
  # Importing TensorFlow takes ~4 s: a user's typo and --help should not wait for it.
  target = str(ROOT / program) if program.endswith(".py") else program
  result = subprocess.run([sys.executable, "-c", _RUN_AND_REPORT, target, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
  output = result.stdout + result.stderr
  assert expected in output, output[-2000:]
  assert "tensorflow imported: False" in result.stdout, output[-2000:]
