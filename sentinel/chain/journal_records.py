"""What the chain journal records about the embedded chain, and the binary codec for it.

The chain is rebuilt on start from these records (`journal` frames, checksums and appends them
to the file). A journal begins with one `GenesisRecord`, the chain it belongs to; then comes one
`BlockRecord` per mined block, holding two things:

- what is needed to re-mine the block identically (the signed transactions, the timestamp, the
  `mix_hash` that eth-tester draws at random per block, the coinbase) and the resulting block
  hash: a replay that re-executes everything can prove that it rebuilt the very same chain;
- the key-value writes the block made to the store, and its logs: applying those restores a
  block in a fraction of a millisecond instead of re-executing it for 10-20 ms, while checks of
  the stored header still pin each block to its recorded hash.

A record's payload is a kind byte, then fields as `_Encoder` writes them (integers big-endian).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

__all__ = [
    "BlockHead",
    "BlockRecord",
    "GenesisRecord",
    "RecordedLog",
    "read_block_head",
]

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
TOPIC_BYTES = 32
KIND_GENESIS = 1
KIND_BLOCK = 2


@dataclass(frozen=True)
class GenesisRecord:
    """What the journaled chain was started from; a journal only replays onto the same genesis.

    `state_format` names the software whose key-value layout the block records' store writes
    follow (py-evm and eth-tester versions): with another one, only re-execution is safe.
    """

    chain_id: int
    funded_accounts: tuple[tuple[bytes, int], ...]  # (canonical address, wei), sorted
    genesis_hash: bytes
    state_format: str

    def differences(self, configured: GenesisRecord) -> list[str]:
        """How this recorded genesis differs from `configured`, in words (empty: the same)."""
        found = []
        if self.chain_id != configured.chain_id:
            found.append(f"chain id {self.chain_id} (configured: {configured.chain_id})")
        recorded = dict(self.funded_accounts)
        wanted = dict(configured.funded_accounts)
        if recorded != wanted:
            changes = [
                f"0x{address.hex()}: {recorded.get(address, 'absent')} wei "
                f"(configured: {wanted.get(address, 'absent')})"
                for address in sorted(recorded.keys() | wanted.keys())
                if recorded.get(address) != wanted.get(address)
            ]
            more = f"; and {len(changes) - 3} more" if changes[3:] else ""
            found.append(f"funded accounts {'; '.join(changes[:3])}{more}")
        if not found and self.genesis_hash != configured.genesis_hash:
            found.append(
                f"genesis block 0x{self.genesis_hash.hex()} (configured chain: "
                f"0x{configured.genesis_hash.hex()}; the genesis defaults of {self.state_format}"
                f" differ from those of {configured.state_format})"
            )
        return found

    def encode(self) -> bytes:
        out = _Encoder(KIND_GENESIS)
        out.uint(self.chain_id)
        out.blobs([address for address, _ in self.funded_accounts])
        out.blobs([_int_bytes(balance) for _, balance in self.funded_accounts])
        out.blob(self.genesis_hash)
        out.blob(self.state_format.encode())
        return out.finish()

    @classmethod
    def decode(cls, payload: bytes) -> GenesisRecord:
        data = _Decoder(payload, KIND_GENESIS)
        chain_id = data.uint()
        addresses = data.blobs()
        balances = data.blobs()
        genesis_hash = data.blob()
        state_format = data.blob().decode()
        data.finish()
        if len(addresses) != len(balances):
            raise ValueError("funded accounts and balances differ in number")
        accounts = tuple(zip(addresses, (int.from_bytes(b, "big") for b in balances), strict=True))
        return cls(chain_id, accounts, genesis_hash, state_format)


class RecordedLog(NamedTuple):
    """One log a block emitted, as the chain's log index needs it."""

    tx_index: int
    address: bytes
    topics: tuple[bytes, ...]  # 32 bytes each
    data: bytes


@dataclass(frozen=True)
class BlockRecord:
    """One mined block: how to re-mine it, what it wrote to the store, and its hash.

    `transactions` are the signed transactions as encoded in the block; `reverts` the revert
    data of the reverted ones by position (not part of any hash, but clients read it from the
    receipt). `db_writes` and `db_deletes` are every change the block made to the key-value
    store, since the previous block record. `logs` duplicate what the receipts in those writes
    hold: decoding receipts with py-evm would cost a millisecond per block on every restart.
    """

    number: int
    block_hash: bytes
    timestamp: int
    mix_hash: bytes
    coinbase: bytes
    transactions: tuple[bytes, ...]
    reverts: tuple[tuple[int, bytes], ...]
    db_writes: tuple[tuple[bytes, bytes], ...]
    db_deletes: tuple[bytes, ...]
    logs: tuple[RecordedLog, ...]

    def encode(self) -> bytes:
        out = _Encoder(KIND_BLOCK)
        out.uint(self.number)
        out.blob(self.block_hash)
        out.uint(self.timestamp)
        out.blob(self.mix_hash)
        out.blob(self.coinbase)
        out.blobs(self.transactions)
        out.blobs([_U32.pack(index) for index, _ in self.reverts])
        out.blobs([data for _, data in self.reverts])
        out.blobs([key for key, _ in self.db_writes])
        out.blobs([value for _, value in self.db_writes])
        out.blobs(self.db_deletes)
        out.blobs([_U32.pack(entry.tx_index) for entry in self.logs])
        out.blobs([entry.address for entry in self.logs])
        out.blobs([b"".join(entry.topics) for entry in self.logs])
        out.blobs([entry.data for entry in self.logs])
        return out.finish()

    @classmethod
    def decode(cls, payload: bytes) -> BlockRecord:
        data = _Decoder(payload, KIND_BLOCK)
        number = data.uint()
        block_hash = data.blob()
        timestamp = data.uint()
        mix_hash = data.blob()
        coinbase = data.blob()
        transactions = data.blobs()
        revert_indexes = data.blobs()
        revert_data = data.blobs()
        keys = data.blobs()
        values = data.blobs()
        deletes = data.blobs()
        log_tx_indexes = data.blobs()
        log_addresses = data.blobs()
        log_topics = data.blobs()
        log_data = data.blobs()
        data.finish()
        if (
            len(revert_indexes) != len(revert_data)
            or len(keys) != len(values)
            or not len(log_tx_indexes) == len(log_addresses) == len(log_topics) == len(log_data)
            or any(len(topics) % TOPIC_BYTES for topics in log_topics)
        ):
            raise ValueError("paired lists differ in length")
        reverts = tuple(
            (_U32.unpack(index)[0], output)
            for index, output in zip(revert_indexes, revert_data, strict=True)
        )
        logs = tuple(
            RecordedLog(
                _U32.unpack(index)[0],
                address,
                tuple(topics[i : i + TOPIC_BYTES] for i in range(0, len(topics), TOPIC_BYTES)),
                payload,
            )
            for index, address, topics, payload in zip(
                log_tx_indexes, log_addresses, log_topics, log_data, strict=True
            )
        )
        return cls(
            number,
            block_hash,
            timestamp,
            mix_hash,
            coinbase,
            transactions,
            reverts,
            tuple(zip(keys, values, strict=True)),
            deletes,
            logs,
        )


class BlockHead(NamedTuple):
    """The leading fields of a block record: which block it is, and its transactions."""

    number: int
    block_hash: bytes
    transactions: tuple[bytes, ...]


def read_block_head(payload: bytes) -> BlockHead:
    """The leading fields of a block record's payload, whatever follows them.

    For a record that fails its checksum: damage in its later fields (store writes, logs)
    still leaves the block and its transactions readable, so that a lost block can be named.
    Raises ValueError when even those do not decode.
    """
    data = _Decoder(payload, KIND_BLOCK)
    number = data.uint()
    block_hash = data.blob()
    data.uint()  # timestamp
    data.blob()  # mix_hash
    data.blob()  # coinbase
    return BlockHead(number, block_hash, data.blobs())


class _Encoder:
    """Payload fields: u64 integers, and byte strings (u32 length + bytes) or lists of them.

    Not RLP: pyrlp takes about 0.7 ms to encode a block record, a tenth of a transaction's time.
    """

    def __init__(self, kind: int) -> None:
        self._parts: list[bytes] = [bytes([kind])]

    def uint(self, value: int) -> None:
        self._parts.append(_U64.pack(value))

    def blob(self, value: bytes) -> None:
        self._parts.append(_U32.pack(len(value)))
        self._parts.append(value)

    def blobs(self, values: Sequence[bytes]) -> None:
        self._parts.append(_U32.pack(len(values)))
        for value in values:
            self.blob(value)

    def finish(self) -> bytes:
        return b"".join(self._parts)


class _Decoder:
    """Reads what `_Encoder` wrote; raises ValueError on anything malformed."""

    def __init__(self, payload: bytes, kind: int) -> None:
        if not payload or payload[0] != kind:
            raise ValueError(f"expected a record of kind {kind}")
        self._data = payload
        self._pos = 1

    def _take(self, size: int) -> bytes:
        end = self._pos + size
        if end > len(self._data):
            raise ValueError("record payload ends early")
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def uint(self) -> int:
        return _U64.unpack(self._take(_U64.size))[0]

    def blob(self) -> bytes:
        return self._take(_U32.unpack(self._take(_U32.size))[0])

    def blobs(self) -> tuple[bytes, ...]:
        count = _U32.unpack(self._take(_U32.size))[0]
        if count > len(self._data):
            raise ValueError("list longer than the record")
        return tuple(self.blob() for _ in range(count))

    def finish(self) -> None:
        if self._pos != len(self._data):
            raise ValueError("trailing bytes after the record's fields")


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")
