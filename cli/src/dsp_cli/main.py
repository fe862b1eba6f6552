"""The ``dsp`` command: the services' own use cases in one process, with no broker and no database
(``dsp serve``: the whole platform in one process over embedded databases, see ``dsp_cli.serve``).

The command is an adapter, like the gateway: it puts the file in a local artifact store, publishes
``dataset.uploaded`` on an in-process mesh of the stages it needs (``mesh_kit.memory``), drains it,
and writes the documents the events point at into the output directory. The stages, their order
and their checks belong to the services; nothing here knows them.
"""

from __future__ import annotations

import os

from mesh_kit.allocator import JEMALLOC_CONF, return_freed_memory

# Polars' freed memory goes back to the system within 0.1 s instead of being kept for reuse (see
# mesh_kit.allocator): the peak of a large profile is what it holds, not what it held. jemalloc reads its setting
# when polars loads, so it is set before anything imports polars.
os.environ.setdefault("_RJEM_MALLOC_CONF", JEMALLOC_CONF)

import logging  # noqa: E402
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from shared_contracts.events import IngestOptions

from .options import TASKS, OptionError, analysis_options, ingest_options, load_mapping
from .run import (
    COMPARE_STEPS,
    ComparisonOutcome,
    Interrupted,
    Outcome,
    StageFractions,
    Until,
    compare_sync,
    run_sync,
    services_for,
)

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Profile, clean, analyse and chart a table (CSV, Parquet, Excel, JSON...) in one process.")
err = Console(stderr=True)

class _Bar:
    """One progress bar over every stage of the run: the mean of each stage's own fraction."""

    def __init__(self, progress: Progress, stages: int) -> None:
        self.progress = progress
        self.task = progress.add_task("starting", total=1.0, message="")
        self.fractions = StageFractions(stages)
        self.finished = False

    def __call__(self, stage: str, fraction: float, message: str) -> None:
        with self.fractions.lock:
            overall = self.fractions.add(stage, fraction)
            self.progress.update(self.task, description=stage, completed=overall, message=message[:60])


@contextmanager
def _progress(enabled: bool, stages: int) -> Iterator[_Bar]:
    with Progress(TextColumn("[bold]{task.description:<10}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TextColumn("{task.fields[message]}"), TimeElapsedColumn(), console=err,
                  disable=not enabled, transient=False) as progress:
        bar = _Bar(progress, stages)
        yield bar
        if bar.finished:
            progress.update(bar.task, description="done", completed=1.0, message="")


def _load_mapping(path: Path) -> Any:
    try:
        return load_mapping(path)
    except OptionError as exc:
        raise typer.BadParameter(str(exc)) from exc


def _ingest_options(schema: Path | None, rules: Path | None, bad_rows: str, sheet: str | None = None) -> IngestOptions:
    try:
        return ingest_options(schema, rules, bad_rows, sheet)
    except OptionError as exc:
        raise typer.BadParameter(str(exc)) from exc


def _check_input(file: Path) -> None:
    if not file.exists():
        raise typer.BadParameter(f"{file} does not exist", param_hint="FILE")
    if file.is_dir():
        raise typer.BadParameter(f"{file} is a directory", param_hint="FILE")


def _cancelled(out: Path, made: bool) -> NoReturn:
    """End a cancelled command: one line, exit code 130 (128 + SIGINT), and ``out`` as it was.

    The process ends at once, without the interpreter's final collection of the stages' memory, which
    takes seconds after an AutoML run; the scratch directory is already removed.
    """
    if made:
        shutil.rmtree(out, ignore_errors=True)
    err.print(f"Cancelled; nothing was written to {out}")
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(130)


def _exit_on_failure(outcome: Outcome | ComparisonOutcome) -> None:
    """A stage failure is printed, and exits 2."""
    if outcome.failure is not None:
        failed = outcome.failure
        err.print(f"[red]error[/red] ({failed.stage}: {failed.code}): {failed.reason}")
        raise typer.Exit(code=2)


RunOutcome = TypeVar("RunOutcome", Outcome, ComparisonOutcome)


def _collect(out: Path, *, stages: int, quiet: bool, run: Callable[[Path, _Bar], RunOutcome]) -> RunOutcome:
    """Run a command's pipeline (``run(work, bar)``) under its progress bar; a stage failure exits 2.

    Ctrl-C cancels the job: the stages stop within seconds, nothing is written to ``out`` and the command
    exits 130; a second Ctrl-C exits at once.
    """
    made = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix="dsp-") as tmp, _progress(not quiet, stages=stages) as bar:
            try:
                outcome = run(Path(tmp), bar)
            except Interrupted as stop:
                if not stop.stopped:  # a second Ctrl-C: the stages stop on their own, the command does not wait
                    shutil.rmtree(tmp, ignore_errors=True)
                    _cancelled(out, made)
                raise
            bar.finished = outcome.failure is None and outcome.cancelled is None
    except Interrupted:
        _cancelled(out, made)
    if outcome.cancelled is not None:  # cancelled by other means than Ctrl-C: nothing was written either
        _cancelled(out, made)
    _exit_on_failure(outcome)
    return outcome


def _run(file: Path, out: Path, *, until: Until, ingest: IngestOptions, analysis: dict[str, Any] | None,
         quiet: bool) -> Outcome:
    """Run the pipeline up to ``until`` and write its documents to ``out``; a stage failure exits 2.

    Ctrl-C cancels the job: the stages stop within seconds, nothing is written to ``out`` and the command
    exits 130; a second Ctrl-C exits at once.
    """
    _check_input(file)
    return _collect(out, stages=len(services_for(until)), quiet=quiet,
                    run=lambda work, bar: run_sync(file, out, work=work, until=until, ingest=ingest,
                                                   analysis=analysis, on_progress=bar))


FileArg = Annotated[Path, typer.Argument(help=(
    "The table to read: CSV or other delimited text (any encoding, delimiter or NA tokens), Parquet, Arrow/Feather, "
    "Excel (.xlsx, .xlsb, .xls), .ods, JSON or NDJSON, or gzip/zstd/bzip2 of CSV or JSON; recognised by content"))]
SheetOpt = Annotated[str | None, typer.Option("--sheet", help=(
    "Workbook sheet to read: its name, or its 0-based position; default the first sheet holding any value"))]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Directory for the results")]
SchemaOpt = Annotated[Path | None, typer.Option("--schema", help="JSON/YAML mapping column -> semantic type")]
RulesOpt = Annotated[Path | None, typer.Option("--rules", help=(
    "JSON/YAML validation rules: a list, or {rules: [...], block_on_validation_error: true} to refuse the file "
    "when a rule of severity error is broken"))]
BadRowsOpt = Annotated[str, typer.Option("--bad-rows", help="reject: refuse ragged rows; skip: drop and report")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="ETL config (YAML or JSON)")]


@app.command()
def profile(file: FileArg, out: OutOpt = Path("out"), schema: SchemaOpt = None, rules: RulesOpt = None,
            target: Annotated[str | None, typer.Option(help="Target column (enables the leakage check)")] = None,
            bad_rows: BadRowsOpt = "reject", sheet: SheetOpt = None, quiet: QuietOpt = False) -> None:
    """Read and profile FILE; writes OUT/profile.json and OUT/ingest-report.json."""
    started = time.perf_counter()
    outcome = _run(file, out, until="profile", ingest=_ingest_options(schema, rules, bad_rows, sheet),
                   analysis={"target": target} if target else None, quiet=quiet)
    prof = outcome.profile
    assert prof is not None
    err.print(f"profiled {prof.dataset.rows} rows x {prof.dataset.columns} columns in "
              f"{time.perf_counter() - started:.1f}s; quality {prof.quality.score:.0f}/100, {len(prof.alerts)} alerts")
    print(out / "profile.json")


@app.command()
def etl(file: FileArg, out: OutOpt = Path("out"), config: ConfigOpt = None,
        fmt: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
        target: Annotated[str | None, typer.Option(help="Target column (kept out of feature steps)")] = None,
        schema: SchemaOpt = None, bad_rows: BadRowsOpt = "reject", sheet: SheetOpt = None,
        quiet: QuietOpt = False) -> None:
    """Read, profile and clean FILE; writes OUT/cleaned.<format>, OUT/pipeline.json and OUT/etl-report.json."""
    if fmt not in ("parquet", "csv"):
        raise typer.BadParameter("--format must be parquet or csv")
    analysis = {"target": target, "etl_config": _load_mapping(config) if config else None}
    outcome = _run(file, out, until="etl", ingest=_ingest_options(schema, None, bad_rows, sheet), analysis=analysis,
                   quiet=quiet)
    report = outcome.etl_report
    assert report is not None
    err.print(f"{report.rows_in} rows in, {report.rows_out} out, {len(report.plan.steps)} steps")
    print(out / f"cleaned.{fmt}")


@app.command()
def analyze(file: FileArg, out: OutOpt = Path("out"),
            target: Annotated[str | None, typer.Option(help="Column to predict; omit for unsupervised analysis")] = None,
            time_budget: Annotated[float, typer.Option("--time-budget", help="Seconds for the whole job: the analysis gets what reading, profiling and cleaning leave, AutoML what remains after its fixed steps")] = 60.0,
            pdf: Annotated[bool, typer.Option("--pdf", help="Also write OUT/report.pdf")] = False,
            config: ConfigOpt = None,
            keep_leaky: Annotated[bool, typer.Option("--keep-leaky", help="Keep features flagged as leakage")] = False,
            keep_column: Annotated[list[str] | None, typer.Option(
                "--keep-column", help="Use this identifier-like column as a model feature (repeatable)")] = None,
            theme: Annotated[str, typer.Option(help="light or dark")] = "light",
            task: Annotated[str, typer.Option(
                "--task", help=f"{', '.join(TASKS)}; auto detects it, any other is final")] = "auto",
            exclude: Annotated[list[str] | None, typer.Option(
                "--exclude", help="Leave this column out of the analysis (repeatable)")] = None,
            id_column: Annotated[list[str] | None, typer.Option(
                "--id", help="This column identifies rows: never a model feature (repeatable)")] = None,
            schema: SchemaOpt = None, rules: RulesOpt = None, bad_rows: BadRowsOpt = "reject",
            sheet: SheetOpt = None, quiet: QuietOpt = False) -> None:
    """Run the whole pipeline on FILE; writes profile.json, analysis.json and dashboard.html to OUT."""
    try:
        analysis = analysis_options(target=target, time_budget=time_budget, pdf=pdf, config=config,
                                    keep_leaky=keep_leaky, keep_column=keep_column, theme=theme, task=task,
                                    exclude=exclude, id_column=id_column)
    except OptionError as exc:
        raise typer.BadParameter(str(exc)) from exc
    started = time.perf_counter()
    outcome = _run(file, out, until="dashboard", ingest=_ingest_options(schema, rules, bad_rows, sheet),
                   analysis=analysis, quiet=quiet)
    prof, result = outcome.profile, outcome.analysis
    assert prof is not None and result is not None
    err.print(f"analysed {prof.dataset.rows} rows x {prof.dataset.columns} columns in "
              f"{time.perf_counter() - started:.1f}s; task: {result.task.task_type}; "
              f"{len(result.insights)} insights")
    for warning in result.warnings:
        err.print(f"[yellow]note[/yellow]: {warning}")
    print(f"dashboard: {(out / 'dashboard.html').resolve()}")


@app.command()
def compare(file_a: Annotated[Path, typer.Argument(metavar="A", help=(
                "The reference table (last month's export, the training data), in any format FILE takes"))],
            file_b: Annotated[Path, typer.Argument(metavar="B", help="The table compared with A")],
            out: OutOpt = Path("out"),
            target: Annotated[str | None, typer.Option(help=(
                "Also check whether the relation of the features to this column moved: a model trained on A, "
                "scored on A's holdout and on B"))] = None,
            theme: Annotated[str, typer.Option(help="light or dark")] = "light",
            json_out: Annotated[bool, typer.Option("--json", help="Print the comparison document as JSON")] = False,
            top: Annotated[int, typer.Option("--top", min=0, help="How many findings to print")] = 10,
            schema: SchemaOpt = None, rules: RulesOpt = None, bad_rows: BadRowsOpt = "reject",
            sheet: SheetOpt = None, quiet: QuietOpt = False) -> None:
    """Compare B with A: schema, per-column shift, missingness, rows; prints the findings, most important first.

    Writes comparison.json, comparison.html (its dashboard), profile-a.json and profile-b.json to OUT. Both files
    are read with the same options.
    """
    if theme not in ("light", "dark"):
        raise typer.BadParameter("--theme must be light or dark")
    for file, hint in ((file_a, "A"), (file_b, "B")):
        if not file.exists():
            raise typer.BadParameter(f"{file} does not exist", param_hint=hint)
        if file.is_dir():
            raise typer.BadParameter(f"{file} is a directory", param_hint=hint)
    ingest = _ingest_options(schema, rules, bad_rows, sheet)
    started = time.perf_counter()
    outcome = _collect(out, stages=COMPARE_STEPS, quiet=quiet,
                       run=lambda work, bar: compare_sync(file_a, file_b, out, work=work, ingest=ingest, target=target,
                                                          theme=theme, on_progress=bar))  # type: ignore[arg-type]
    comparison = outcome.comparison
    assert comparison is not None
    if json_out:
        print(comparison.model_dump_json(indent=2))
        return
    rows = comparison.rows
    err.print(f"compared {rows.rows_b} rows of {comparison.name_b} with {rows.rows_a} of {comparison.name_a} in "
              f"{time.perf_counter() - started:.1f}s; {len(comparison.schema_diff.common)} common columns")
    findings = [f for f in comparison.findings if f.severity != "none"]
    if not findings:
        print("no change above the thresholds")
    for finding in findings[:top]:
        print(f"{finding.rank}. [{finding.severity}] {finding.title}")
    if len(findings) > top:
        print(f"... and {len(findings) - top} more in comparison.json")
    print(f"dashboard: {(out / 'comparison.html').resolve()}")


@app.command()
def export(out: Annotated[Path, typer.Argument(help="A directory written by `dsp analyze`")],
           fmt: Annotated[str, typer.Option("--format", help="pdf, zip, csv or parquet")] = "pdf",
           dest: Annotated[Path | None, typer.Option("--to", help="Where to write the export")] = None) -> None:
    """Export the results of a `dsp analyze` run: the dashboard as PDF or zip, or the cleaned data."""
    if fmt not in ("pdf", "zip", "csv", "parquet"):
        raise typer.BadParameter("--format must be pdf, zip, csv or parquet")
    if fmt == "pdf":
        html_path = out / "dashboard.html"
        if not html_path.exists():
            raise typer.BadParameter(f"{out} holds no dashboard.html; run `dsp analyze` first")
        from dsp_dashboard.adapters.pdf import render_pdf

        target = dest or out / "report.pdf"
        target.write_bytes(render_pdf(html_path.read_text(encoding="utf-8")))
        print(target)
        return
    source = out / {"zip": "dashboard.zip", "csv": "cleaned.csv", "parquet": "cleaned.parquet"}[fmt]
    if not source.exists():
        raise typer.BadParameter(f"{source} does not exist; run `dsp analyze`"
                                 f"{'' if fmt == 'zip' else ' or `dsp etl`'} first")
    target = dest or source
    if target != source:
        shutil.copyfile(source, target)
    print(target)


@app.command()
def serve(port: Annotated[int, typer.Option("--port", "-p", help="Port on 127.0.0.1", min=1, max=65535)] = 8000,
          data: Annotated[Path, typer.Option("--data", help="Directory for the databases and artifacts")] = Path(
              "dsp-data"),
          open_browser: Annotated[bool, typer.Option("--open", help="Open the web UI in a browser")] = False,
          log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning or error")] = "info",
          ) -> None:
    """Run the platform on this machine: the API, the web UI and every stage in one process, on 127.0.0.1 only.

    The databases (SQLite) and the artifacts are kept in DATA; an analysis cut short by a stop resumes at
    the next start. The address printed at start opens the UI signed in as the local admin.
    """
    from .serve import serve as run_server

    if log_level not in ("debug", "info", "warning", "error"):
        raise typer.BadParameter("--log-level must be debug, info, warning or error")
    raise typer.Exit(code=run_server(port=port, data_dir=data, open_browser=open_browser, log_level=log_level))


from .models import models_app, predict_command  # noqa: E402

app.command("predict")(predict_command)
app.add_typer(models_app, name="models")


def main() -> None:  # pragma: no cover - console entry
    """The ``dsp`` command. The C library's part of returning freed memory (``DSP_MALLOC_MMAP_THRESHOLD``, unset by
    default) is set here, for a batch command's own process only: importing this module, as the tests do, leaves
    the importing process' allocator as it is, and ``dsp serve`` (a long-lived server, whose event loop must not pay
    for fresh pages) keeps glibc's default."""
    if sys.argv[1:2] != ["serve"]:
        return_freed_memory()
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover
    main()

