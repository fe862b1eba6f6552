"""The service manifest describes a mesh that can work: every consumed event has a producer."""

from __future__ import annotations

import doctest

import pytest
from shared_contracts import EVENT_REGISTRY, manifest
from shared_contracts.manifest import ALL_EVENTS, SERVICES, service


def test_names_ports_and_packages_are_distinct() -> None:
    ports = [svc.port for svc in SERVICES.values()]
    assert len(set(ports)) == len(ports), ports
    assert all(1024 <= port < 65536 for port in ports), ports
    assert [svc.name for svc in SERVICES.values()] == list(SERVICES)
    packages = {svc.package for svc in SERVICES.values()}
    assert len(packages) == len(SERVICES)
    for svc in SERVICES.values():
        assert svc.package.isidentifier() and svc.distribution == svc.package.replace("_", "-")
        assert svc.description.strip().endswith("."), svc.name


def test_every_subscribed_event_is_published_by_another_service() -> None:
    for svc in SERVICES.values():
        assert len(set(svc.subscribes)) == len(svc.subscribes), f"{svc.name} subscribes twice to an event"
        for event in svc.subscribes:
            producers = [other.name for other in SERVICES.values() if event in other.publishes]
            assert producers, f"{svc.name} waits for {event.routing_key()}, which nobody publishes"
            if not svc.catch_all:
                assert svc.name not in producers, f"{svc.name} consumes its own {event.routing_key()}"


def test_every_published_event_is_registered_and_every_registered_event_is_published() -> None:
    published = {event for svc in SERVICES.values() for event in svc.publishes}
    assert published <= set(EVENT_REGISTRY.values())
    unpublished = set(EVENT_REGISTRY.values()) - published
    assert not unpublished, sorted(event.routing_key() for event in unpublished)


def test_the_gateway_alone_reads_every_event_and_binds_every_key() -> None:
    gateway = SERVICES["gateway"]
    assert gateway.catch_all and gateway.binding_keys == ("#",)
    assert set(gateway.subscribes) == set(ALL_EVENTS) == set(EVENT_REGISTRY.values())
    for svc in SERVICES.values():
        if svc.name != "gateway":
            assert not svc.catch_all, svc.name
            assert svc.binding_keys == svc.routing_keys, svc.name


def test_the_job_flows_through_the_stages_in_order() -> None:
    """Starting from an upload, following subscriptions reaches the dashboard through every stage."""
    reached = ["gateway"]
    event = SERVICES["gateway"].publishes[0]
    while event.routing_key() != "dashboard.ready.v1":
        (stage,) = [s for s in SERVICES.values() if not s.catch_all and event in s.subscribes]
        reached.append(stage.name)
        event = stage.publishes[0]
    assert reached == list(SERVICES)


def test_an_unknown_service_is_named_in_the_error() -> None:
    with pytest.raises(KeyError, match="'billing'.*known: gateway, ingest"):
        service("billing")


def test_docstring_examples_hold() -> None:
    result = doctest.testmod(manifest)
    assert result.attempted >= 2 and result.failed == 0


def test_the_command_prints_one_name_and_port_per_service(capsys: pytest.CaptureFixture[str]) -> None:
    assert manifest.main() == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"{svc.name} {svc.port}" for svc in SERVICES.values()]
