"""Seconds per unit of gas of py-evm's slow precompiles, on this machine.

Why: py-evm computes the elliptic-curve and BLAKE2 precompiles in pure Python, 2 to 20 us per
unit of gas, so one precompile run that a 5M-gas call can pay for takes up to 100 s and cannot
be interrupted. `sentinel.chain.call_bounds` therefore refuses a precompile run whose
announced gas, at its rate here, would overrun the call's deadline. This script measures the
rates that table holds (rounded up); rerun it on another machine to check them.

Each precompile runs on valid inputs (generator points, so that no shortcut for the point at
infinity applies) through a stand-in for py-evm's computation that records the gas it is
charged; the rate is the run's time over that gas, the worst of `--repeat` runs.

Usage: python benchmarks/precompile_speed.py [--repeat N]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth.vm.forks.prague.computation import PragueComputation
from py_ecc import optimized_bls12_381 as bls
from py_ecc import optimized_bn128 as bn


@dataclass
class _Message:
    data: bytes

    @property
    def data_as_bytes(self) -> bytes:
        return self.data


@dataclass
class _Computation:
    """What a precompile uses of py-evm's computation: its input, a gas meter, its output."""

    msg: _Message
    gas: int = 0
    output: bytes = field(default=b"")

    def consume_gas(self, amount: int, reason: str) -> None:
        self.gas += amount


def _word(value: int, size: int = 32) -> bytes:
    return int(value).to_bytes(size, "big")


def _bn_g1(point: Any) -> bytes:
    x, y = bn.normalize(point)
    return _word(x.n) + _word(y.n)


def _bn_g2(point: Any) -> bytes:
    x, y = bn.normalize(point)
    return _word(x.coeffs[1]) + _word(x.coeffs[0]) + _word(y.coeffs[1]) + _word(y.coeffs[0])


def _bls_fp(value: int) -> bytes:
    return _word(value, 64)


def _bls_g1(point: Any) -> bytes:
    x, y = bls.normalize(point)
    return _bls_fp(x.n) + _bls_fp(y.n)


def _bls_g2(point: Any) -> bytes:
    x, y = bls.normalize(point)
    return b"".join(_bls_fp(int(c)) for c in (*x.coeffs, *y.coeffs))


SCALAR = 2**255 - 19


def _precompile(address: int) -> Callable[[Any], Any]:
    """The precompile as the chain's fork (Prague) runs it, with that fork's gas prices."""
    return PragueComputation.get_precompiles()[address.to_bytes(20, "big")]


def _inputs() -> dict[str, tuple[Callable[[Any], Any], bytes]]:
    bn_pair = _bn_g1(bn.G1) + _bn_g2(bn.G2)
    bls_pair = _bls_g1(bls.G1) + _bls_g2(bls.G2)
    blake_rounds = 20_000
    return {
        "0x06 ecadd": (_precompile(0x06), _bn_g1(bn.G1) + _bn_g1(bn.double(bn.G1))),
        "0x07 ecmul": (_precompile(0x07), _bn_g1(bn.G1) + _word(SCALAR)),
        "0x08 ecpairing (1 pair)": (_precompile(0x08), bn_pair),
        "0x08 ecpairing (4 pairs)": (_precompile(0x08), bn_pair * 4),
        "0x09 blake2f": (
            _precompile(0x09),
            _word(blake_rounds, 4) + b"\x01" * 64 + b"\x02" * 128 + b"\x00" * 16 + b"\x01",
        ),
        "0x0b bls12 g1 add": (_precompile(0x0B), _bls_g1(bls.G1) * 2),
        "0x0c bls12 g1 msm (1)": (_precompile(0x0C), _bls_g1(bls.G1) + _word(SCALAR)),
        "0x0c bls12 g1 msm (16)": (
            _precompile(0x0C),
            (_bls_g1(bls.G1) + _word(SCALAR)) * 16,
        ),
        "0x0d bls12 g2 add": (_precompile(0x0D), _bls_g2(bls.G2) * 2),
        "0x0e bls12 g2 msm (1)": (_precompile(0x0E), _bls_g2(bls.G2) + _word(SCALAR)),
        "0x0e bls12 g2 msm (16)": (
            _precompile(0x0E),
            (_bls_g2(bls.G2) + _word(SCALAR)) * 16,
        ),
        "0x0f bls12 pairing (1 pair)": (_precompile(0x0F), bls_pair),
        "0x0f bls12 pairing (4 pairs)": (_precompile(0x0F), bls_pair * 4),
        "0x10 bls12 map fp to g1": (_precompile(0x10), _bls_fp(SCALAR)),
        "0x11 bls12 map fp2 to g2": (
            _precompile(0x11),
            _bls_fp(SCALAR) + _bls_fp(SCALAR + 1),
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    print(f"{'precompile':30} {'gas':>9} {'seconds':>9} {'us/gas':>8}")
    for name, (precompile, data) in _inputs().items():
        worst = 0.0
        gas = 0
        for _ in range(args.repeat):
            computation = _Computation(msg=_Message(data))
            started = time.perf_counter()
            precompile(computation)
            elapsed = time.perf_counter() - started
            gas = computation.gas
            worst = max(worst, elapsed)
        print(f"{name:30} {gas:9d} {worst:9.3f} {worst / gas * 1e6:8.2f}")


if __name__ == "__main__":
    main()
