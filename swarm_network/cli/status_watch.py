"""`swarm status --watch`: the status tables, redrawn whenever the SN node's event stream
(`/v1/stream`) says something happened, until Ctrl-C. On a terminal rich's `Live` redraws
them in place; a redirected output gets each new picture after a rule, with its time."""

from __future__ import annotations

import logging
import signal
import sys
import time

import requests
from rich.console import Console, Group
from rich.live import Live
from rich.rule import Rule
from rich.text import Text

from swarm_network.backoff import Backoff
from swarm_network.cli.status_cmd import read_status, status_view, training_url
from swarm_network.errors import ChainError
from swarm_network.text_table import console
from swarm_network.trainings import DEFAULT_TRAINING

log = logging.getLogger(__name__)

MIN_REDRAW_S = 0.5
READ_TIMEOUT_S = 30.0  # the stream sends a keep-alive every 15 s
#: Reconnecting to a node that went away: give up after this long without a connection.
RECONNECT = Backoff(first_s=0.5, max_s=5.0, deadline_s=60.0)


class Screen:
    """Where the pictures go: redrawn in place on a terminal, appended otherwise."""

    def __init__(self, out: Console, sn_url: str, steps: int, training: str) -> None:
        self.out, self.sn_url, self.steps, self.training = out, sn_url, steps, training
        self.live: Live | None = None
        if out.is_terminal:
            self.live = Live(console=out, auto_refresh=False, screen=False)
            self.live.start()

    def draw(self, note: str = "") -> None:
        footer = Text(f"\n{note or 'watching'} {self.sn_url}/v1/stream (Ctrl-C to stop)")
        picture = Group(status_view(read_status(self.sn_url, self.steps, self.training)), footer)
        if self.live is not None:
            self.live.update(picture, refresh=True)
        else:
            self.out.print(Rule(time.strftime("%H:%M:%S")))
            self.out.print(picture)
            self.out.file.flush()

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()


def _follow(screen: Screen) -> None:
    """Redraw on events (at most every MIN_REDRAW_S) while the stream lasts. Raises
    RequestException only when it cannot connect."""
    url = training_url(f"{screen.sn_url}/v1/stream", screen.training)
    with requests.get(url, stream=True, timeout=READ_TIMEOUT_S) as stream:
        stream.raise_for_status()
        screen.draw()
        last_draw, pending = time.monotonic(), False
        try:
            for line in stream.iter_lines(decode_unicode=True):
                # An event, or the keep-alive (every 15 s): "last seen" moves on too.
                pending = pending or line.startswith(("event: ", ": keep-alive"))
                if pending and time.monotonic() - last_draw >= MIN_REDRAW_S:
                    screen.draw()
                    last_draw, pending = time.monotonic(), False
        except requests.RequestException as exc:
            log.warning("lost %s (%s); reconnecting", screen.sn_url, exc)


def watch_status(sn_url: str, *, steps: int, training: str = DEFAULT_TRAINING) -> int:
    # Ctrl-C (SIGINT) is how a watch ends, also when it was started from a script in the
    # background: such a shell starts its children with SIGINT ignored, and Python keeps that.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    out = console()
    screen = Screen(out, sn_url, steps, training)
    attempts = RECONNECT.sleeps()
    try:
        while next(attempts, None) is not None:
            try:
                _follow(screen)
                attempts = RECONNECT.sleeps()  # it was up: the next outage has its own bound
            except (requests.RequestException, ChainError) as exc:
                log.warning("cannot reach %s (%s)", sn_url, exc)
    except KeyboardInterrupt:
        return 0
    finally:
        screen.close()
    print(f"cannot reach {sn_url}/v1/stream for {RECONNECT.deadline_s:.0f} s", file=sys.stderr)
    return 1
