"""The step registry is the one list of step kinds: the contract's Literal and the planner follow it."""

from __future__ import annotations

from typing import get_args

from etl_core import plan_etl
from etl_core.quick_profile import quick_profile
from etl_core.steps import PLUGIN_STEP_KIND, STEP_IMPLS, STEP_KINDS
from shared_contracts.etl import EtlConfig, StepKind


def test_the_contract_lists_the_registry_kinds_in_the_registry_order() -> None:
    assert get_args(StepKind) == STEP_KINDS
    assert STEP_KINDS[-1] == PLUGIN_STEP_KIND and PLUGIN_STEP_KIND not in STEP_IMPLS


def test_a_plan_runs_its_steps_in_registry_order(dataset) -> None:
    frame = dataset("penguins_raw")
    plan = plan_etl(quick_profile(frame), target="Species",
                    config=EtlConfig.model_validate({"features": {"scale": "standard"}}))
    kinds = [step.kind for step in plan.steps]
    assert len(set(kinds)) >= 5, kinds  # a real plan, with several phases
    positions = [STEP_KINDS.index(kind) for kind in kinds]
    assert positions == sorted(positions), kinds
