"""Log filtering for library code that calls TensorFlow APIs known to log expected, alarming-looking lines.

`dropped_log_messages` drops those lines (for example the warning about unsaved custom gradients when loading
an export that leaves them out on purpose) while leaving every other record alone. Imports nothing but the
standard library.
"""

import contextlib
import logging


class _DropMessages(logging.Filter):
  """Drops log records whose message contains any of `texts`."""

  def __init__(self, texts):
    super().__init__()
    self.texts = tuple(texts)

  def filter(self, record):
    message = record.getMessage()
    return not any(text in message for text in self.texts)


@contextlib.contextmanager
def dropped_log_messages(*texts, logger_name="absl"):
  """Within the block, records of `logger_name` (absl's, which TensorFlow's Python code logs to) that contain
  any of `texts` are dropped: for messages that are expected in a program and only alarm or flood its user."""
  logger = logging.getLogger(logger_name)
  drop = _DropMessages(texts)
  logger.addFilter(drop)
  try:
    yield
  finally:
    logger.removeFilter(drop)
