"""Separate hosts on one machine: each node in its own Linux network namespace, with its own
address, joined by veth pairs to one bridge, its link shaped with tc. Not a test module.

    root namespace: bridge swb<id> 10.A.B.1/24 (the test talks to the nodes through it)
      |-- veth --> namespace swn<id>-<host>: eth0 10.A.B.x/24, lo

Shaping, on each host's eth0 (so every packet between two hosts crosses two shaped links):
netem with half the round-trip time as delay and the rate, where the kernel has netem; else
tbf with the rate only (some kernels are built without sch_netem), and `shaping` says so.

Everything is created with names unique to one lab and removed by `close()` (the bridge, the
veths with it, every namespace), also after a failure half-way through `add_host`.
`unavailable()` says why a lab cannot be made here (not root, no iproute2, namespaces not
allowed), so the test can skip with that reason.
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field

RTT_MS = 20
RATE = "1gbit"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


def unavailable() -> str | None:
    """Why no lab can be made on this machine, or None if it can."""
    if shutil.which("ip") is None or shutil.which("tc") is None:
        return "iproute2 (ip, tc) is not installed: `make setup-test` installs it"
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns): run the test as root"
    probe = f"swprobe{secrets.token_hex(3)}"
    try:
        made = _ip("netns", "add", probe, check=False)
    finally:
        _ip("netns", "del", probe, check=False)
    if made.returncode != 0:
        return f"`ip netns add` is not allowed here: {made.stderr.strip()}"
    return None


def _free_subnet() -> str:
    """A 10.A.B.0/24 that no interface of this machine has an address in."""
    taken = _ip("-o", "addr").stdout
    while True:
        subnet = f"10.{random.randint(64, 127)}.{random.randint(0, 255)}"
        if f" {subnet}." not in taken:
            return subnet


@dataclass(frozen=True)
class Host:
    """One namespace: its name (for `ip netns exec`) and its address on the bridge."""

    name: str
    namespace: str
    address: str

    def command(self, *argv: str) -> list[str]:
        """`argv` run inside this host's namespace."""
        return ["ip", "netns", "exec", self.namespace, *argv]


@dataclass
class Lab:
    """A bridge and the hosts on it; use as a context manager, or call `close()`."""

    lab_id: str = field(default_factory=lambda: secrets.token_hex(3))
    subnet: str = field(default_factory=lambda: _free_subnet())
    hosts: dict[str, Host] = field(default_factory=dict)
    shaping: str = ""
    _namespaces: list[str] = field(default_factory=list)
    _bridge: str | None = None

    @property
    def gateway(self) -> str:
        """The root namespace's own address on the bridge (where the test reaches hosts)."""
        return f"{self.subnet}.1"

    def open(self) -> Lab:
        bridge = f"swb{self.lab_id}"
        _ip("link", "add", bridge, "type", "bridge")
        self._bridge = bridge
        _ip("addr", "add", f"{self.gateway}/24", "dev", bridge)
        _ip("link", "set", bridge, "up")
        return self

    def add_host(self, name: str) -> Host:
        number = len(self.hosts) + 2
        namespace = f"swn{self.lab_id}-{name}"
        outside = f"swv{self.lab_id}{number}"
        _ip("netns", "add", namespace)
        self._namespaces.append(namespace)
        _ip("link", "add", outside, "type", "veth", "peer", "name", "eth0", "netns", namespace)
        _ip("link", "set", outside, "master", str(self._bridge), "up")
        address = f"{self.subnet}.{number}"
        _ip("-n", namespace, "addr", "add", f"{address}/24", "dev", "eth0")
        _ip("-n", namespace, "link", "set", "lo", "up")
        _ip("-n", namespace, "link", "set", "eth0", "up")
        host = Host(name=name, namespace=namespace, address=address)
        self.shaping = self._shape(host)
        self.hosts[name] = host
        return host

    def _shape(self, host: Host) -> str:
        netem = ["netem", "delay", f"{RTT_MS // 2}ms", "rate", RATE]
        tc = ["ip", "netns", "exec", host.namespace, "tc", "qdisc", "add", "dev", "eth0", "root"]
        if subprocess.run([*tc, *netem], capture_output=True, timeout=30).returncode == 0:
            return f"netem: {RTT_MS} ms round trip, {RATE}"
        tbf = ["tbf", "rate", RATE, "burst", "256kb", "latency", "50ms"]
        subprocess.run([*tc, *tbf], capture_output=True, check=True, timeout=30)
        return f"tbf: {RATE} (this kernel has no netem: no added delay)"

    def link_down(self, host: Host) -> None:
        _ip("-n", host.namespace, "link", "set", "eth0", "down")

    def link_up(self, host: Host) -> None:
        _ip("-n", host.namespace, "link", "set", "eth0", "up")

    def close(self) -> None:
        """Remove everything this lab made: each pair by its outside end (deleting a
        namespace takes the pair with it too, but the kernel finishes that a moment later,
        so an immediate check for leftovers could still see it), the namespaces, the bridge
        last."""
        for number in range(2, 2 + len(self._namespaces)):
            _ip("link", "del", f"swv{self.lab_id}{number}", check=False)
        for namespace in reversed(self._namespaces):
            _ip("netns", "del", namespace, check=False)
        self._namespaces.clear()
        if self._bridge is not None:
            _ip("link", "del", self._bridge, check=False)
            self._bridge = None

    def __enter__(self) -> Lab:
        try:
            return self.open()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()


def leftovers(lab_id: str) -> list[str]:
    """Namespaces and links of `lab_id` still present (none, once its lab is closed)."""
    found = []
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        found += [
            line.split()[0] for line in _ip("netns", "list").stdout.splitlines() if lab_id in line
        ]
        found += [line for line in _ip("-o", "link").stdout.splitlines() if lab_id in line]
    return found
