"""The one line a `swarm` command ends with when a `SwarmError` stops it, written once for
every command and for the learner's program runner (`swarm sl`). A taken port names the flag
that chooses another, since that is what the person has to change."""

from __future__ import annotations

from swarm_network.defaults import CHAIN_RPC, FILE_SERVER, REST_API
from swarm_network.errors import PortInUse

#: listener -> the flag of `swarm sentinel` / `sn` / `sl` that sets its port
PORT_FLAGS = {CHAIN_RPC: "--rpc-port", REST_API: "--rest-port", FILE_SERVER: "--file-port"}


def error_line(command: str, exc: Exception) -> str:
    """`swarm <command>: error: ...`, one line whatever the error's text held."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, PortInUse) and exc.listener in PORT_FLAGS:
        flag = PORT_FLAGS[exc.listener]
        text += f"; choose another with {flag} PORT ({flag} 0 takes any free port)"
    return f"swarm {command}: error: {text}"
