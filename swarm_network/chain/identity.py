"""A node's identity is its Ethereum key: it signs the node's own transactions and join request.

The key lives in the node's data dir (mode 0600) so a restarted node keeps its identity.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from swarm_network.errors import ConfigError

log = logging.getLogger(__name__)


def load_or_create_key(path: Path) -> LocalAccount:
    if path.exists():
        text = path.read_text(encoding="ascii").strip()
        try:
            return Account.from_key(text)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"key file {path} does not hold a valid private key") from exc
    account = Account.create()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(account.key.hex())
    os.replace(tmp, path)
    log.info("created node key %s for %s", path, account.address)
    return account
