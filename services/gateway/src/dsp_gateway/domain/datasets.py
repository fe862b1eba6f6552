"""The gateway's read model of datasets: what each event changes in a dataset row."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

from shared_contracts import ArtifactRef, EventPayload
from shared_contracts.events import (
    ColumnSummary,
    DatasetIngested,
    DatasetProfiled,
    DatasetRejected,
    StageFailed,
)

__all__ = ["CANCELLED_UPLOAD", "DatasetStatus", "DatasetUpdate", "dataset_update_for",
           "dataset_update_for_cancelled_upload", "display_name", "like_pattern"]

MAX_NAME_CHARS = 255


def display_name(filename: str) -> str:
    r"""The name a dataset is listed under, from the file name a client sent: text only, never a path.

    The client's name is only ever shown (the file is stored under the dataset's id), but it is shown in
    pages, archives and terminals, and stored in PostgreSQL, which refuses NUL. So: the last part of the path
    (``/`` or ``\\``), NFC, without control or format characters (NUL, newlines, the right-to-left override and
    the other bidirectional controls), blanks trimmed, at most 255 characters; ``upload.csv`` when nothing is
    left, or only dots. Markup and shell metacharacters are kept as text: every view escapes them.

    >>> display_name("../../etc/passwd")
    'passwd'
    >>> display_name("C:\\Users\\x\\sales.csv")
    'sales.csv'
    >>> display_name("inv\u202eslx.csv\x00")
    'invslx.csv'
    >>> display_name("..")
    'upload.csv'
    >>> display_name("$(rm -rf ~);<b>.csv")
    '$(rm -rf ~);<b>.csv'
    """
    name = unicodedata.normalize("NFC", filename.replace("\\", "/").rsplit("/", 1)[-1])
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"))
    name = name.strip()[:MAX_NAME_CHARS].strip()
    return name if name.strip(".") else "upload.csv"

DatasetStatus = Literal["uploaded", "ingested", "profiled", "rejected", "failed"]


@dataclass(frozen=True)
class DatasetUpdate:
    """The new state of a dataset row; fields left None keep their value."""

    status: DatasetStatus
    parquet: ArtifactRef | None = None
    ingest_report: ArtifactRef | None = None
    row_count: int | None = None
    columns: tuple[ColumnSummary, ...] | None = None
    profile: ArtifactRef | None = None
    quality_score: float | None = None
    validation: dict[str, Any] | None = None
    """The ``ValidationSummary`` of the upload's rules, JSON-ready."""
    error: dict[str, Any] | None = None
    delete_raw: bool = False

    def stored(self) -> dict[str, Any]:
        """Column name -> JSON-ready value, for the fields this update sets."""
        out: dict[str, Any] = {"status": self.status}
        for name in ("parquet", "ingest_report", "profile"):
            ref = getattr(self, name)
            if ref is not None:
                out[name] = ref.model_dump(mode="json")
        if self.row_count is not None:
            out["row_count"] = self.row_count
        if self.columns is not None:
            out["columns"] = [c.model_dump(mode="json") for c in self.columns]
        if self.quality_score is not None:
            out["quality_score"] = self.quality_score
        if self.validation is not None:
            out["validation"] = self.validation
        if self.error is not None:
            out["error"] = self.error
        return out


def dataset_update_for(payload: EventPayload, *, upload_job: bool, current: DatasetStatus | None) -> DatasetUpdate | None:
    """The change an event makes to its dataset, given the dataset's status now (None: no such dataset).

    A dataset whose validation rules are broken is ingested and profiled as any other: its ``validation``
    says so (status ``failed``), and only an upload that asked to block on them is rejected.
    Only an upload job's failure marks its dataset: an analysis failing later leaves the dataset usable.
    A rejection is the more precise verdict, so the stage.failed that accompanies it must not hide it,
    and nothing overwrites a dataset that reached its profile.
    """
    if current is None:
        return None
    match payload:
        case DatasetIngested():
            validation = payload.validation.model_dump(mode="json") if payload.validation is not None else None
            return DatasetUpdate(status="ingested", parquet=payload.parquet, ingest_report=payload.ingest_report,
                                 row_count=payload.row_count, columns=tuple(payload.columns), validation=validation)
        case DatasetProfiled():
            return DatasetUpdate(status="profiled", profile=payload.profile, quality_score=payload.quality_score)
        case DatasetRejected() if upload_job and current != "profiled":
            # nothing half-written stays behind: the raw upload of a rejected dataset is removed
            return DatasetUpdate(status="rejected", delete_raw=True,
                                 error={"code": payload.code, "message": payload.message, "details": payload.details})
        case StageFailed() if upload_job and current not in ("profiled", "rejected"):
            return DatasetUpdate(status="failed", error={"code": payload.code, "message": payload.reason,
                                                         "details": {}})
    return None


CANCELLED_UPLOAD = {"code": "cancelled", "message": "The upload was cancelled before its dataset was ready. "
                    "Upload the file again, or delete this dataset.", "details": {}}


def dataset_update_for_cancelled_upload(current: DatasetStatus) -> DatasetUpdate | None:
    """The change a cancelled upload job makes to its dataset: one not yet profiled is ``failed`` with the code
    ``cancelled`` (it would otherwise wait for a stage that stopped). Later events of the job change it no more;
    its raw file stays until the dataset is deleted."""
    if current in ("uploaded", "ingested"):
        return DatasetUpdate(status="failed", error=CANCELLED_UPLOAD)
    return None


def like_pattern(text: str) -> str:
    """A LIKE pattern (escape character ``\\``) matching any value that contains ``text``, where ``%``, ``_``
    and ``\\`` of ``text`` are plain characters."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
