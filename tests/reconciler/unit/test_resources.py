"""The resource table is the only place a resource is named: the plan, status, alerts, the
config's action keys, owned files, write groups and owed actions all take their names from it."""

from __future__ import annotations

import ast
import fnmatch
from pathlib import Path

import pytest
from pydantic import ValidationError

from reconciler.conditions import pass_conditions
from reconciler.config import Config
from reconciler.desired import BUNDLE_FIELDS, Desired
from reconciler.documents import dry_view
from reconciler.ownedfiles import owned_files
from reconciler.plan import compute_plan
from reconciler.resources import ACTION_KEYS, RESOURCE_NAMES, RESOURCES, WRITE_GROUPS
from schemas import ResourceName

from ..helpers import Vm, bundle
from .conftest import desired_of

RECONCILER = Path(__file__).resolve().parents[3] / "reconciler"
# Modules that deal in resources generically: a resource name written in one of them is a second
# place that must agree with the table.
GENERIC = (
    "actions.py",
    "conditions.py",
    "config.py",
    "documents.py",
    "engine.py",
    "owedactions.py",
    "ownedfiles.py",
    "plan.py",
)


def test_the_table_is_well_formed() -> None:
    assert len(set(RESOURCE_NAMES)) == len(RESOURCE_NAMES)
    # The workstation looks resources up by the shared wire names: the table covers exactly them.
    assert set(RESOURCE_NAMES) == set(ResourceName)
    assert {r.desired_field for r in RESOURCES} <= set(BUNDLE_FIELDS)
    assert len(set(ACTION_KEYS)) == len(ACTION_KEYS)
    # Every resource is written in exactly one group; the config version follows the manifests it names.
    flat = [name for group in WRITE_GROUPS for name in group]
    assert sorted(flat) == sorted(RESOURCE_NAMES)
    assert WRITE_GROUPS[0] == ("stable", "legacy", "config_version")


@pytest.mark.parametrize("module", GENERIC)
def test_generic_modules_name_no_resource(module: str) -> None:
    tree = ast.parse((RECONCILER / module).read_text())
    literals = {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    assert literals.isdisjoint(RESOURCE_NAMES), f"{module} names {sorted(literals & set(RESOURCE_NAMES))}"


def test_plan_status_and_alerts_use_the_table_names_in_table_order(vm: Vm, config: Config) -> None:
    desired = desired_of(bundle())
    plan, status = dry_view(config)
    assert [r.name for r in plan.resources] == list(RESOURCE_NAMES)
    assert list(status.resources) == list(RESOURCE_NAMES)
    plan = compute_plan(desired, config)
    alerts = pass_conditions(desired, plan, (), rollout=False, mode="enforce")
    assert [a.resource for a in alerts] == list(RESOURCE_NAMES)
    invalid = Desired(errors={"bundle": "bundle.json: not JSON"})
    assert {
        a.resource
        for a in pass_conditions(invalid, compute_plan(invalid, config), (), rollout=False, mode="enforce")
    } == {"desired"}


def test_config_accepts_the_table_action_keys_and_nothing_else(config: Config) -> None:
    raw = config.model_dump()
    accepted = Config.model_validate({**raw, "actions": {key: ["true"] for key in ACTION_KEYS}})
    assert set(accepted.actions) == set(ACTION_KEYS)
    with pytest.raises(ValidationError) as refused:
        Config.model_validate({**raw, "actions": {"restart": ["true"]}})
    assert all(repr(key) in str(refused.value) for key in ACTION_KEYS)
    schema = Config.model_json_schema()["properties"]["actions"]["propertyNames"]["enum"]
    assert schema == list(ACTION_KEYS)


def test_every_runtime_file_a_plan_writes_is_owned(vm: Vm, config: Config) -> None:
    plan = compute_plan(desired_of(bundle()), config)
    written = [w.path for r in plan.resources for w in r.writes]
    assert len(written) == 6
    owned = owned_files(config)
    for path in written:
        assert any(
            path.parent == directory and fnmatch.fnmatchcase(path.name, pattern)
            for directory, pattern in owned
        ), path
    # Each resource declares its own files: the runtime part of the list is the table's, in its order.
    runtime = [pair for resource in RESOURCES for pair in resource.owned(config.layout)]
    assert owned[-len(runtime) :] == runtime
