"""The network layer: chain bindings, REST, files and the live view (docs/ARCHITECTURE.md)."""

from swarm_network.keccak import prefer_c_keccak

prefer_c_keccak()
