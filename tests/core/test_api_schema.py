"""The OpenAPI schema of the whole API generates with no warning and validates."""

from __future__ import annotations

from pathlib import Path

import yaml
from django.core.management import call_command
from drf_spectacular.drainage import GENERATOR_STATS


def test_schema_generates_without_warnings_and_validates(tmp_path: Path) -> None:
    # Warnings are counted per process; other tests may have generated a schema before.
    GENERATOR_STATS.reset()
    target = tmp_path / "schema.yml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    paths = yaml.safe_load(target.read_text())["paths"]
    assert set(paths["/api/tickets/"]) == {"get", "post"}
    assert set(paths["/api/tickets/{key}/"]) == {"get", "patch"}
    assert set(paths["/api/tickets/{key}/watchers/"]) == {"get", "post", "delete"}
    assert "/api/tickets/{key}/attachments/{attachment_id}/" in paths
    assert set(paths["/api/workflows/"]) == {"get", "post"}
    assert set(paths["/api/workflows/{id}/"]) == {"get", "put", "patch", "delete"}
    filters = {p["name"] for p in paths["/api/tickets/"]["get"]["parameters"]}
    assert {"stage", "stage_category", "priority", "assignee", "search", "ordering"} <= filters
    assert {"cursor", "page_size"} <= filters
