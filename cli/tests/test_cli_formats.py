"""`dsp profile` on the same table given as CSV, Parquet, xlsx, JSON, NDJSON and gzipped CSV: the same profile
statistics, to 1e-9, and the ingest report names the format it recognised. The files are written by the test,
under names that do not tell their format."""

from __future__ import annotations

import gzip
import io
import json
import math
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from dsp_cli.main import app
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
# What a profile says about where the table came from and when, not about its values.
NOT_STATISTICS = {"name", "generated_at", "elapsed_seconds"}


def _table() -> pl.DataFrame:
    """palmerpenguins, with a money column written as text (as a spreadsheet or an API holds it) and a date column."""
    frame = pl.read_csv(ROOT / "samples" / "penguins.csv", null_values=["NA"])
    price = [f"${v:,.2f}" if v is not None else None for v in (frame["body_mass_g"] * 1.5).to_list()]
    days = [f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(frame.height)]
    return frame.with_columns(pl.Series("price", price), pl.Series("observed", days))


def _files(frame: pl.DataFrame, folder: Path) -> dict[str, Path]:
    folder.mkdir()
    paths = {name: folder / f"table-{k}.data" for k, name in enumerate(
        ("csv", "parquet", "xlsx", "json", "ndjson", "csv.gz"))}
    csv_bytes = frame.write_csv().encode()
    paths["csv"].write_bytes(csv_bytes)
    frame.write_parquet(paths["parquet"])
    workbook = io.BytesIO()
    frame.write_excel(workbook, autofit=False)
    paths["xlsx"].write_bytes(workbook.getvalue())
    paths["json"].write_text(json.dumps(frame.to_dicts(), indent=1))
    paths["ndjson"].write_text(frame.write_ndjson())
    paths["csv.gz"].write_bytes(gzip.compress(csv_bytes))
    return paths


def _statistics(profile: dict[str, Any]) -> dict[str, Any]:
    profile = {k: v for k, v in profile.items() if k not in NOT_STATISTICS}
    profile["dataset"] = {k: v for k, v in profile["dataset"].items() if k not in NOT_STATISTICS}
    # how the header was decided is worded after the evidence each format gives; the decision is in the columns
    profile["reading"] = [r for r in profile["reading"] if r["kind"] != "header"]
    return profile


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in _differences(a.get(k), b.get(k), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _differences(x, y, f"{path}[{i}]")]
    if isinstance(a, float) and isinstance(b, float | int) and not isinstance(b, bool):
        return [] if math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) else [f"{path}: {a!r} != {b!r}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def test_dsp_profile_gives_the_same_statistics_for_the_same_table_in_every_format(tmp_path: Path) -> None:
    paths = _files(_table(), tmp_path / "in")
    runner = CliRunner()
    profiles: dict[str, dict[str, Any]] = {}
    for name, path in paths.items():
        out = tmp_path / "out" / name
        result = runner.invoke(app, ["profile", str(path), "--out", str(out), "--quiet"])
        assert result.exit_code == 0, (name, result.output)
        report = json.loads((out / "ingest-report.json").read_text())
        assert (report["source_format"], report["compression"]) == (
            {"csv.gz": "csv"}.get(name, name), "gzip" if name == "csv.gz" else None), name
        profiles[name] = json.loads((out / "profile.json").read_text())
    reference = profiles["csv"]
    columns = {c["name"]: c for c in reference["columns"]}
    assert reference["dataset"]["rows"] == 344 and columns["price"]["semantic_type"] == "currency"
    assert columns["observed"]["semantic_type"] == "date"
    assert columns["bill_length_mm"]["numeric"]["mean"] == pytest.approx(43.9219298245614, rel=1e-12)
    for name, profile in profiles.items():
        assert _differences(_statistics(reference), _statistics(profile)) == [], name


def test_an_unsupported_format_is_one_line_naming_it_and_what_is_read(tmp_path: Path) -> None:
    source = tmp_path / "report.csv"  # the name says CSV; the content is a PDF
    source.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n" + bytes(range(256)))
    result = CliRunner().invoke(app, ["profile", str(source), "--out", str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 2
    assert "unsupported_format" in result.output and "a PDF document" in result.output
    assert "Parquet" in result.output and "NDJSON" in result.output


def test_dsp_sheet_chooses_a_workbook_sheet_by_name_or_position(tmp_path: Path) -> None:
    import xlsxwriter

    src = tmp_path / "book.data"
    book = xlsxwriter.Workbook(str(src))
    book.add_worksheet("Empty")
    for name, rows in {"Sales": [["region", "amount"], ["North", "$1,234.00"], ["South", "$99.50"]],
                       "Units": [["region", "units"], ["North", 3], ["South", 7], ["East", 1]]}.items():
        sheet = book.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                sheet.write(r, c, value)
    book.close()
    runner = CliRunner()
    for args, sheet, rows in (([], "Sales", 2), (["--sheet", "Units"], "Units", 3), (["--sheet", "1"], "Sales", 2)):
        out = tmp_path / f"out-{sheet}-{len(args)}"
        result = runner.invoke(app, ["profile", str(src), "--out", str(out), "--quiet", *args])
        assert result.exit_code == 0, result.output
        report = json.loads((out / "ingest-report.json").read_text())
        assert (report["sheet"], report["row_count"]) == (sheet, rows)
    result = runner.invoke(app, ["profile", str(src), "--out", str(tmp_path / "x"), "--quiet", "--sheet", "Nope"])
    assert result.exit_code == 2 and "unknown_sheet" in result.output and "'Units'" in result.output


# ---- through the upload: the gateway's route, with every stage running in the same process (`dsp serve`) ----

ADMIN, PASSWORD = "admin@formats.example", "a long admin passphrase for the formats test"


@pytest.fixture
async def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import httpx
    from dsp_cli.serve import LocalPlatform

    for name, value in {"DSP_ENVIRONMENT": "development", "DSP_ALLOWED_HOSTS": "127.0.0.1,localhost",
                        "DSP_JWT_SECRET": "x" * 64, "DSP_BOOTSTRAP_ADMIN_EMAIL": ADMIN,
                        "DSP_BOOTSTRAP_ADMIN_PASSWORD": PASSWORD,
                        "DSP_MAX_DECOMPRESSED_BYTES": str(1 << 20)}.items():
        monkeypatch.setenv(name, value)
    local = LocalPlatform(data_dir=tmp_path / "data", port=8000)
    await local.open()
    app = local.app()
    try:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000", timeout=120) as client:
            token = await client.post("/api/v1/auth/token", data={"username": ADMIN, "password": PASSWORD})
            assert token.status_code == 200, token.text
            client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
            yield client
    finally:
        await local.close()


async def _uploaded_profile(client: Any, path: Path) -> dict[str, Any]:
    import asyncio

    response = await client.post("/api/v1/upload", files={"file": (path.name, path.read_bytes())})
    assert response.status_code == 201, response.text
    dataset_id = response.json()["data"]["dataset_id"]
    for _ in range(600):
        profile = await client.get(f"/api/v1/datasets/{dataset_id}/profile")
        if profile.status_code == 200:
            result: dict[str, Any] = profile.json()
            return result
        assert profile.status_code == 409, profile.text
        await asyncio.sleep(0.2)
    raise AssertionError(f"no profile for {path.name}")


async def test_uploads_in_other_formats_give_the_csv_upload_statistics_and_typed_errors(platform: Any,
                                                                                    tmp_path: Path) -> None:
    paths = _files(_table(), tmp_path / "in")
    reference = _statistics(await _uploaded_profile(platform, paths["csv"]))
    for name in ("parquet", "xlsx", "csv.gz"):
        assert _differences(reference, _statistics(await _uploaded_profile(platform, paths[name]))) == [], name

    pdf = await platform.post("/api/v1/upload", files={"file": ("a.csv", b"%PDF-1.7\n" + bytes(range(256)))})
    assert pdf.status_code == 415, pdf.text
    error = pdf.json()["errors"][0]
    assert error["code"] == "unsupported_format" and "a PDF document" in error["message"]
    assert "Parquet" in error["message"] and error["details"]["detected"] == "a PDF document"

    archive = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("data.csv", "a,b\n1,2\n")
    refused = await platform.post("/api/v1/upload", files={"file": ("data.xlsx", archive.getvalue())})
    assert refused.status_code == 422, refused.text
    error = refused.json()["errors"][0]
    assert error["code"] == "unsupported_format" and error["details"]["detected"] == "a ZIP archive that is not a workbook"

    bomb = gzip.compress(b"a,b\n" + b"0,0\n" * (1 << 20), compresslevel=9)  # 4 MiB behind 4 kB; the cap is 1 MiB
    refused = await platform.post("/api/v1/upload", files={"file": ("small.csv.gz", bomb)})
    assert refused.status_code == 422, refused.text
    error = refused.json()["errors"][0]
    assert error["code"] == "decompressed_too_large" and error["details"]["limit_bytes"] == 1 << 20
