"""ETL's use case: clean a profiled dataset when an analysis asked for it."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path

from etl_core import ConfigError, PlanError, PluginError, config_from_mapping, run_etl
from mesh_kit.artifacts import artifact_key
from mesh_kit.deletion import purge_dataset
from mesh_kit.ports import StageDeps
from shared_contracts.errors import StageError
from shared_contracts.etl import EtlConfig
from shared_contracts.events import AnalysisOptions, DatasetDeleted, DatasetProfiled, DatasetTransformed
from shared_contracts.profile import Profile

from ..adapters.repository import EtlRun, EtlRuns

__all__ = ["cleaning_failed", "when_dataset_deleted", "when_dataset_profiled_clean"]

PARQUET = "application/vnd.apache.parquet"

log = logging.getLogger(__name__)

_DOING = {"planning": "planning its steps", "writing cleaned data": "writing the cleaned data",
          "measuring the result": "measuring the result", "writing CSV": "writing the cleaned CSV file"}


def _doing(progress: str) -> str:
    """What the cleaning was doing, in words, from the last progress message it reported."""
    if progress.startswith("fitted "):
        return f"fitting and applying its steps (the last one done: {progress.removeprefix('fitted ')})"
    return _DOING.get(progress, "fitting and applying its steps")


def cleaning_failed(exc: ValueError, progress: str) -> StageError:
    """The ``etl_failed`` of a cleaning that raised ``exc`` after reporting ``progress``: what it was doing
    (and which plugin failed), with the planner's or the plugin loader's own sentence about the request;
    never the text of an exception raised by a library or a plugin's code, which the handler logs with the
    job id."""
    if isinstance(exc, PlanError):  # a sentence about the config or the target, written for its author
        return StageError("etl_failed", f"The cleaning could not be planned: {exc}")
    doing = _doing(progress)
    if isinstance(exc, PluginError) and exc.__cause__ is None:  # its own sentence (no such plugin, a bad state)
        return StageError("etl_failed", f"The cleaning failed while {doing}: {exc}", {"plugin": exc.plugin})
    if isinstance(exc, PluginError):  # the plugin's code raised: what it said stays in the log
        return StageError("etl_failed", f"The ETL plugin {exc.plugin!r} failed while the cleaning was {doing}.",
                          {"plugin": exc.plugin})
    return StageError("etl_failed", f"The cleaning failed while {doing}.")


def _config_of(analysis: AnalysisOptions) -> EtlConfig | None:
    """The analysis' ETL config, validated; a request may not choose where plugins load from."""
    if not analysis.etl_config:
        return None
    if analysis.etl_config.get("plugins_dir"):
        raise StageError("invalid_etl_config", "plugins_dir cannot be set in a request; plugins are installed "
                                               "with the service (entry points or DSP_PLUGINS_DIR).")
    try:
        return config_from_mapping(analysis.etl_config)
    except ConfigError as exc:  # its problems are plain lines, fit to show (no exception text)
        raise StageError("invalid_etl_config", "\n".join(["The ETL configuration is not valid:", *exc.problems]),
                         {"problems": exc.problems}) from exc


async def when_dataset_profiled_clean(event: DatasetProfiled, deps: StageDeps[EtlRuns]) -> None:
    """Plan, fit and apply the cleaning pipeline, then emit dataset.transformed (only for analysis jobs)."""
    if event.analysis is None:  # an upload-only job ends at its profile
        async with deps.unit_of_work():
            return
    analysis = event.analysis
    deps.cancel.check("etl")
    config = _config_of(analysis)
    store, job = deps.store, deps.job_id
    profile = Profile.model_validate_json(await store.read_bytes(event.profile))
    reported = ["planning"]

    def progress(fraction: float, message: str) -> None:
        reported[0] = message
        deps.progress(fraction, message)

    with tempfile.TemporaryDirectory(prefix="dsp-etl-") as tmp:
        parquet = await store.fetch_to(event.parquet, Path(tmp) / "data.parquet")
        try:
            result = await asyncio.to_thread(
                run_etl, parquet, profile, out_dir=Path(tmp) / "out", config=config, target=analysis.target,
                formats=("parquet", "csv"), progress=progress, cancel=deps.cancel,
            )
        except ValueError as exc:
            failure = cleaning_failed(exc, reported[0])
            log.warning("job %s: %s The error was: %s", job, failure.message, exc, exc_info=exc)
            raise failure from exc
        deps.cancel.check("writing the cleaned data")  # a cancelled job writes nothing
        cleaned = await store.put_file(artifact_key("jobs", job, "cleaned.parquet"), result.paths["parquet"],
                                       media_type=PARQUET)
        cleaned_csv = await store.put_file(artifact_key("jobs", job, "cleaned.csv"), result.paths["csv"],
                                           media_type="text/csv")
        split = result.paths.get("split")
        split_ref = await store.put_file(artifact_key("jobs", job, "split.parquet"), split,
                                         media_type=PARQUET) if split else None
    report_ref = await store.put_bytes(artifact_key("jobs", job, "etl-report.json"),
                                       result.report.model_dump_json().encode(), media_type="application/json")
    pipeline_ref = await store.put_bytes(artifact_key("jobs", job, "pipeline.json"),
                                         result.pipeline.model_dump_json().encode(), media_type="application/json")
    async with deps.unit_of_work() as uow:
        if await uow.is_deleted(event.dataset_id) or deps.cancel.cancelled:  # take back what was written
            for ref in (cleaned, cleaned_csv, split_ref, report_ref, pipeline_ref):
                if ref is not None:
                    await store.delete(ref.key)
            deps.cancel.check("recording the cleaning")
            return
        await uow.repo.record(EtlRun(
            job_id=job, dataset_id=event.dataset_id, cleaned_key=cleaned.key, report_key=report_ref.key,
            pipeline_key=pipeline_ref.key, rows_in=result.report.rows_in, rows_out=result.report.rows_out,
            step_count=len(result.report.plan.steps),
        ))
        await uow.emit(DatasetTransformed(
            dataset_id=event.dataset_id, cleaned_parquet=cleaned, cleaned_csv=cleaned_csv, etl_report=report_ref,
            pipeline=pipeline_ref, profile=event.profile, analysis=analysis, split=split_ref,
            typed_parquet=event.parquet,  # the data as ingested, for the descriptive views
        ))


async def when_dataset_deleted(event: DatasetDeleted, deps: StageDeps[EtlRuns]) -> None:
    """Erase the dataset's runs and their outputs (jobs/<id>/), then emit dataset.purged."""
    await purge_dataset(event, deps, service="etl")
