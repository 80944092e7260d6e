"""Progress lines of long loops (training, evaluation, standing statistics): one duration format for all."""


def format_duration(seconds):
  """'1h02m03s' for 3723.4 seconds: whole seconds, rounded; a negative duration counts as 0."""
  seconds = max(0, int(round(seconds)))
  return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s"
