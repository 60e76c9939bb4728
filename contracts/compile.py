"""Compile the Solidity sources into `artifacts/*.json` with py-solc-x driving npm solc-js.

Run `python -m contracts.compile` after editing a `.sol` file (needs `npm ci` in `contracts/`);
`--check` compares instead of writing, which the test suite uses to prove the committed
artifacts come from the committed sources.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from contracts import ARTIFACTS_DIR, CONTRACT_NAMES, CONTRACTS_DIR

log = logging.getLogger(__name__)

SOLC_SHIM = CONTRACTS_DIR / "solc-shim.js"
# The newest fork every backend we support runs (py-evm 0.12 stops at prague; solc 0.8.37 would
# default to osaka). Cancun is also what most consortium geth/Besu networks run.
EVM_VERSION = "cancun"
OPTIMIZER_RUNS = 200


def standard_input(names: tuple[str, ...] = CONTRACT_NAMES) -> dict[str, Any]:
    sources = {
        f"{name}.sol": {"content": (CONTRACTS_DIR / f"{name}.sol").read_text(encoding="utf-8")}
        for name in names
    }
    return {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "evmVersion": EVM_VERSION,
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "viaIR": True,
            "metadata": {"bytecodeHash": "none"},
            "outputSelection": {
                "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}
            },
        },
    }


def compile_artifacts(names: tuple[str, ...] = CONTRACT_NAMES) -> dict[str, str]:
    """Artifact file name -> exact JSON text that the sources compile to."""
    import solcx  # imported here: running a swarm must not need the compiler

    if not SOLC_SHIM.exists() or not (CONTRACTS_DIR / "node_modules" / "solc").is_dir():
        raise RuntimeError("solc-js is not installed: run `npm ci` in contracts/")
    output = solcx.compile_standard(standard_input(names), solc_binary=SOLC_SHIM)
    compiler = str(solcx.wrapper.get_solc_version(SOLC_SHIM, with_commit_hash=True))
    texts: dict[str, str] = {}
    for name in names:
        contract = output["contracts"][f"{name}.sol"][name]
        artifact = {
            "contractName": name,
            "compiler": compiler,
            "evmVersion": EVM_VERSION,
            "abi": contract["abi"],
            "bytecode": "0x" + contract["evm"]["bytecode"]["object"],
            "deployedBytecode": "0x" + contract["evm"]["deployedBytecode"]["object"],
        }
        texts[f"{name}.json"] = json.dumps(artifact, indent=2, sort_keys=True) + "\n"
    return texts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    texts = compile_artifacts()
    stale = []
    for file_name, text in texts.items():
        path: Path = ARTIFACTS_DIR / file_name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(file_name)
        else:
            ARTIFACTS_DIR.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
            log.info("wrote %s", path)
    if stale:
        log.error("artifacts differ from the sources: %s", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
