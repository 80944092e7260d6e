"""The import rule of docs/architecture.md: each part of the package imports only the parts below it.

Every `import` and `from ... import` of trivd_gan modules, at module level or inside functions, is checked.
"""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Programs (`python -m trivd_gan.<name>`): thin command-line entry points. Nothing imports them.
PROGRAMS = ("train", "evaluate", "predict", "probe", "bench", "bench_motion", "demo_figures", "param_counts")

# Part -> the parts it may import (itself included). A part is a sub-package (layers, models, data, evaluation,
# training) or a top-level library module. Keep in sync with docs/architecture.md.
ALLOWED = {
    "layers": {"layers", "compat"},
    "models": {"models", "layers"},
    "data": {"data", "compat"},
    "compat": set(),
    "flops": {"compat"},
    "op_profile": {"compat"},
    "log_filters": set(),
    "progress": set(),
    "cli_setup": set(),
    "visualization": set(),
    "losses": {"layers", "models"},
    "field_losses": {"layers", "losses"},
    "inference": {"compat", "data", "layers", "models", "log_filters", "progress"},
    "diagnostics": {"layers", "losses", "models"},
    "export": {"inference", "log_filters", "models"},
    "evaluation": {"evaluation", "data", "inference", "models", "progress"},
    "training": {"training", "compat", "data", "field_losses", "inference", "layers", "losses", "models",
                 "progress", "visualization"},
    "configurables": {"cli_setup", "data", "inference", "models", "training"},
}
LIBRARY = set(ALLOWED)


def _part(module):
  """'trivd_gan.layers.warping' -> 'layers'; 'trivd_gan.inference' -> 'inference'; 'trivd_gan' -> None."""
  parts = module.split(".")
  return parts[1] if len(parts) > 1 else None


def _imports():
  """[(importing module, imported trivd_gan module)] over the package."""
  out = []
  for path in sorted((ROOT / "trivd_gan").rglob("*.py")):
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
      if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
      elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        # `from trivd_gan import inference` imports the module trivd_gan.inference.
        names = ([f"{node.module}.{a.name}" for a in node.names] if node.module == "trivd_gan" else
                 [node.module])
      else:
        continue
      out += [(module, name) for name in names if name.split(".")[0] == "trivd_gan"]
  return out


def test_every_part_of_the_package_is_classified():
  parts = {_part(m) for m, _ in _imports()} | {_part(n) for _, n in _imports()}
  unknown = parts - LIBRARY - set(PROGRAMS) - {None}
  assert not unknown, f"add {sorted(unknown)} to ALLOWED (library) or PROGRAMS here and in docs/architecture.md"


def test_library_parts_import_only_the_parts_below_them():
  bad = [(m, n) for m, n in _imports()
         if _part(m) in LIBRARY and _part(n) not in ALLOWED[_part(m)] | {_part(m), None}]
  assert not bad, ("imports that break docs/architecture.md's rule:\n" +
                   "\n".join(f"  {m} -> {n}" for m, n in bad))


def test_nothing_imports_a_program():
  bad = [(m, n) for m, n in _imports() if _part(n) in PROGRAMS and _part(n) != _part(m)]
  assert not bad, "programs are entry points, not libraries:\n" + "\n".join(f"  {m} -> {n}" for m, n in bad)


def test_the_rule_is_acyclic():
  # A part may not reach itself through others: the parts form layers.
  def reaches(start, target, seen=()):
    return any(p == target or (p not in seen and p in ALLOWED and reaches(p, target, seen + (p,)))
               for p in ALLOWED[start] - {start})
  assert not [p for p in ALLOWED if reaches(p, p)]


def test_function_level_imports_are_seen():
  # The parser finds function-level imports too (the programs import lazily).
  imports = _imports()
  assert ("trivd_gan.probe", "trivd_gan.inference") in imports
  assert ("trivd_gan.layers.recurrent", "trivd_gan.layers.warping") in imports
