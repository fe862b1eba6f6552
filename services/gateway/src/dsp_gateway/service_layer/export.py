"""The caller's own data as one zip archive (data portability, GET /api/v1/me/export).

Layout of the archive (every JSON document UTF-8, indented):

    manifest.json                      what is inside: generated_at, the account, counts, and for every
                                       file its artifact key, sha256 and size; artifacts that could not be
                                       read are listed under "missing" instead of failing the export
    account.json                       the caller: user_id, organization_id, email, role, api_key_id
    datasets/<dataset_id>/dataset.json the dataset's metadata (name, status, size, columns, quality, dates)
    datasets/<dataset_id>/raw.csv      the uploaded file (while it is kept)
    datasets/<dataset_id>/data.parquet, ingest-report.json, profile.json
    jobs/<job_id>/job.json             the job: kind, status, options, error, result references
    jobs/<job_id>/analysis.json, cleaned.parquet, cleaned.csv, etl-report.json, pipeline.json, profile.json,
                 dashboard.zip         the documents the job produced
    dashboards/<dashboard_id>/dashboard.json, dashboard.html, report.pdf
    models/<model_id>.json             a model the caller's analyses registered (id, job, dataset, date)

Only objects the caller owns in their organisation are included. An artifact shared by two objects
(a profile is both the dataset's and its upload job's) is written once, under the first object; the
manifest maps every other reference to that file.

Memory stays bounded: each artifact is copied from the store to a temporary file and deflated into
an archive on disk; the route streams the archive and removes it afterwards.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mesh_kit.artifacts import ArtifactNotFound, ArtifactStore
from shared_contracts import ArtifactRef

from ..domain.identity import Principal

__all__ = ["DATASET_FILES", "JOB_FILES", "OwnedData", "export_archive"]

# row field (or job result field) -> file name in the archive
DATASET_FILES = {"raw": "raw.csv", "parquet": "data.parquet", "ingest_report": "ingest-report.json",
                 "profile": "profile.json"}
JOB_FILES = {"analysis_result": "analysis.json", "cleaned_parquet": "cleaned.parquet", "cleaned_csv": "cleaned.csv",
             "etl_report": "etl-report.json", "pipeline": "pipeline.json", "profile": "profile.json",
             "parquet": "data.parquet", "ingest_report": "ingest-report.json", "dashboard_zip": "dashboard.zip"}
DASHBOARD_FILES = {"html": "dashboard.html", "pdf": "report.pdf"}
_DATASET_FIELDS = ("dataset_id", "display_name", "status", "size_bytes", "row_count", "columns", "quality_score",
                   "error", "upload_job_id", "organization_id", "owner_id", "created_at", "updated_at")


@dataclass
class OwnedData:
    """The read-model rows of one user, as the repository returns them."""

    datasets: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    dashboards: list[dict[str, Any]] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=list)


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True, default=str).encode()


class _Archive:
    def __init__(self, path: Path, store: ArtifactStore, scratch: Path) -> None:
        self.zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)
        self.store, self.scratch = store, scratch
        self.files: dict[str, dict[str, Any]] = {}
        self.written: dict[str, str] = {}  # artifact key -> name in the archive
        self.missing: list[dict[str, str]] = []

    def document(self, name: str, value: Any) -> None:
        self.zip.writestr(name, _json(value))

    def artifact(self, name: str, raw: Any) -> None:
        if not raw:
            return
        ref = ArtifactRef.model_validate(raw)
        if ref.key in self.written:
            self.files[name] = {"same_as": self.written[ref.key], "key": ref.key}
            return
        local = self.scratch / "artifact"
        try:
            self.store.fetch_to(ref, local)
        except (ArtifactNotFound, OSError, ValueError) as exc:
            self.missing.append({"file": name, "key": ref.key, "reason": type(exc).__name__})
            return
        try:
            self.zip.write(local, name)
        finally:
            local.unlink(missing_ok=True)
        self.written[ref.key] = name
        self.files[name] = {"key": ref.key, "sha256": ref.sha256, "size_bytes": ref.size_bytes,
                            "media_type": ref.media_type}

    def close(self) -> None:
        self.zip.close()


def export_archive(store: ArtifactStore, principal: Principal, owned: OwnedData, directory: Path) -> Path:
    """Write the caller's archive into ``directory`` (blocking: run it in a thread) and return its path."""
    path = directory / "export.zip"
    scratch = Path(tempfile.mkdtemp(prefix="scratch-", dir=directory))
    archive = _Archive(path, store, scratch)
    try:
        account = {"user_id": str(principal.user_id), "organization_id": str(principal.organization_id),
                   "email": principal.email, "role": principal.role,
                   "api_key_id": str(principal.api_key_id) if principal.api_key_id else None}
        archive.document("account.json", account)
        for row in owned.datasets:
            base = f"datasets/{row['dataset_id']}"
            archive.document(f"{base}/dataset.json", {k: row.get(k) for k in _DATASET_FIELDS})
            for column, name in DATASET_FILES.items():
                if column == "raw" and row.get("status") == "rejected":
                    continue  # a rejected upload's raw file was removed with the rejection
                archive.artifact(f"{base}/{name}", row.get(column))
        for row in owned.jobs:
            base = f"jobs/{row['job_id']}"
            archive.document(f"{base}/job.json", row)
            results = row.get("results") or {}
            for result, name in JOB_FILES.items():
                archive.artifact(f"{base}/{name}", results.get(result))
        for row in owned.dashboards:
            base = f"dashboards/{row['dashboard_id']}"
            archive.document(f"{base}/dashboard.json", {k: v for k, v in row.items() if k not in DASHBOARD_FILES})
            for column, name in DASHBOARD_FILES.items():
                archive.artifact(f"{base}/{name}", row.get(column))
        for row in owned.models:
            archive.document(f"models/{row['model_id']}.json", row)
        archive.document("manifest.json", {
            "generated_at": datetime.now(UTC).isoformat(), "format": "dsp-export/1", "account": account,
            "counts": {name: len(rows) for name, rows in asdict(owned).items()},
            "files": archive.files, "missing": archive.missing,
        })
    finally:
        archive.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return path
