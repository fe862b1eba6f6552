"""The ``dsp`` command: the whole pipeline in one process, with no broker and no database.

This is the one place that composes every stage core: ingest -> profile -> etl -> ml -> dashboard.
"""

from __future__ import annotations

import os

# Polars' allocator returns freed memory to the system at once instead of keeping it for reuse:
# peak memory of a large profile drops by about half a gigabyte. It must be set before polars loads.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")

import shutil  # noqa: E402
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from shared_contracts.events import IngestOptions
from shared_contracts.progress import ProgressFn

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Profile, clean, analyse and chart a CSV in one process.")
err = Console(stderr=True)


class StageFailure(Exception):
    def __init__(self, stage: str, code: str, message: str) -> None:
        super().__init__(message)
        self.stage, self.code, self.message = stage, code, message


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str, float, float], ProgressFn]]:
    """Yields a factory of per-stage callbacks that drive one overall progress bar."""
    with Progress(TextColumn("[bold]{task.description:<10}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TextColumn("{task.fields[message]}"), TimeElapsedColumn(), console=err,
                  disable=not enabled, transient=False) as bar:
        task = bar.add_task("starting", total=1.0, message="")

        def stage(name: str, start: float, end: float) -> ProgressFn:
            def report(fraction: float, message: str) -> None:
                bar.update(task, description=name, completed=start + (end - start) * max(0.0, min(1.0, fraction)),
                           message=message[:60])
            report(0.0, "")
            return report

        yield stage
        bar.update(task, description="done", completed=1.0, message="")


def _ingest_options(schema: Path | None, rules: Path | None, bad_rows: str) -> IngestOptions:
    overrides: dict[str, str] = {}
    if schema is not None:
        text = schema.read_text()
        data = _load_mapping(text, schema)
        overrides = {str(k): str(v) for k, v in (data.get("columns", data)).items()}
    validation_rules: list[dict] = []
    if rules is not None:
        data = _load_mapping(rules.read_text(), rules)
        validation_rules = data.get("rules", data) if isinstance(data, dict) else data
    return IngestOptions(type_overrides=overrides, bad_rows=bad_rows, validation_rules=validation_rules)


def _load_mapping(text: str, path: Path) -> dict:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise typer.BadParameter(f"{path} is not valid JSON or YAML: {exc}") from exc
    if not isinstance(data, dict | list):
        raise typer.BadParameter(f"{path} must hold a mapping")
    return data  # type: ignore[return-value]


def _run_ingest_profile(file: Path, work: Path, out: Path, *, options: IngestOptions, target: str | None,
                        stage: Callable[[str, float, float], ProgressFn], span: tuple[float, float]):
    from dsp_ingest.domain import IngestError, ingest_csv
    from dsp_profile.domain import profile_dataset

    parquet = work / "data.parquet"
    lo, hi = span
    mid = lo + (hi - lo) * 0.5
    try:
        report = ingest_csv(file, parquet, options=options, progress=stage("ingest", lo, mid))
    except IngestError as exc:
        raise StageFailure("ingest", exc.code, exc.message) from exc
    (out / "ingest-report.json").write_text(report.model_dump_json(indent=2))
    names = [c.name for c in report.columns]
    if target is not None and target not in names:
        raise StageFailure("profile", "target_not_found",
                           f"The target column {target!r} is not in the file; its columns are: {', '.join(names)}")
    profile = profile_dataset(parquet, semantic_types={c.name: c.semantic_type for c in report.columns},
                              target=target, progress=stage("profile", mid, hi))
    (out / "profile.json").write_text(profile.model_dump_json(indent=2))
    return parquet, report, profile


def _etl_config(path: Path | None):
    """The ETL config file, validated; a bad one ends the command with a clear error."""
    from etl_core import ConfigError, load_config

    if path is None:
        return None
    try:
        return load_config(path.read_text())
    except ConfigError as exc:
        err.print(f"[red]error[/red] (etl: invalid_config): {exc}")
        raise typer.Exit(code=2) from exc


def _fail(exc: StageFailure) -> None:
    err.print(f"[red]error[/red] ({exc.stage}: {exc.code}): {exc.message}")
    raise typer.Exit(code=2)


def _check_input(file: Path) -> None:
    if not file.exists():
        raise typer.BadParameter(f"{file} does not exist", param_hint="FILE")
    if file.is_dir():
        raise typer.BadParameter(f"{file} is a directory", param_hint="FILE")


FileArg = Annotated[Path, typer.Argument(help="The CSV file to read (any encoding, delimiter or NA tokens)")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Directory for the results")]
SchemaOpt = Annotated[Path | None, typer.Option("--schema", help="JSON/YAML mapping column -> semantic type")]
RulesOpt = Annotated[Path | None, typer.Option("--rules", help="JSON/YAML validation rules")]
BadRowsOpt = Annotated[str, typer.Option("--bad-rows", help="reject: refuse ragged rows; skip: drop and report")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")]


@app.command()
def profile(file: FileArg, out: OutOpt = Path("out"), schema: SchemaOpt = None, rules: RulesOpt = None,
            target: Annotated[str | None, typer.Option(help="Target column (enables the leakage check)")] = None,
            bad_rows: BadRowsOpt = "reject", quiet: QuietOpt = False) -> None:
    """Read and profile FILE; writes OUT/profile.json and OUT/ingest-report.json."""
    _check_input(file)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dsp-") as tmp, _progress(not quiet) as stage:
        try:
            _, _, prof = _run_ingest_profile(file, Path(tmp), out, options=_ingest_options(schema, rules, bad_rows),
                                             target=target, stage=stage, span=(0.0, 1.0))
        except StageFailure as exc:
            _fail(exc)
    err.print(f"profiled {prof.dataset.rows} rows x {prof.dataset.columns} columns in "
              f"{time.perf_counter() - started:.1f}s; quality {prof.quality.score:.0f}/100, {len(prof.alerts)} alerts")
    print(out / "profile.json")


@app.command()
def etl(file: FileArg, out: OutOpt = Path("out"),
        config: Annotated[Path | None, typer.Option("--config", help="ETL config (YAML or JSON)")] = None,
        fmt: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
        target: Annotated[str | None, typer.Option(help="Target column (kept out of feature steps)")] = None,
        schema: SchemaOpt = None, bad_rows: BadRowsOpt = "reject", quiet: QuietOpt = False) -> None:
    """Read, profile and clean FILE; writes OUT/cleaned.<format> and OUT/etl_report.json."""
    from etl_core import run_etl

    _check_input(file)
    if fmt not in ("parquet", "csv"):
        raise typer.BadParameter("--format must be parquet or csv")
    cfg = _etl_config(config)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dsp-") as tmp, _progress(not quiet) as stage:
        try:
            parquet, _, prof = _run_ingest_profile(file, Path(tmp), out, options=_ingest_options(schema, None, bad_rows),
                                                   target=target, stage=stage, span=(0.0, 0.5))
            result = run_etl(parquet, prof, out_dir=out, config=cfg, target=target,
                             formats=("parquet", "csv") if fmt == "csv" else ("parquet",),
                             progress=stage("etl", 0.5, 1.0))
        except StageFailure as exc:
            _fail(exc)
        except ValueError as exc:
            _fail(StageFailure("etl", "etl_failed", str(exc)))
    err.print(f"{result.report.rows_in} rows in, {result.report.rows_out} out, "
              f"{len(result.report.plan.steps)} steps")
    print(result.paths["csv" if fmt == "csv" else "parquet"])


@app.command()
def analyze(file: FileArg, out: OutOpt = Path("out"),
            target: Annotated[str | None, typer.Option(help="Column to predict; omit for unsupervised analysis")] = None,
            time_budget: Annotated[float, typer.Option("--time-budget", help="Seconds for AutoML")] = 60.0,
            pdf: Annotated[bool, typer.Option("--pdf", help="Also write OUT/report.pdf")] = False,
            config: Annotated[Path | None, typer.Option("--config", help="ETL config (YAML or JSON)")] = None,
            keep_leaky: Annotated[bool, typer.Option("--keep-leaky", help="Keep features flagged as leakage")] = False,
            keep_column: Annotated[list[str] | None, typer.Option(
                "--keep-column", help="Use this identifier-like column as a model feature (repeatable)")] = None,
            theme: Annotated[str, typer.Option(help="light or dark")] = "light",
            schema: SchemaOpt = None, rules: RulesOpt = None, bad_rows: BadRowsOpt = "reject",
            quiet: QuietOpt = False) -> None:
    """Run the whole pipeline on FILE; writes profile.json, analysis.json and dashboard.html to OUT."""
    from dsp_dashboard.domain import build_dashboard
    from dsp_ml.domain import AnalysisError
    from dsp_ml.domain import analyze as run_analysis
    from etl_core import run_etl

    _check_input(file)
    if theme not in ("light", "dark"):
        raise typer.BadParameter("--theme must be light or dark")
    cfg = _etl_config(config)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dsp-") as tmp, _progress(not quiet) as stage:
        work = Path(tmp)
        try:
            parquet, _, prof = _run_ingest_profile(file, work, out, options=_ingest_options(schema, rules, bad_rows),
                                                   target=target, stage=stage, span=(0.0, 0.15))
            etl_dir = work / "etl"
            try:
                cleaned = run_etl(parquet, prof, out_dir=etl_dir, config=cfg, target=target,
                                  formats=("parquet", "csv"), progress=stage("etl", 0.15, 0.25))
            except ValueError as exc:
                raise StageFailure("etl", "etl_failed", str(exc)) from exc
            for name in ("cleaned.parquet", "cleaned.csv", "pipeline.json", "etl_report.json"):
                if (etl_dir / name).exists():
                    shutil.copyfile(etl_dir / name, out / name)
            model_dir = out / "model"
            if model_dir.exists():
                shutil.rmtree(model_dir)
            try:
                result = run_analysis(cleaned.paths["parquet"], target=target, time_budget_s=time_budget,
                                      model_dir=model_dir, keep_leaky_features=keep_leaky,
                                      keep_columns=keep_column or (), profile=prof,
                                      progress=stage("ml", 0.25, 0.85))
            except AnalysisError as exc:
                raise StageFailure("ml", exc.code, exc.message) from exc
            (out / "analysis.json").write_text(result.model_dump_json(indent=2))
            html = build_dashboard(data=cleaned.paths["parquet"], profile=prof, etl_report=cleaned.report, analysis=result,
                                   title=f"{file.name}: analysis", theme=theme,  # type: ignore[arg-type]
                                   progress=stage("dashboard", 0.85, 0.95 if pdf else 1.0))
            (out / "dashboard.html").write_text(html, encoding="utf-8")
            if pdf:
                from dsp_dashboard.adapters.pdf import render_pdf

                stage("pdf", 0.95, 1.0)(0.0, "rendering in Chromium")
                (out / "report.pdf").write_bytes(render_pdf(html))
        except StageFailure as exc:
            _fail(exc)
    err.print(f"analysed {prof.dataset.rows} rows x {prof.dataset.columns} columns in "
              f"{time.perf_counter() - started:.1f}s; task: {result.task.task_type}; "
              f"{len(result.insights)} insights")
    for warning in result.warnings:
        err.print(f"[yellow]note[/yellow]: {warning}")
    print(f"dashboard: {(out / 'dashboard.html').resolve()}")


@app.command()
def export(out: Annotated[Path, typer.Argument(help="A directory written by `dsp analyze`")],
           fmt: Annotated[str, typer.Option("--format", help="pdf, zip, csv or parquet")] = "pdf",
           dest: Annotated[Path | None, typer.Option("--to", help="Where to write the export")] = None) -> None:
    """Export the results of a `dsp analyze` run: the dashboard as PDF or zip, or the cleaned data."""
    html_path = out / "dashboard.html"
    if fmt in ("pdf", "zip") and not html_path.exists():
        raise typer.BadParameter(f"{out} holds no dashboard.html; run `dsp analyze` first")
    if fmt == "pdf":
        from dsp_dashboard.adapters.pdf import render_pdf

        target = dest or out / "report.pdf"
        target.write_bytes(render_pdf(html_path.read_text(encoding="utf-8")))
    elif fmt == "zip":
        from dsp_dashboard.domain import build_zip

        target = dest or out / "dashboard.zip"
        target.write_bytes(build_zip(html_path.read_text(encoding="utf-8")))
    elif fmt in ("csv", "parquet"):
        source = out / f"cleaned.{fmt}"
        if not source.exists():
            raise typer.BadParameter(f"{source} does not exist; run `dsp analyze` or `dsp etl` first")
        target = dest or source
        if target != source:
            shutil.copyfile(source, target)
    else:
        raise typer.BadParameter("--format must be pdf, zip, csv or parquet")
    print(target)


def main() -> None:  # pragma: no cover - console entry
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover
    app()
