"""One duration format in every progress line (training, evaluation, standing statistics)."""

from trivd_gan import progress


def test_format_duration():
  assert progress.format_duration(0) == "0h00m00s"
  assert progress.format_duration(3723.4) == "1h02m03s"
  assert progress.format_duration(59.6) == "0h01m00s"
  assert progress.format_duration(-5) == "0h00m00s"
  assert progress.format_duration(100 * 3600) == "100h00m00s"
