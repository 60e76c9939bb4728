"""`swarm status --watch`: the status tables, redrawn whenever the SN node's event stream
(`/v1/stream`) says something happened, until Ctrl-C."""

from __future__ import annotations

import logging
import sys
import time

import requests

from swarm_network.backoff import Backoff
from swarm_network.cli.status_cmd import show_status
from swarm_network.errors import ChainError

log = logging.getLogger(__name__)

CLEAR_SCREEN = "\x1b[H\x1b[2J"
MIN_REDRAW_S = 0.5
READ_TIMEOUT_S = 30.0  # the stream sends a keep-alive every 15 s
#: Reconnecting to a node that went away: give up after this long without a connection.
RECONNECT = Backoff(first_s=0.5, max_s=5.0, deadline_s=60.0)


def _draw(sn_url: str, steps: int) -> None:
    sys.stdout.write(CLEAR_SCREEN)
    show_status(sn_url, steps=steps, as_json=False)
    print(f"\nwatching {sn_url}/v1/stream (Ctrl-C to stop)", flush=True)


def _follow(sn_url: str, steps: int) -> None:
    """Redraw on events (at most every MIN_REDRAW_S) while the stream lasts. Raises
    RequestException only when it cannot connect."""
    with requests.get(f"{sn_url}/v1/stream", stream=True, timeout=READ_TIMEOUT_S) as stream:
        stream.raise_for_status()
        _draw(sn_url, steps)
        last_draw, pending = time.monotonic(), False
        try:
            for line in stream.iter_lines(decode_unicode=True):
                pending = pending or line.startswith("event: ")
                if pending and time.monotonic() - last_draw >= MIN_REDRAW_S:
                    _draw(sn_url, steps)
                    last_draw, pending = time.monotonic(), False
        except requests.RequestException as exc:
            log.warning("lost %s (%s); reconnecting", sn_url, exc)


def watch_status(sn_url: str, *, steps: int) -> int:
    attempts = RECONNECT.sleeps()
    try:
        while next(attempts, None) is not None:
            try:
                _follow(sn_url, steps)
                attempts = RECONNECT.sleeps()  # it was up: the next outage has its own bound
            except (requests.RequestException, ChainError) as exc:
                log.warning("cannot reach %s (%s)", sn_url, exc)
    except KeyboardInterrupt:
        return 0
    print(f"cannot reach {sn_url}/v1/stream for {RECONNECT.deadline_s:.0f} s", file=sys.stderr)
    return 1
