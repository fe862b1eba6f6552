"""The settings of a service's pool and worker processes, checked at start."""

from __future__ import annotations

import pytest
from mesh_kit.cli import run_service_cli
from mesh_kit.ports import ServiceSpec
from mesh_kit.settings import MeshSettings
from pydantic import ValidationError
from shared_contracts.manifest import SERVICES


def test_the_pool_bounds_are_read_from_the_environment_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSP_DB_POOL_MIN_SIZE", "2")
    monkeypatch.setenv("DSP_DB_POOL_MAX_SIZE", "20")
    settings = MeshSettings()
    assert (settings.db_pool_min_size, settings.db_pool_max_size) == (2, 20)
    with pytest.raises(ValidationError, match="DSP_DB_POOL_MIN_SIZE"):
        MeshSettings(db_pool_min_size=8, db_pool_max_size=4)
    with pytest.raises(ValidationError):
        MeshSettings(http_workers=0)


def test_the_pool_opens_every_connection_at_start_for_the_api_and_one_for_a_stage(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DSP_DB_POOL_MIN_SIZE", raising=False)
    monkeypatch.setenv("DSP_DB_POOL_MAX_SIZE", "6")
    settings = MeshSettings()
    assert (settings.pool_min_size(serves_api=True), settings.pool_min_size(serves_api=False)) == (6, 1)
    monkeypatch.setenv("DSP_DB_POOL_MIN_SIZE", "2")
    assert MeshSettings().pool_min_size(serves_api=True) == 2


def test_a_stage_refuses_more_than_one_worker_process(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DSP_HTTP_WORKERS", "2")
    assert run_service_cli(lambda: ServiceSpec(manifest=SERVICES["profile"]), ["serve"]) == 2
    assert "DSP_HTTP_WORKERS=2 is refused" in capsys.readouterr().err
