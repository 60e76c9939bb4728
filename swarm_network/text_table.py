"""Tables for people, drawn by rich: `swarm status`, the demo's summary and the benchmarks use
the same functions, so their columns look alike. Cells are plain text (never rich markup), so
a value such as `[address, reason]` shows as it is."""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence
from typing import TextIO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

#: Width of a redirected output (a file, a pipe, a test): wide enough that a table of
#: addresses and URLs is never wrapped at rich's default of 80 columns.
REDIRECTED_WIDTH = 240


def rich_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], *, title: str | None = None
) -> Table:
    """Columns under a rule, none wrapped; None shows as "-"."""
    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title=title)
    t.title_justify = "left"
    for header in headers:
        t.add_column(Text(str(header)), no_wrap=True)
    for row in rows:
        t.add_row(*(Text("-" if v is None else str(v)) for v in row))
    return t


def console(file: TextIO | None = None) -> Console:
    """A console on `file` (stdout): the terminal's width, or REDIRECTED_WIDTH when it is
    not a terminal, where rich would otherwise wrap at 80 columns."""
    stream = file or sys.stdout
    width = None if stream.isatty() else REDIRECTED_WIDTH
    return Console(file=stream, width=width, highlight=False)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """The table as plain text (no colour, no trailing spaces), for logs and benchmarks."""
    out = io.StringIO()
    Console(file=out, width=REDIRECTED_WIDTH, color_system=None, highlight=False).print(
        rich_table(headers, rows)
    )
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines())
