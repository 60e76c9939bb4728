"""Bad HTTP from a client is the client's mistake, not ours: aiohttp answers it with 400 and
logs it with a full traceback at ERROR ("Error handling request"), so anyone who can reach a
port can fill a node's log with tracebacks. This filter turns such a record into one warning
line naming the client and the first line of the parser's complaint (not the bytes sent)."""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import HttpProcessingError

AIOHTTP_SERVER_LOGGER = "aiohttp.server"


class BadRequestFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            complaint = (exc.message or "").strip().splitlines()
            reason = complaint[0].rstrip(":") if complaint else type(exc).__name__
            said = record.getMessage()
            record.msg = "%s: HTTP %d, %s"
            record.args = (said, exc.code, reason)
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def quiet_bad_requests() -> None:
    """Install the filter on aiohttp's server logger, once per process."""
    logger = logging.getLogger(AIOHTTP_SERVER_LOGGER)
    if not any(isinstance(f, BadRequestFilter) for f in logger.filters):
        logger.addFilter(BadRequestFilter())
