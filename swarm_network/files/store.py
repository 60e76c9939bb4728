"""Content-addressed store of weight files: a file's name is the sha256 hex of its bytes.

Naming by hash makes a file's identity the same thing the chain commits to, so "do I have the
file for this commitment?" is a path lookup, and a file can be fetched from any peer that has
it. Writes go to a hidden temp file in the same directory and are then renamed with
`os.replace` (atomic on one filesystem), so a reader or a concurrent server never sees a
half-written or unverified file under a valid name. Names are checked to be exactly 64
lowercase hex characters before any path is built, so no id can escape the root directory.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

from swarm_network.errors import HashMismatch, InvalidWeights

logger = logging.getLogger(__name__)

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_TEMP_PREFIX = ".incoming-"


def is_sha256_hex(value: object) -> bool:
    """True if `value` is a str of exactly 64 lowercase hex characters."""
    return isinstance(value, str) and _SHA256_HEX.fullmatch(value) is not None


def check_sha256_hex(value: object) -> str:
    """Return `value` if it is a valid file id, else raise ValueError saying why."""
    if not isinstance(value, str) or _SHA256_HEX.fullmatch(value) is None:
        raise ValueError(f"not a sha256 file id (64 lowercase hex characters): {value!r}")
    return value


class FileStore:
    """A directory of immutable files named by their sha256 hex; safe to share between
    threads and with a file server reading the same directory."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root)
        self._root.mkdir(parents=True, exist_ok=True)

    @property
    def root(self) -> Path:
        return self._root

    def path(self, sha: str) -> Path:
        """Where the file `sha` lives (whether or not it exists yet)."""
        return self._root / check_sha256_hex(sha)

    def has(self, sha: str) -> bool:
        return self.path(sha).is_file()

    def read_bytes(self, sha: str) -> bytes:
        """The bytes of file `sha`; FileNotFoundError if the store does not have it."""
        return self.path(sha).read_bytes()

    def put_bytes(self, data: bytes) -> str:
        """Store `data` (atomically) and return its sha256 hex."""
        sha = hashlib.sha256(data).hexdigest()
        if self.has(sha):
            return sha
        # The bytes were just hashed here: hashing them again while writing (40 MB: 20 ms)
        # would check nothing.
        self._write_atomically(sha, [data], max_bytes=None, hashed=True)
        return sha

    def put_verified_stream(
        self,
        chunks: Iterable[bytes],
        expected_sha: str,
        *,
        max_bytes: int | None = None,
    ) -> Path:
        """Write `chunks` to the store under `expected_sha`, only if they hash to it.

        The bytes are hashed while written to a temp file. On a mismatch the temp file is
        deleted and HashMismatch is raised; more than `max_bytes` raises InvalidWeights; any
        exception from `chunks` (e.g. a dropped connection) also deletes the temp file and
        propagates. If the store already has `expected_sha`, returns at once without
        consuming `chunks`.
        """
        path = self.path(expected_sha)
        if path.is_file():
            return path
        self._write_atomically(expected_sha, chunks, max_bytes=max_bytes)
        return path

    def incoming(self, expected_sha: str, *, max_bytes: int | None = None) -> IncomingFile:
        """A file being received piece by piece (`write`), that appears under `expected_sha`
        only if its bytes hash to it (`commit`); `abort` drops it. For callers that receive
        asynchronously and cannot hand over an iterator."""
        return IncomingFile(self, expected_sha, max_bytes=max_bytes)

    def _write_atomically(
        self,
        sha: str,
        chunks: Iterable[bytes],
        *,
        max_bytes: int | None,
        hashed: bool = False,
    ) -> None:
        incoming = IncomingFile(self, sha, max_bytes=max_bytes, hashed=hashed)
        try:
            for chunk in chunks:
                incoming.write(chunk)
            incoming.commit()
        except BaseException:
            incoming.abort()
            raise


class IncomingFile:
    """A hidden temp file in the store, hashed as it is written; renamed to its sha256 name
    (atomically, after fsync) by `commit` once the hash matches. Not thread-safe: one writer."""

    def __init__(
        self, store: FileStore, expected_sha: str, *, max_bytes: int | None, hashed: bool = False
    ) -> None:
        """`hashed`: the caller has hashed these very bytes to `expected_sha` itself (its own
        file, not one received), so they are written without being hashed again."""
        self._final = store.path(expected_sha)
        self._expected_sha = expected_sha
        self._max_bytes = max_bytes
        fd, temp_name = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=store.root)
        self._temp = Path(temp_name)
        self._handle = os.fdopen(fd, "wb")
        self._digest = None if hashed else hashlib.sha256()
        self.size = 0

    def write(self, *chunks: bytes) -> None:
        """Append `chunks`; InvalidWeights once more than `max_bytes` were given in all."""
        for chunk in chunks:
            self.size += len(chunk)
            if self._max_bytes is not None and self.size > self._max_bytes:
                raise InvalidWeights(
                    f"file {self._expected_sha} is larger than the limit of {self._max_bytes} bytes"
                )
            if self._digest is not None:
                self._digest.update(chunk)
            self._handle.write(chunk)

    def commit(self) -> Path:
        """Check the hash and put the file under its name; HashMismatch (and the temp file
        deleted) if the bytes are not the expected ones."""
        try:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            actual = self._expected_sha if self._digest is None else self._digest.hexdigest()
            if actual != self._expected_sha:
                raise HashMismatch(
                    f"content hashes to {actual}, expected {self._expected_sha} ({self.size} bytes)"
                )
            os.chmod(self._temp, 0o644)  # mkstemp makes it 0600; the content is public
            os.replace(self._temp, self._final)
        except BaseException:
            self.abort()
            raise
        logger.debug("stored %s (%d bytes)", self._expected_sha, self.size)
        return self._final

    def abort(self) -> None:
        """Drop what was received; safe to call more than once, also after `commit`."""
        self._handle.close()
        self._temp.unlink(missing_ok=True)
