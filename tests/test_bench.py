"""Smoke test of trivd_gan.bench: one step of two tiny configurations; checks the JSON structure, not timings."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.slow  # ~4 min per tiny configuration on the 2 loaded CPU cores (tracing, FLOP profiling)
def test_bench_two_tiny_configurations_json(tmp_path):
  out = tmp_path / "bench.json"
  env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
  # Run from another directory: gin files and their includes resolve against the repository root.
  proc = subprocess.run([sys.executable, "-m", "trivd_gan.bench", "--gin_file=gin/base.gin",
                         "--gin_file=gin/tiny.gin", "--decompositions=dvd_gan_fp,dvd_gan_fp_faster", "--steps=1",
                         "--warmup=1", "--batch_size=2", "--matmul_size=256", f"--json={out}"],
                        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "| dvd_gan_fp_faster |" in proc.stdout
  result = json.loads(out.read_text())
  assert result["matmul_peak_flops_per_s"] > 0
  assert [r["decomposition"] for r in result["rows"]] == ["dvd_gan_fp", "dvd_gan_fp_faster"]
  for row in result["rows"]:
    assert row["table"] == "decomposition" and row["recurrent"] == "tsru_p" and row["batch_size"] == 2
    assert row["step_ms"] > 0 and row["mem_peak_gb"] > 0 and row["steps"] == 1
    assert row["step_flops"] > 0 and row["achieved_flops_per_s"] > 0 and 0 < row["mfu"]
    assert row["paper_ms"] == {"dvd_gan_fp": 537, "dvd_gan_fp_faster": 453}[row["decomposition"]]
  assert result["rows"][0]["ratio"] == 1.0
  assert {g["goal"] for g in result["goals"]} >= {"dvd_gan_fp_faster <= 0.84 x dvd_gan_fp"}
