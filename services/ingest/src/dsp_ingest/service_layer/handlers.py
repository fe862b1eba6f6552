"""Ingest's reaction to events: read the upload, type it, write Parquet, announce it."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from mesh_kit.artifacts import artifact_key
from mesh_kit.consumer import HandlerContext, StageError
from mesh_kit.service import Runtime
from shared_contracts import Envelope
from shared_contracts.events import ColumnSummary, DatasetIngested, DatasetRejected, DatasetUploaded

from ..adapters import repository
from ..domain import IngestError, ingest_csv

__all__ = ["when_dataset_uploaded_ingest"]


async def when_dataset_uploaded_ingest(envelope: Envelope[Any], ctx: HandlerContext, runtime: Runtime) -> None:
    """Read the uploaded CSV, infer its types, write it as Parquet and emit dataset.ingested."""
    event: DatasetUploaded = envelope.payload
    with tempfile.TemporaryDirectory(prefix="dsp-ingest-") as tmp:
        raw = runtime.store.fetch_to(event.raw, Path(tmp) / "upload")
        parquet = Path(tmp) / "data.parquet"
        try:
            report = await asyncio.to_thread(ingest_csv, raw, parquet, options=event.ingest, progress=ctx.progress)
        except IngestError as exc:
            async with ctx.unit_of_work() as uow:
                await repository.record_rejected(uow.conn, dataset_id=event.dataset_id, job_id=envelope.job_id,
                                                 code=exc.code, message=exc.message)
            raise StageError(
                exc.code, exc.message, details=exc.details,
                failure_event=DatasetRejected(dataset_id=event.dataset_id, code=exc.code, message=exc.message,
                                              details=exc.details),
            ) from exc
        parquet_ref = runtime.store.put_file(artifact_key("datasets", event.dataset_id, "data.parquet"), parquet,
                                             media_type="application/vnd.apache.parquet")
    report_ref = runtime.store.put_bytes(artifact_key("datasets", event.dataset_id, "ingest-report.json"),
                                         report.model_dump_json().encode(), media_type="application/json")
    async with ctx.unit_of_work() as uow:
        await repository.record_ingested(uow.conn, dataset_id=event.dataset_id, job_id=envelope.job_id,
                                         row_count=report.row_count, column_count=len(report.columns),
                                         parquet_key=parquet_ref.key, report_key=report_ref.key)
        await uow.emit(DatasetIngested(
            dataset_id=event.dataset_id, parquet=parquet_ref, ingest_report=report_ref, row_count=report.row_count,
            columns=[ColumnSummary(name=c.name, semantic_type=c.semantic_type, physical_type=c.physical_type)
                     for c in report.columns],
            analysis=event.analysis,
        ))
