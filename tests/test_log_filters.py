"""log_filters.dropped_log_messages: drops only the named messages, only inside its block."""

import logging

from trivd_gan import log_filters


def test_dropped_log_messages_only_inside_the_block(caplog):
  logger = logging.getLogger("absl")
  with caplog.at_level(logging.INFO, logger="absl"):
    with log_filters.dropped_log_messages("expected noise", "other"):
      logger.info("an expected noise line")
      logger.info("a useful line")
    logger.info("expected noise after the block")
  assert [r.getMessage() for r in caplog.records] == ["a useful line", "expected noise after the block"]
