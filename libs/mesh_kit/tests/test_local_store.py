"""The local artifact store checks every fetch against the recorded hash, hashing again only what changed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from mesh_kit import artifacts
from mesh_kit.artifacts import ArtifactIntegrityError, LocalArtifactStore


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The files the store hashes, in order."""
    seen: list[Path] = []
    sha256_of = artifacts.sha256_of

    def recording(path: Path) -> str:
        seen.append(path)
        return sha256_of(path)

    monkeypatch.setattr(artifacts, "sha256_of", recording)
    return seen


def test_a_file_fetched_as_it_was_put_is_not_hashed_again(tmp_path: Path, hashed: list[Path]) -> None:
    source = tmp_path / "upload.csv"
    source.write_bytes(b"a,b\n1,2\n" * 1000)
    store = LocalArtifactStore(tmp_path / "store")
    ref = store.put_file("datasets/1/raw", source, media_type="text/csv")
    assert len(hashed) == 1
    fetched = store.fetch_to(ref, tmp_path / "copy.csv")
    assert fetched.read_bytes() == source.read_bytes()
    assert len(hashed) == 1


@pytest.mark.parametrize("change", ["same size", "other size"])
def test_a_stored_file_changed_after_the_put_is_hashed_and_refused(tmp_path: Path, hashed: list[Path], change: str) -> None:
    source = tmp_path / "upload.csv"
    source.write_bytes(b"a,b\n1,2\n")
    store = LocalArtifactStore(tmp_path / "store")
    ref = store.put_file("datasets/1/raw", source, media_type="text/csv")
    stored = tmp_path / "store" / "datasets" / "1" / "raw"
    mtime = stored.stat().st_mtime_ns
    stored.write_bytes(b"a,b\n9,9\n" if change == "same size" else b"a,b\n9,9,9\n")
    os.utime(stored, ns=(mtime, mtime))  # a rewrite in place with the modification time put back is seen too
    with pytest.raises(ArtifactIntegrityError):
        store.fetch_to(ref, tmp_path / "copy.csv")
    assert not (tmp_path / "copy.csv").exists()
    assert len(hashed) == 2  # the put, then the fetch of the changed file


def test_another_store_object_hashes_what_it_did_not_write(tmp_path: Path, hashed: list[Path]) -> None:
    source = tmp_path / "upload.csv"
    source.write_bytes(b"x\n1\n")
    ref = LocalArtifactStore(tmp_path / "store").put_file("datasets/1/raw", source, media_type="text/csv")
    LocalArtifactStore(tmp_path / "store").fetch_to(ref, tmp_path / "copy.csv")
    assert len(hashed) == 2
