"""Append-only, checksummed journal of the embedded chain's blocks: the chain's only durable copy.

The embedded chain lives in py-evm's in-memory key-value store. Rather than swap that store for
an on-disk database (py-evm reads it hundreds of times per transaction), every mined block is
appended here and flushed to disk before the client hears about its transaction; on start the
chain is rebuilt from these records. What a record holds, and how it is encoded, is in
`journal_records`; this module keeps the file: framing, checksums, locking and crash recovery.

File layout (integers big-endian):

    file magic      8 bytes   b"SWCHJNL" + format version (1)
    record*         4 bytes   record marker b"\\xf0SJR"
                    4 bytes   payload length
                    4 bytes   CRC32 of the length field and the payload
                    n bytes   payload: a kind byte, then fields (see `journal_records`)

The first record describes the genesis (chain id, funded accounts, genesis block hash, and the
software that wrote the key-value writes); every later record is one block, in block order.

Crash safety: records are only ever appended, one write and one fdatasync each, so a crash can
leave at most the last record incomplete. On open, a bad last record (nothing valid after it)
is cut off, with a copy of the bytes beside the journal. Short of its length (or zeros), it is
a torn write whose block was never acknowledged, because answers wait for the flush: a warning.
Whole but failing its checksum, it may be an acknowledged block damaged on disk: a critical
message names the block and its transactions, so that an operator knows what was lost. A bad
record followed by valid ones is damage, not a crash: the journal is refused, since replaying
around it would fork.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from eth_utils import keccak

from sentinel.chain.journal_records import BlockRecord, GenesisRecord, read_block_head
from swarm_network.errors import SwarmError

try:  # advisory lock against two processes appending to one journal (POSIX only)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "ChainJournal",
    "ChainJournalError",
]

log = logging.getLogger(__name__)

FILE_MAGIC = b"SWCHJNL\x01"
RECORD_MAGIC = b"\xf0SJR"
_FRAME_HEADER = struct.Struct(">4sII")  # marker, payload length, CRC32
_U32 = struct.Struct(">I")  # a frame's length and checksum fields
# A record holds one block's transactions and store writes; anything near this is not a record.
MAX_RECORD_BYTES = 256 * 1024 * 1024
# Where the bytes of a cut-off torn record are kept, for whoever investigates the crash.
TORN_SUFFIX = ".torn"

_sync = getattr(os, "fdatasync", os.fsync)  # appends: fdatasync also flushes the new file size


class ChainJournalError(SwarmError):
    """The chain journal cannot be used: damaged, from another chain, in use, or unwritable.

    Raised rather than starting a chain that could differ from the one clients saw.
    """


def _frame(payload: bytes) -> bytes:
    length = _U32.pack(len(payload))
    return RECORD_MAGIC + length + _U32.pack(zlib.crc32(payload, zlib.crc32(length))) + payload


# ---------------------------------------------------------------------------------------------
# The journal file
# ---------------------------------------------------------------------------------------------


class ChainJournal:
    """An open journal: checked (and a torn tail cut off) by `open`, then appended to.

    Not thread-safe: the chain calls it under its own lock. Holds an exclusive advisory lock
    on the file while open, so a second sentinel on the same data dir fails fast instead of
    interleaving records; the kernel drops the lock when the process dies, even by SIGKILL.
    """

    def __init__(self, path: Path, fd: int, genesis: GenesisRecord, start: int, end: int) -> None:
        self.path = path
        self.genesis = genesis  # as recorded: its state_format may differ from the running one
        self._fd: int | None = fd
        self._block_records_start = start
        self._end = end

    @classmethod
    def open(cls, path: Path, genesis: GenesisRecord) -> ChainJournal:
        """Open the journal at `path` for the chain started from `genesis`, creating it if absent.

        Raises ChainJournalError if the file is not a journal, belongs to another genesis, is
        in use, or is damaged anywhere but in its last record.
        """
        path = Path(path)
        if not path.exists():
            _create(path, genesis)
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError as exc:
            raise ChainJournalError(f"cannot open chain journal {path}: {exc}") from exc
        try:
            _lock(fd, path)
            scan = _scan(path, fd)
            differences = scan.genesis.differences(genesis)
            if differences:  # checked before any change to the file: it is someone else's
                raise ChainJournalError(
                    f"chain journal {path} belongs to another chain: it records "
                    f"{'; '.join(differences)}. Start with the settings (and node key) that "
                    "created it, or with a new data directory."
                )
            if scan.torn_tail:
                _cut_torn_tail(path, fd, scan)
            return cls(path, fd, scan.genesis, scan.start, scan.good_end)
        except BaseException:
            os.close(fd)
            raise

    def records(self) -> Iterator[BlockRecord]:
        """The block records, in file order (checked at open; checksums are verified again)."""
        with open(self.path, "rb") as handle:
            handle.seek(self._block_records_start)
            position = self._block_records_start
            while position < self._end:
                payload = _read_frame(handle, self._end - position)
                if payload is None:
                    raise ChainJournalError(
                        f"chain journal {self.path} changed while being read (byte {position})"
                    )
                try:
                    record = BlockRecord.decode(payload)
                except ValueError as exc:
                    raise ChainJournalError(
                        f"chain journal {self.path}: the record at byte {position} has a valid "
                        f"checksum but cannot be decoded ({exc}); written by another version?"
                    ) from None
                position += _FRAME_HEADER.size + len(payload)
                yield record

    def append(self, record: BlockRecord) -> None:
        """Write one block record and flush it to disk; only then may its block be reported.

        On failure the partial record is cut off (best effort) and ChainJournalError raised:
        the caller must stop acknowledging blocks, as nothing says the disk has recovered.
        """
        if self._fd is None:
            raise ChainJournalError(f"chain journal {self.path} is closed")
        frame = _frame(record.encode())
        try:
            _write_all(self._fd, frame, self._end)
            _sync(self._fd)
        except OSError as exc:
            try:
                os.ftruncate(self._fd, self._end)
            except OSError:
                log.exception("could not cut the partial record off chain journal %s", self.path)
            raise ChainJournalError(
                f"cannot write block {record.number} to chain journal {self.path}: {exc}"
            ) from exc
        self._end += len(frame)

    def close(self) -> None:
        """Release the file (and its lock). Records already appended are on disk."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _create(path: Path, genesis: GenesisRecord) -> None:
    """Write a journal holding only the genesis record, atomically: a crash leaves none or all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".new")
    try:
        with open(temporary, "wb") as handle:
            handle.write(FILE_MAGIC + _frame(genesis.encode()))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        _sync_directory(path.parent)
    except OSError as exc:
        raise ChainJournalError(f"cannot create chain journal {path}: {exc}") from exc
    log.info("created chain journal %s", path)


def _lock(fd: int, path: Path) -> None:
    if fcntl is None:  # pragma: no cover - Windows
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise ChainJournalError(
            f"chain journal {path} is in use by another process (is a sentinel already running "
            "on this data directory?)"
        ) from None


@dataclass(frozen=True)
class _Scan:
    """What a check of every frame found: block records in [start, good_end), then a torn tail."""

    genesis: GenesisRecord
    start: int
    good_end: int
    good_records: int
    torn_tail: bytes


def _scan(path: Path, fd: int) -> _Scan:
    """Check every record's frame; raise if a bad one is followed by a valid one."""
    size = os.fstat(fd).st_size
    with os.fdopen(os.dup(fd), "rb") as handle:
        if handle.read(len(FILE_MAGIC)) != FILE_MAGIC:
            raise ChainJournalError(f"{path} is not a chain journal (or a newer format)")
        payload = _read_frame(handle, size - len(FILE_MAGIC))
        try:
            genesis = GenesisRecord.decode(payload) if payload is not None else None
        except ValueError:
            genesis = None
        if genesis is None:
            raise ChainJournalError(f"chain journal {path}: its genesis record is damaged")
        start = good_end = handle.tell()
        count = 0
        while good_end < size:
            payload = _read_frame(handle, size - good_end)
            if payload is None:
                break
            good_end += _FRAME_HEADER.size + len(payload)
            count += 1
        if good_end == size:
            return _Scan(genesis, start, good_end, count, b"")
        handle.seek(good_end)
        tail = handle.read()
    later = _next_valid_frame(tail)
    if later is not None:
        raise ChainJournalError(
            f"chain journal {path} is damaged at byte {good_end}, after {count} good block "
            f"records, and valid records follow at byte {good_end + later}: this is not a torn "
            "last write but corruption. Refusing to start, since skipping blocks would fork the "
            "chain; restore the journal from a backup."
        )
    return _Scan(genesis, start, good_end, count, tail)


def _read_frame(handle: BinaryIO, available: int) -> bytes | None:
    """The payload of the valid frame at the handle's position, or None (torn, damaged)."""
    if available < _FRAME_HEADER.size:
        return None
    header = handle.read(_FRAME_HEADER.size)
    if len(header) < _FRAME_HEADER.size:
        return None
    marker, length, checksum = _FRAME_HEADER.unpack(header)
    if marker != RECORD_MAGIC or length > min(MAX_RECORD_BYTES, available - len(header)):
        return None
    payload = handle.read(length)
    if len(payload) != length or zlib.crc32(payload, zlib.crc32(header[4:8])) != checksum:
        return None
    return payload


def _next_valid_frame(data: bytes) -> int | None:
    """The offset of the first complete, checksum-valid frame in `data` after offset 0."""
    position = data.find(RECORD_MAGIC, 1)
    while position != -1:
        header = data[position : position + _FRAME_HEADER.size]
        if len(header) == _FRAME_HEADER.size:
            _marker, length, checksum = _FRAME_HEADER.unpack(header)
            start = position + _FRAME_HEADER.size
            if start + length <= len(data):
                payload = data[start : start + length]
                if zlib.crc32(payload, zlib.crc32(header[4:8])) == checksum:
                    return position
        position = data.find(RECORD_MAGIC, position + 1)
    return None


def _cut_torn_tail(path: Path, fd: int, scan: _Scan) -> None:
    """Keep a copy of the torn bytes beside the journal, then truncate the journal before them."""
    good_end = scan.good_end
    copy = path.with_name(f"{path.name}{TORN_SUFFIX}-{good_end}")
    try:
        with open(copy, "wb") as handle:
            handle.write(scan.torn_tail)
            handle.flush()
            os.fsync(handle.fileno())
        os.ftruncate(fd, good_end)
        os.fsync(fd)
        _sync_directory(path.parent)
    except OSError as exc:
        raise ChainJournalError(
            f"cannot cut the torn tail off chain journal {path}: {exc}"
        ) from exc
    lost = _complete_record(scan.torn_tail)
    if lost is None:
        log.warning(
            "chain journal %s: its last record (%d bytes at byte %d) is incomplete, as left by "
            "a crash during a write; it was cut off (copy kept in %s). The chain resumes at "
            "block %d: the cut-off bytes held no block acknowledged to any client.",
            path,
            len(scan.torn_tail),
            good_end,
            copy,
            scan.good_records,
        )
        return
    log.critical(
        "chain journal %s: its last record (%d bytes at byte %d) is complete but fails its "
        "checksum: damaged on disk after it was written, or torn by a crash whose bytes "
        "reached the disk out of order. If it was acknowledged, this block is LOST: %s. It "
        "was cut off (copy kept in %s) and the chain resumes at block %d; clients holding "
        "receipts of those transactions must send them again.",
        path,
        len(scan.torn_tail),
        good_end,
        _describe_block(lost),
        copy,
        scan.good_records,
    )


def _complete_record(tail: bytes) -> bytes | None:
    """The payload of `tail` if it is exactly one whole frame (its checksum failed), else None.

    A crash mid-append leaves a frame short of its length, or a file grown with zeros; a
    whole frame with the right marker and length is what was written, then damaged.
    """
    if len(tail) < _FRAME_HEADER.size:
        return None
    marker, length, _checksum = _FRAME_HEADER.unpack_from(tail)
    if marker != RECORD_MAGIC or _FRAME_HEADER.size + length != len(tail):
        return None
    return tail[_FRAME_HEADER.size :]


def _describe_block(payload: bytes) -> str:
    """The block and transactions a damaged record's payload names, as far as it decodes."""
    try:
        head = read_block_head(payload)
    except ValueError:
        return "its bytes no longer decode, so which block and transactions it held is unknown"
    hashes = ", ".join("0x" + keccak(raw).hex() for raw in head.transactions) or "none"
    return (
        f"block {head.number} (hash 0x{head.block_hash.hex()}), transactions (as the "
        f"damaged bytes read) {hashes}"
    )


def _write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def _sync_directory(directory: Path) -> None:
    """Flush a directory entry (a created or renamed file), where the platform allows it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on directories
        pass
    finally:
        os.close(fd)
