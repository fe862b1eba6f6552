"""The one pipeline run of the ``dsp`` command: upload a file to an in-process mesh and collect its documents."""

from __future__ import annotations

import asyncio
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from mesh_kit.artifacts import ArtifactStore, LocalArtifactStore, artifact_key
from mesh_kit.memory import InMemoryMesh, ProgressListener
from mesh_kit.ports import ServiceSpec
from shared_contracts import ArtifactRef, Envelope
from shared_contracts.analysis import AnalysisResult
from shared_contracts.etl import EtlReport
from shared_contracts.events import (
    AnalysisCompleted,
    AnalysisOptions,
    DashboardReady,
    DatasetIngested,
    DatasetProfiled,
    DatasetTransformed,
    DatasetUploaded,
    IngestOptions,
    StageFailed,
)
from shared_contracts.profile import Profile

__all__ = ["Outcome", "StageFractions", "Until", "run_pipeline", "run_sync", "services_for"]

Until = Literal["profile", "etl", "dashboard"]
"""How far a command goes: the services it runs (the events decide their order)."""


def services_for(until: Until) -> list[ServiceSpec]:
    """The services a command needs, as their bootstraps describe them."""
    from dsp_etl.bootstrap import service_spec as etl
    from dsp_ingest.bootstrap import service_spec as ingest
    from dsp_profile.bootstrap import service_spec as profile

    services = [ingest(), profile()]
    if until in ("etl", "dashboard"):
        services.append(etl())
    if until == "dashboard":
        from dsp_dashboard.bootstrap import service_spec as dashboard
        from dsp_ml.bootstrap import service_spec as ml

        services += [ml(), dashboard()]
    return services


# where the documents an event points at are written in the output directory
_OUTPUTS: dict[type, dict[str, str]] = {
    DatasetIngested: {"ingest_report": "ingest-report.json"},
    DatasetProfiled: {"profile": "profile.json"},
    DatasetTransformed: {"cleaned_parquet": "cleaned.parquet", "cleaned_csv": "cleaned.csv",
                         "etl_report": "etl-report.json", "pipeline": "pipeline.json",
                         "typed_parquet": "typed.parquet"},
    AnalysisCompleted: {"analysis_result": "analysis.json"},
    DashboardReady: {"html": "dashboard.html", "zip": "dashboard.zip", "pdf": "report.pdf"},
}


@dataclass
class Outcome:
    """What a run produced: the documents it wrote, or the failure that ended it."""

    events: list[Envelope[Any]]
    failure: StageFailed | None = None
    profile: Profile | None = None
    etl_report: EtlReport | None = None
    analysis: AnalysisResult | None = None


def _write_outputs(store: ArtifactStore, envelope: Envelope[Any], out: Path) -> None:
    payload = envelope.payload
    for field_name, name in _OUTPUTS.get(type(payload), {}).items():
        ref: ArtifactRef | None = getattr(payload, field_name)
        if ref is not None:
            store.fetch_to(ref, out / name)
    if isinstance(payload, AnalysisCompleted) and payload.model is not None:
        import shutil

        shutil.rmtree(out / "model", ignore_errors=True)
        store.fetch_dir(payload.model, out / "model")


async def run_pipeline(file: Path, out: Path, *, work: Path, until: Until, ingest: IngestOptions,
                       analysis: dict[str, Any] | None, on_progress: ProgressListener | None = None) -> Outcome:
    """Upload ``file`` to an in-process mesh of the stages ``until`` needs, drain it, write the documents to ``out``.

    Parameters
    ----------
    file
        The table to read (any format ingest recognises).
    out
        Directory for the documents (profile.json, cleaned data, analysis.json, dashboard.html, ...).
    work
        Scratch directory for the artifact store of the run.
    until
        ``profile`` stops at the profile, ``etl`` at the cleaned data, ``dashboard`` runs everything.
    ingest, analysis
        How to read the file, and what the analysis should do (``None``: no analysis).
    """
    requested_at = datetime.now(UTC)  # the time budget counts from here, loading the stages included
    store = LocalArtifactStore(work / "store")
    dataset_id, job_id = uuid.uuid4(), uuid.uuid4()
    raw = store.put_file(artifact_key("datasets", dataset_id, "raw"), file, media_type="text/csv")
    options = AnalysisOptions.model_validate({k: v for k, v in analysis.items() if v is not None}) \
        if analysis is not None else None
    mesh = InMemoryMesh(services_for(until), store, on_progress=on_progress)
    # the analysis gets what loading the stages, reading, profiling and cleaning leave of the budget
    requested = options.model_copy(update={"requested_at": requested_at}) if options is not None else None
    mesh.publish(DatasetUploaded(dataset_id=dataset_id, raw=raw, display_name=file.name, ingest=ingest,
                                 analysis=requested), job_id=job_id)
    events = await mesh.drain()
    outcome = Outcome(events=events)
    for envelope in events:
        payload = envelope.payload
        if isinstance(payload, StageFailed):
            outcome.failure = outcome.failure or payload
            continue
        _write_outputs(store, envelope, out)
        if isinstance(payload, DatasetProfiled):
            outcome.profile = Profile.model_validate_json(store.read_bytes(payload.profile))
        elif isinstance(payload, DatasetTransformed):
            outcome.etl_report = EtlReport.model_validate_json(store.read_bytes(payload.etl_report))
        elif isinstance(payload, AnalysisCompleted):
            outcome.analysis = AnalysisResult.model_validate_json(store.read_bytes(payload.analysis_result))
    return outcome


def run_sync(file: Path, out: Path, *, work: Path, until: Until, ingest: IngestOptions,
             analysis: dict[str, Any] | None, on_progress: ProgressListener | None = None) -> Outcome:
    """``run_pipeline`` from synchronous code: in this thread, or in a thread of its own when this one already runs
    an event loop (a Jupyter kernel does)."""
    job = run_pipeline(file, out, work=work, until=until, ingest=ingest, analysis=analysis, on_progress=on_progress)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(job)
    done: list[Outcome] = []
    failed: list[BaseException] = []

    def worker() -> None:
        try:
            done.append(asyncio.run(job))
        except BaseException as exc:  # re-raised in the caller's thread
            failed.append(exc)

    thread = threading.Thread(target=worker, name="dsp-pipeline")
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    return done[0]


@dataclass
class StageFractions:
    """The run's overall fraction done: the mean of each stage's own fraction (stages report from their threads)."""

    stages: int
    done: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, stage: str, fraction: float) -> float:
        """Record a stage's fraction (it never goes back) and return the overall one, 0..1."""
        self.done[stage] = max(self.done.get(stage, 0.0), fraction)
        return min(1.0, sum(self.done.values()) / max(self.stages, 1))
