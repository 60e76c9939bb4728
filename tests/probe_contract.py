"""The probe contract of tests/test_rpc_server.py: a storage slot, an event, a `require` with
a reason and a custom error, so that web3 can exercise every kind of answer. Not a test module.

Compiled once with solc-js 0.8.37 (`evmVersion: "prague"`, optimizer on, 200 runs):

    // SPDX-License-Identifier: MIT
    pragma solidity ^0.8.20;

    contract Probe {
        event Stored(address indexed sender, uint256 indexed value, string note);

        error Custom(uint256 code);

        uint256 public value;

        constructor(uint256 initial) {
            value = initial;
        }

        function store(uint256 newValue, string calldata note) external {
            require(newValue != 13, "unlucky number");
            value = newValue;
            emit Stored(msg.sender, newValue, note);
        }

        function failCustom() external pure {
            revert Custom(7);
        }

        function chainId() external view returns (uint256) {
            return block.chainid;
        }
    }
"""

from __future__ import annotations

from typing import Any

PROBE_BYTECODE = (
    "6080604052348015600e575f5ffd5b50604051610263380380610263833981016040819052602b916031565b"
    "5f556047565b5f602082840312156040575f5ffd5b5051919050565b61020f806100545f395ff3fe60806040"
    "5234801561000f575f5ffd5b506004361061004a575f3560e01c80633fa4f2451461004e5780638791bd3314"
    "6100685780639a8a059214610072578063e1ff178a14610078575b5f5ffd5b6100565f5481565b6040519081"
    "5260200160405180910390f35b61007061008b565b005b46610056565b610070610086366004610134565b61"
    "00ac565b6040516332cd8acd60e21b8152600760048201526024015b60405180910390fd5b82600d036100ed"
    "5760405162461bcd60e51b815260206004820152600e60248201526d3ab7363ab1b5bc90373ab6b132b96091"
    "1b60448201526064016100a3565b5f839055604051839033907f1746da8bb29191d72160235494a0cf8c57a1"
    "55580d02593e1f14f9a4ddd525f59061012790869086906101ab565b60405180910390a3505050565b5f5f5f"
    "60408486031215610146575f5ffd5b83359250602084013567ffffffffffffffff811115610163575f5ffd5b"
    "8401601f81018613610173575f5ffd5b803567ffffffffffffffff811115610189575f5ffd5b866020828401"
    "01111561019a575f5ffd5b939660209190910195509293505050565b60208152816020820152818360408301"
    "375f818301604090810191909152601f909201601f1916010191905056fea26469706673582212202e242b7d"
    "9d55fe847056b2f08bca200bd156d452e00ecf83cc66c9f41b88f63e64736f6c63430008250033"
)
PROBE_ABI: list[dict[str, Any]] = [
    {
        "inputs": [{"internalType": "uint256", "name": "initial", "type": "uint256"}],
        "stateMutability": "nonpayable",
        "type": "constructor",
    },
    {
        "inputs": [{"internalType": "uint256", "name": "code", "type": "uint256"}],
        "name": "Custom",
        "type": "error",
    },
    {
        "anonymous": False,
        "inputs": [
            {"indexed": True, "internalType": "address", "name": "sender", "type": "address"},
            {"indexed": True, "internalType": "uint256", "name": "value", "type": "uint256"},
            {"indexed": False, "internalType": "string", "name": "note", "type": "string"},
        ],
        "name": "Stored",
        "type": "event",
    },
    {
        "inputs": [],
        "name": "chainId",
        "outputs": [{"internalType": "uint256", "name": "", "type": "uint256"}],
        "stateMutability": "view",
        "type": "function",
    },
    {
        "inputs": [],
        "name": "failCustom",
        "outputs": [],
        "stateMutability": "pure",
        "type": "function",
    },
    {
        "inputs": [
            {"internalType": "uint256", "name": "newValue", "type": "uint256"},
            {"internalType": "string", "name": "note", "type": "string"},
        ],
        "name": "store",
        "outputs": [],
        "stateMutability": "nonpayable",
        "type": "function",
    },
    {
        "inputs": [],
        "name": "value",
        "outputs": [{"internalType": "uint256", "name": "", "type": "uint256"}],
        "stateMutability": "view",
        "type": "function",
    },
]
