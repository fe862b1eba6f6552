"""The artifact store port, its local-filesystem adapter and its S3-compatible adapter.

Keys are built only from platform ids and fixed names (``artifact_key``), never from
user-supplied file names, so a hostile name cannot climb out of the store.
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
import json
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from shared_contracts import ArtifactRef

__all__ = [
    "ArtifactIntegrityError",
    "ArtifactNotFound",
    "ArtifactStore",
    "AsyncArtifactStore",
    "LocalArtifactStore",
    "S3ArtifactStore",
    "artifact_key",
    "check_key",
    "check_prefix",
    "owner_prefix",
    "open_store",
    "sha256_of",
]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_KEY = re.compile(r"^[a-z0-9][a-z0-9_./-]*$")


class ArtifactNotFound(KeyError):
    """No artifact under that key."""


class ArtifactIntegrityError(ValueError):
    """The stored bytes do not match the reference's hash."""


def artifact_key(kind: str, owner_id: uuid.UUID, name: str) -> str:
    """Build a store key such as ``datasets/<uuid>/data.parquet`` from ids and a fixed name."""
    if kind not in {"datasets", "jobs", "models", "dashboards", "exports"}:
        raise ValueError(f"unknown artifact kind {kind!r}")
    if not isinstance(owner_id, uuid.UUID):
        raise TypeError("owner_id must be a UUID")
    if not _NAME.match(name) or ".." in name:
        raise ValueError(f"artifact name {name!r} is not a fixed platform name")
    return f"{kind}/{owner_id}/{name}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_key(key: str) -> None:
    """Refuse a key that is not built from ids and fixed names, or that climbs out of the store."""
    if not _KEY.match(key) or ".." in key.split("/"):
        raise ValueError(f"invalid artifact key {key!r}")


def check_prefix(prefix: str) -> None:
    """Refuse a prefix that is not ``<kind>/<id>/`` or deeper: a delete must never reach the whole store."""
    check_key(prefix.rstrip("/") or "-")
    parts = prefix.split("/")
    if not prefix.endswith("/") or len(parts) < 3 or not all(parts[:-1]):
        raise ValueError(f"invalid artifact prefix {prefix!r}: it must be <kind>/<id>/...")


def owner_prefix(kind: str, owner_id: uuid.UUID) -> str:
    """The prefix of every artifact of one owner, such as ``jobs/<uuid>/``."""
    return artifact_key(kind, owner_id, "x").removesuffix("x")


class ArtifactStore(abc.ABC):
    """Where raw uploads, Parquet, profiles, models and dashboards live."""

    @abc.abstractmethod
    def put_file(self, key: str, path: Path, *, media_type: str) -> ArtifactRef:
        """Store the file's bytes under key (replacing any previous object) and return its reference."""

    @abc.abstractmethod
    def fetch_to(self, ref: ArtifactRef, path: Path) -> Path:
        """Copy the artifact to a local path, verifying its hash."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove an artifact; missing keys are ignored."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored under key."""

    @abc.abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Remove every artifact whose key starts with ``prefix`` (``<kind>/<id>/``); returns how many."""

    def put_bytes(self, key: str, data: bytes, *, media_type: str) -> ArtifactRef:
        with tempfile.TemporaryDirectory(prefix="dsp-put-") as tmp:
            path = Path(tmp) / "blob"
            path.write_bytes(data)
            return self.put_file(key, path, media_type=media_type)

    def read_bytes(self, ref: ArtifactRef) -> bytes:
        with tempfile.TemporaryDirectory(prefix="dsp-get-") as tmp:
            return self.fetch_to(ref, Path(tmp) / "blob").read_bytes()

    def put_dir(self, key: str, directory: Path) -> ArtifactRef:
        """Store a directory as one tar archive (used for model folders).

        gzip's fastest level: a 22 MB model folder packs in 0.2 s instead of 5 s at level 9, for an
        archive about 15% larger; models are written once per analysis, on the user's clock.
        """
        import tarfile

        with tempfile.TemporaryDirectory(prefix="dsp-tar-") as tmp:
            archive = Path(tmp) / "bundle.tar.gz"
            with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
                tar.add(directory, arcname=".")
            return self.put_file(key, archive, media_type="application/gzip")

    def fetch_dir(self, ref: ArtifactRef, directory: Path) -> Path:
        """Unpack a directory stored with put_dir, refusing members that would leave it."""
        import tarfile

        with tempfile.TemporaryDirectory(prefix="dsp-untar-") as tmp:
            archive = self.fetch_to(ref, Path(tmp) / "bundle.tar.gz")
            directory.mkdir(parents=True, exist_ok=True)
            with tarfile.open(archive) as tar:
                tar.extractall(directory, filter="data")
        return directory


class AsyncArtifactStore:
    """The store as handlers use it: every call runs in a worker thread.

    A stage handler runs on the event loop that also drives the outbox relay and the broker's
    heartbeats; a synchronous S3 upload there would stall them all.
    """

    def __init__(self, store: ArtifactStore) -> None:
        self.sync = store

    async def put_file(self, key: str, path: Path, *, media_type: str) -> ArtifactRef:
        return await asyncio.to_thread(self.sync.put_file, key, path, media_type=media_type)

    async def put_bytes(self, key: str, data: bytes, *, media_type: str) -> ArtifactRef:
        return await asyncio.to_thread(self.sync.put_bytes, key, data, media_type=media_type)

    async def put_dir(self, key: str, directory: Path) -> ArtifactRef:
        return await asyncio.to_thread(self.sync.put_dir, key, directory)

    async def fetch_to(self, ref: ArtifactRef, path: Path) -> Path:
        return await asyncio.to_thread(self.sync.fetch_to, ref, path)

    async def fetch_dir(self, ref: ArtifactRef, directory: Path) -> Path:
        return await asyncio.to_thread(self.sync.fetch_dir, ref, directory)

    async def read_bytes(self, ref: ArtifactRef) -> bytes:
        return await asyncio.to_thread(self.sync.read_bytes, ref)

    async def read_json(self, ref: ArtifactRef) -> Any:
        """A JSON document of the store, read and parsed in a thread (an analysis result of some MB takes tens of
        milliseconds to parse, which the event loop would spend away from every other request)."""
        return await asyncio.to_thread(lambda: json.loads(self.sync.read_bytes(ref)))

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.sync.delete, key)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.sync.exists, key)

    async def delete_prefix(self, prefix: str) -> int:
        return await asyncio.to_thread(self.sync.delete_prefix, prefix)


_HASHED_KEPT = 256
"""Files a :class:`LocalArtifactStore` remembers the hash of, the latest written."""


def _identity(stat: os.stat_result) -> tuple[int, ...]:
    """What changes when a file's bytes are replaced or rewritten: device, inode, size, modification time and the
    inode's change time (which no program can set back)."""
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


class LocalArtifactStore(ArtifactStore):
    """Artifacts as files under one root directory; writes are atomic renames.

    A file this store object wrote is not hashed again when it is fetched while it is unchanged (the same
    inode, size, modification and change time as when its hash was taken): a local run fetches each artifact right
    after putting it, and hashing a 200 MB upload twice more cost as much as reading it. Any other file, a
    file changed since, or one written by another process, is hashed and checked on every fetch.
    """

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._hashed: dict[Path, tuple[tuple[int, ...], str]] = {}

    def _path(self, key: str) -> Path:
        check_key(key)
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise ValueError(f"artifact key {key!r} leaves the store")
        return path

    def put_file(self, key: str, path: Path, *, media_type: str) -> ArtifactRef:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".incoming-", dir=target.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            shutil.copyfile(path, tmp)
            digest = sha256_of(tmp)
            size = tmp.stat().st_size
            os.replace(tmp, target)
            self._hashed.pop(target, None)
            stat = target.stat()  # after the rename, which changes the change time
            if stat.st_size == size:
                self._hashed[target] = (_identity(stat), digest)
            while len(self._hashed) > _HASHED_KEPT:  # the oldest first: a service's store stays small
                del self._hashed[next(iter(self._hashed))]
        finally:
            tmp.unlink(missing_ok=True)
        return ArtifactRef(key=key, sha256=digest, size_bytes=size, media_type=media_type)

    def adopt_file(self, key: str, path: Path, *, sha256: str, media_type: str) -> ArtifactRef:
        """Move a file already on the store's filesystem into place without copying it."""
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        size = path.stat().st_size
        os.replace(path, target)
        self._hashed.pop(target, None)  # the hash was the caller's, not taken here
        return ArtifactRef(key=key, sha256=sha256, size_bytes=size, media_type=media_type)

    def fetch_to(self, ref: ArtifactRef, path: Path) -> Path:
        source = self._path(ref.key)
        if not source.exists():
            raise ArtifactNotFound(ref.key)
        path.parent.mkdir(parents=True, exist_ok=True)
        before = _identity(source.stat())
        shutil.copyfile(source, path)
        if self._hashed.get(source) == (before, ref.sha256) and _identity(source.stat()) == before:
            return path  # the bytes this store hashed when it wrote them, not changed before or during the copy
        if sha256_of(path) != ref.sha256:
            path.unlink(missing_ok=True)
            raise ArtifactIntegrityError(f"artifact {ref.key} does not match its recorded hash")
        return path

    def delete(self, key: str) -> None:
        path = self._path(key)
        self._hashed.pop(path, None)
        path.unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def delete_prefix(self, prefix: str) -> int:
        check_prefix(prefix)
        directory = self._path(prefix.rstrip("/"))
        if not directory.is_dir():
            return 0
        count = sum(1 for p in directory.rglob("*") if p.is_file() and not p.name.startswith(".incoming-"))
        shutil.rmtree(directory, ignore_errors=True)
        return count


class S3ArtifactStore(ArtifactStore):
    """Artifacts in an S3-compatible bucket (AWS S3, MinIO, Ceph)."""

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None) -> None:
        import boto3

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = boto3.client("s3", endpoint_url=endpoint_url)

    def _object(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put_file(self, key: str, path: Path, *, media_type: str) -> ArtifactRef:
        digest = sha256_of(path)
        self.client.upload_file(
            str(path),
            self.bucket,
            self._object(key),
            ExtraArgs={"ContentType": media_type, "Metadata": {"sha256": digest}},
        )
        return ArtifactRef(key=key, sha256=digest, size_bytes=path.stat().st_size, media_type=media_type)

    def fetch_to(self, ref: ArtifactRef, path: Path) -> Path:
        from botocore.exceptions import ClientError

        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.client.download_file(self.bucket, self._object(ref.key), str(path))
        except ClientError as exc:
            raise ArtifactNotFound(ref.key) from exc
        if sha256_of(path) != ref.sha256:
            path.unlink(missing_ok=True)
            raise ArtifactIntegrityError(f"artifact {ref.key} does not match its recorded hash")
        return path

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._object(key))

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._object(key))
        except ClientError:
            return False
        return True

    def delete_prefix(self, prefix: str) -> int:
        check_prefix(prefix)
        full = f"{self.prefix}/{prefix}" if self.prefix else prefix
        count = 0
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
            keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            for start in range(0, len(keys), 1000):  # the API's batch limit
                batch = keys[start:start + 1000]
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
                count += len(batch)
        return count


def open_store(url: str, *, s3_endpoint_url: str | None = None) -> ArtifactStore:
    """Open the store named by a ``file://`` or ``s3://`` URL."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalArtifactStore(Path(parsed.path))
    if parsed.scheme == "s3":
        return S3ArtifactStore(parsed.netloc, parsed.path, endpoint_url=s3_endpoint_url)
    raise ValueError(f"DSP_ARTIFACT_URL must be file:// or s3://, got {url!r}")
