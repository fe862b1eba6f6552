"""Each service wires a handler to exactly the events the service manifest says it subscribes to."""

from __future__ import annotations

import importlib

import pytest
from mesh_kit.ports import ServiceSpec
from shared_contracts.manifest import SERVICES


@pytest.fixture(scope="module", params=list(SERVICES))
def spec(request: pytest.FixtureRequest) -> ServiceSpec:
    return importlib.import_module(f"{SERVICES[request.param].package}.bootstrap").service_spec()


def test_bootstrap_names_its_own_manifest_entry(spec: ServiceSpec) -> None:
    assert spec.manifest is SERVICES[spec.name]
    assert spec.package == f"dsp_{spec.name}"
    assert spec.emits == spec.manifest.publishes


def test_bootstrap_handles_exactly_the_subscribed_events(spec: ServiceSpec) -> None:
    handled = [sub.event for sub in spec.subscriptions]
    assert len(set(handled)) == len(handled), f"{spec.name} has two handlers for one event"
    missing = {e.routing_key() for e in spec.manifest.subscribes} - {e.routing_key() for e in handled}
    extra = {e.routing_key() for e in handled} - {e.routing_key() for e in spec.manifest.subscribes}
    assert not missing, f"{spec.name} subscribes to {sorted(missing)} in the manifest but has no handler"
    assert not extra, f"{spec.name} handles {sorted(extra)}, which the manifest does not route to it"


def test_every_handler_says_what_it_does(spec: ServiceSpec) -> None:
    for sub in spec.subscriptions:
        assert (sub.handler.__doc__ or "").strip(), f"{sub.handler.__name__} has no docstring (AsyncAPI shows it)"
