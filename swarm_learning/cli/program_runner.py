"""The child process of `swarm sl`: runs the user's training program unchanged, as `python
PROGRAM` or `python -m MODULE` would, except that a `SwarmError` it lets through (a wrong
join token, a setting the swarm's training does not use) ends it with one line and exit
status 2, as every `swarm` command does, instead of a Python traceback. Any other exception
is the program's own and keeps its traceback.

    python -m swarm_learning.cli.program_runner (--program PATH | --module NAME) [ARGS...]
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

from swarm_network.cli.messages import error_line
from swarm_network.errors import SwarmError

EXIT_SWARM_ERROR = 2


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("--program", "--module"):
        print("usage: program_runner (--program PATH | --module NAME) [ARGS...]", file=sys.stderr)
        return EXIT_SWARM_ERROR
    kind, target, *program_args = argv
    try:
        if kind == "--program":
            sys.argv = [target, *program_args]
            sys.path.insert(0, str(Path(target).resolve().parent))  # as `python PATH` does
            runpy.run_path(target, run_name="__main__")
        else:
            sys.argv = [target, *program_args]
            runpy.run_module(target, run_name="__main__", alter_sys=True)
    except SwarmError as exc:
        print(error_line("sl", exc), file=sys.stderr, flush=True)
        return EXIT_SWARM_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
