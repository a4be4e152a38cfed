"""The rule writes and dry runs fuzzed as an admin against their schema, with every
check of ``tests/test_api_fuzz.py`` (agents, requesters and anonymous callers already go
through that module's run of every operation).

A rule's conditions, actions, time fields and calendar are data the schema cannot pin
down: ids that must exist, a custom field's name, templates, and what a trigger asks of
the time fields (only a time rule measures time). Those fields' 400s are data-dependent
for these operations, as the module's ``DATA_DEPENDENT`` says of other apps' fields
(docs/api-contract.md); only these operations' entries are added here.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_api_fuzz import (
    CHECKS,
    DATA_DEPENDENT,
    FUZZ_SETTINGS,
    SCHEMA,
    World,
    outside_the_api,
    send,
    world,
)

__all__ = ["world"]  # the fuzz module's world, used by name below

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

RULE_DATA = {"conditions", "actions", "time_basis", "time_amount", "time_unit", "calendar"}
for label in (
    "POST /api/automation/rules/",
    "PUT /api/automation/rules/{id}/",
    "PATCH /api/automation/rules/{id}/",
    "POST /api/automation/rules/dry-run/",
):
    DATA_DEPENDENT.setdefault(label, set()).update(RULE_DATA)

RULE_WRITES = SCHEMA.include(
    path_regex=r"^/api/automation/rules/", method=["POST", "PUT", "PATCH", "DELETE"]
)


@RULE_WRITES.parametrize()
@FUZZ_SETTINGS
def test_rule_writes_answer_admins_as_their_schema_says(case: Any, world: World) -> None:
    if outside_the_api(case):
        return
    send(case, world, "admin", CHECKS)
