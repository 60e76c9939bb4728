"""The contract's events, read with standard `eth_getLogs` and decoded in one place, so that
a node can follow the chain instead of re-reading its whole state (the live view)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils import event_abi_to_log_topic
from hexbytes import HexBytes

from swarm_network.chain import SwarmContract
from swarm_network.chain.records import hash_to_hex
from swarm_network.chain.transport import chain_call as _chain_call


@dataclass(frozen=True)
class ContractEvent:
    """One decoded event: its name, its arguments (hashes as hex, addresses checksummed),
    and where it sits in the chain."""

    name: str
    args: dict[str, Any]
    block_number: int
    log_index: int


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | HexBytes):
        return hash_to_hex(value)
    return value


class EventReader:
    """Reads and decodes the events of one contract. Blocking (web3): call it in a thread."""

    def __init__(self, contract: SwarmContract) -> None:
        self._contract = contract
        self._by_topic = {
            HexBytes(event_abi_to_log_topic(entry)): entry["name"]
            for entry in contract.contract.abi
            if entry.get("type") == "event"
        }

    def head(self) -> int:
        return self._contract.block_number()

    def events(self, from_block: int, to_block: int) -> list[ContractEvent]:
        w3 = self._contract.w3
        raw_logs = _chain_call(
            "eth_getLogs",
            lambda: w3.eth.get_logs(
                {
                    "fromBlock": from_block,
                    "toBlock": to_block,
                    "address": self._contract.address,
                }
            ),
        )
        out = []
        for raw in raw_logs:
            name = self._by_topic.get(HexBytes(raw["topics"][0])) if raw["topics"] else None
            if name is None:
                continue
            decoded = getattr(self._contract.contract.events, name)().process_log(raw)
            out.append(
                ContractEvent(
                    name=name,
                    args={k: _plain(v) for k, v in decoded["args"].items()},
                    block_number=int(raw["blockNumber"]),
                    log_index=int(raw["logIndex"]),
                )
            )
        out.sort(key=lambda e: (e.block_number, e.log_index))
        return out

    def block_time(self, number: int) -> int:
        w3 = self._contract.w3
        block = _chain_call("eth_getBlockByNumber", lambda: w3.eth.get_block(number))
        return int(block["timestamp"])
