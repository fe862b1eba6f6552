"""Ingest's use case: read the upload, type it, write Parquet, announce it."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path

from mesh_kit.artifacts import artifact_key
from mesh_kit.deletion import purge_dataset
from mesh_kit.ports import StageDeps
from shared_contracts.errors import StageError
from shared_contracts.events import (
    ColumnSummary,
    DatasetDeleted,
    DatasetIngested,
    DatasetRejected,
    DatasetUploaded,
)
from shared_contracts.profile import ValidationSummary

from ..adapters.repository import IngestedDataset, IngestedDatasets, RejectedDataset
from ..domain import IngestError, ingest_file

__all__ = ["when_dataset_deleted", "when_dataset_uploaded_ingest"]

log = logging.getLogger(__name__)


async def when_dataset_uploaded_ingest(event: DatasetUploaded, deps: StageDeps[IngestedDatasets]) -> None:
    """Read the uploaded file (CSV, Parquet, Arrow, Excel, JSON, compressed text), infer its types, write it as Parquet and emit dataset.ingested."""
    store, dataset_id = deps.store, event.dataset_id
    deps.cancel.check("ingest")
    with tempfile.TemporaryDirectory(prefix="dsp-ingest-") as tmp:
        raw = await store.fetch_to(event.raw, Path(tmp) / "upload")
        parquet = Path(tmp) / "data.parquet"
        try:
            report = await asyncio.to_thread(ingest_file, raw, parquet, options=event.ingest, progress=deps.progress,
                                             cancel=deps.cancel)
        except IngestError as exc:
            if exc.__cause__ is not None:  # the library's own error stays here: the user sees the code and details
                log.warning("dataset %s rejected as %s %s; the reader's error was: %s", dataset_id, exc.code,
                            exc.details, exc.__cause__, exc_info=exc.__cause__)
            async with deps.unit_of_work() as uow:
                if await uow.is_deleted(dataset_id):  # deleted while being read: nothing to report
                    return
                await uow.repo.record_rejected(RejectedDataset(dataset_id=dataset_id, job_id=deps.job_id,
                                                               code=exc.code, message=exc.message))
            raise StageError(
                exc.code, exc.message, exc.details,
                failure_event=DatasetRejected(dataset_id=dataset_id, code=exc.code, message=exc.message,
                                              details=exc.details),
            ) from exc
        deps.cancel.check("writing the dataset")  # a cancelled job writes nothing
        parquet_ref = await store.put_file(artifact_key("datasets", dataset_id, "data.parquet"), parquet,
                                           media_type="application/vnd.apache.parquet")
    report_ref = await store.put_bytes(artifact_key("datasets", dataset_id, "ingest-report.json"),
                                       report.model_dump_json().encode(), media_type="application/json")
    async with deps.unit_of_work() as uow:
        if await uow.is_deleted(dataset_id) or deps.cancel.cancelled:  # take back what was written
            for key in (parquet_ref.key, report_ref.key):
                await store.delete(key)
            deps.cancel.check("recording the dataset")
            return
        await uow.repo.record_ingested(IngestedDataset(
            dataset_id=dataset_id, job_id=deps.job_id, row_count=report.row_count, column_count=len(report.columns),
            parquet_key=parquet_ref.key, report_key=report_ref.key,
        ))
        await uow.emit(DatasetIngested(
            dataset_id=dataset_id, parquet=parquet_ref, ingest_report=report_ref, row_count=report.row_count,
            columns=[ColumnSummary(name=c.name, semantic_type=c.semantic_type, physical_type=c.physical_type)
                     for c in report.columns],
            analysis=event.analysis, display_name=event.display_name,
            validation=ValidationSummary.of(report.validation, rows=report.row_count),
        ))


async def when_dataset_deleted(event: DatasetDeleted, deps: StageDeps[IngestedDatasets]) -> None:
    """Erase the dataset's record and its Parquet and ingest report (datasets/<id>/), then emit dataset.purged."""
    await purge_dataset(event, deps, service="ingest")
