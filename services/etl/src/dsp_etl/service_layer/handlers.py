"""ETL's reaction to events: clean a profiled dataset when an analysis asked for it."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from etl_core import run_etl
from mesh_kit.artifacts import artifact_key
from mesh_kit.consumer import HandlerContext, StageError
from mesh_kit.service import Runtime
from pydantic import ValidationError
from shared_contracts import Envelope
from shared_contracts.etl import EtlConfig
from shared_contracts.events import DatasetProfiled, DatasetTransformed
from shared_contracts.profile import Profile

from ..adapters import repository

__all__ = ["when_dataset_profiled_clean"]


async def when_dataset_profiled_clean(envelope: Envelope[Any], ctx: HandlerContext, runtime: Runtime) -> None:
    """Plan, fit and apply the cleaning pipeline, then emit dataset.transformed (only for analysis jobs)."""
    event: DatasetProfiled = envelope.payload
    if event.analysis is None:  # an upload-only job ends at its profile
        async with ctx.unit_of_work():
            return
    analysis = event.analysis
    if analysis.etl_config and analysis.etl_config.get("plugins_dir"):
        # a request must not make the service import code from a path of the request's choosing
        raise StageError("invalid_etl_config", "plugins_dir cannot be set in a request; plugins are installed "
                                               "with the service (entry points or DSP_PLUGINS_DIR).")
    try:
        config = EtlConfig.model_validate(analysis.etl_config) if analysis.etl_config else None
    except ValidationError as exc:
        raise StageError("invalid_etl_config", f"The ETL configuration is not valid: {exc}") from exc
    profile = Profile.model_validate_json(runtime.store.read_bytes(event.profile))
    job = envelope.job_id
    with tempfile.TemporaryDirectory(prefix="dsp-etl-") as tmp:
        parquet = runtime.store.fetch_to(event.parquet, Path(tmp) / "data.parquet")
        out_dir = Path(tmp) / "out"
        try:
            result = await asyncio.to_thread(
                run_etl, parquet, profile, out_dir=out_dir, config=config, target=analysis.target,
                formats=("parquet", "csv"), progress=ctx.progress,
            )
        except ValueError as exc:
            raise StageError("etl_failed", str(exc)) from exc
        cleaned = runtime.store.put_file(artifact_key("jobs", job, "cleaned.parquet"), result.paths["parquet"],
                                         media_type="application/vnd.apache.parquet")
        csv_path = result.paths.get("csv")
        cleaned_csv = runtime.store.put_file(artifact_key("jobs", job, "cleaned.csv"), csv_path,
                                             media_type="text/csv") if csv_path else None
    report_ref = runtime.store.put_bytes(artifact_key("jobs", job, "etl-report.json"),
                                         result.report.model_dump_json().encode(), media_type="application/json")
    pipeline_ref = runtime.store.put_bytes(artifact_key("jobs", job, "pipeline.json"),
                                           result.pipeline.model_dump_json().encode(), media_type="application/json")
    async with ctx.unit_of_work() as uow:
        await repository.record_run(
            uow.conn, job_id=job, dataset_id=event.dataset_id, cleaned_key=cleaned.key, report_key=report_ref.key,
            pipeline_key=pipeline_ref.key, rows_in=result.report.rows_in, rows_out=result.report.rows_out,
            step_count=len(result.report.plan.steps),
        )
        await uow.emit(DatasetTransformed(
            dataset_id=event.dataset_id, cleaned_parquet=cleaned, cleaned_csv=cleaned_csv, etl_report=report_ref,
            pipeline=pipeline_ref, profile=event.profile, analysis=analysis,
        ))
