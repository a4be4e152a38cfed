"""The configuration viewsets' shared base (nixflow/api/config_views.py) calls each
viewset's services by the keyword the services name their row by."""

from __future__ import annotations

import inspect

import pytest
from django.urls import get_resolver

from nixflow.api.config_views import ConfigViewSet


def configuration_viewsets() -> list[type[ConfigViewSet]]:
    get_resolver().url_patterns  # noqa: B018  # imports every app's API views
    found: list[type[ConfigViewSet]] = []
    pending = list(ConfigViewSet.__subclasses__())
    while pending:
        viewset = pending.pop()
        found.append(viewset)
        pending.extend(viewset.__subclasses__())
    return sorted(found, key=lambda viewset: viewset.__qualname__)


def test_the_base_serves_every_configuration_endpoint() -> None:
    names = {viewset.__name__ for viewset in configuration_viewsets()}

    assert {
        "EndpointViewSet",
        "MacroViewSet",
        "RuleViewSet",
        "RoutingRuleViewSet",
        "TeamViewSet",
        "TicketFieldViewSet",
        "WorkflowViewSet",
    } <= names


@pytest.mark.parametrize("viewset", configuration_viewsets(), ids=lambda v: v.__name__)
def test_update_and_delete_services_take_the_row_by_the_same_first_keyword(
    viewset: type[ConfigViewSet],
) -> None:
    writes = viewset.writes
    update = list(inspect.signature(writes.update).parameters)
    delete = list(inspect.signature(writes.delete).parameters)

    assert writes.row not in {"actor", "data"}
    assert update[:3] == [writes.row, "actor", "data"]
    assert delete[:2] == [writes.row, "actor"]
    assert "actor" in inspect.signature(writes.create).parameters
