"""Content-addressed store: atomic writes, verified streams, and no path tricks."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from swarm_network.errors import HashMismatch, InvalidWeights
from swarm_network.files.store import FileStore, is_sha256_hex


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "store")


def visible_files(store: FileStore) -> list[str]:
    return sorted(path.name for path in store.root.iterdir())


def test_put_bytes_is_content_addressed(store: FileStore) -> None:
    data = b"weights v1"
    digest = store.put_bytes(data)
    assert digest == sha(data)
    assert store.has(digest)
    assert store.read_bytes(digest) == data
    assert store.path(digest) == store.root / digest
    assert visible_files(store) == [digest]  # no temp file left behind


def test_put_bytes_twice_is_idempotent(store: FileStore) -> None:
    assert store.put_bytes(b"same") == store.put_bytes(b"same")
    assert len(visible_files(store)) == 1


def test_missing_file(store: FileStore) -> None:
    absent = sha(b"never stored")
    assert not store.has(absent)
    with pytest.raises(FileNotFoundError):
        store.read_bytes(absent)


def test_verified_stream_stores_matching_content(store: FileStore) -> None:
    chunks = [b"abc", b"", b"def"]
    path = store.put_verified_stream(iter(chunks), sha(b"abcdef"))
    assert path.read_bytes() == b"abcdef"
    assert visible_files(store) == [sha(b"abcdef")]


def test_verified_stream_refuses_mismatch_and_leaves_nothing(store: FileStore) -> None:
    expected = sha(b"the real file")
    with pytest.raises(HashMismatch, match=expected):
        store.put_verified_stream([b"a tampered file"], expected)
    assert not store.has(expected)
    assert visible_files(store) == []


def test_verified_stream_interrupted_leaves_nothing(store: FileStore) -> None:
    def broken() -> Iterator[bytes]:
        yield b"first half"
        raise ConnectionError("peer went away")

    with pytest.raises(ConnectionError):
        store.put_verified_stream(broken(), sha(b"first half, second half"))
    assert visible_files(store) == []


def test_verified_stream_enforces_size_limit(store: FileStore) -> None:
    data = b"x" * 100
    with pytest.raises(InvalidWeights, match="limit"):
        store.put_verified_stream([data[:60], data[60:]], sha(data), max_bytes=99)
    assert visible_files(store) == []
    assert store.put_verified_stream([data], sha(data), max_bytes=100).exists()


def test_verified_stream_returns_at_once_if_present(store: FileStore) -> None:
    digest = store.put_bytes(b"have it")

    def must_not_be_read() -> Iterator[bytes]:
        raise AssertionError("stream consumed although the file was present")
        yield b""  # pragma: no cover

    assert store.put_verified_stream(must_not_be_read(), digest) == store.path(digest)


@pytest.mark.parametrize(
    "bad",
    [
        "../" + "a" * 61,
        "A" * 64,
        "a" * 63,
        "a" * 65,
        "g" * 64,
        "/etc/passwd",
        "",
        "a" * 63 + "\n",
    ],
)
def test_malformed_ids_are_refused_before_touching_disk(store: FileStore, bad: str) -> None:
    assert not is_sha256_hex(bad)
    with pytest.raises(ValueError, match="sha256"):
        store.path(bad)
    with pytest.raises(ValueError):
        store.has(bad)
    with pytest.raises(ValueError):
        store.put_verified_stream([b"x"], bad)
