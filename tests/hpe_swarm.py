"""What the end-to-end swarms of tests/hpe_program.py learners share: the program, the
learners' settings (short grace and timeouts, one torch thread each) and how long a swarm may
take. Not a test module."""

from __future__ import annotations

from pathlib import Path

PROGRAM = Path(__file__).with_name("hpe_program.py")
ENV = {
    "SWARM_GRACE_SECONDS": "2",
    "SWARM_PEER_TIMEOUT": "5",
    "SWARM_FINAL_TIMEOUT": "60",
    "SWARM_TORCH_THREADS": "1",
}
TIMEOUT_S = 300
