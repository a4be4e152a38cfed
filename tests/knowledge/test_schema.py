"""The knowledge API is in the OpenAPI schema, which generates without warnings."""

from __future__ import annotations

from pathlib import Path

import yaml
from django.core.management import call_command
from drf_spectacular.drainage import GENERATOR_STATS


def test_knowledge_paths_are_documented_without_warnings(tmp_path: Path) -> None:
    GENERATOR_STATS.reset()
    target = tmp_path / "schema.yml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    paths = yaml.safe_load(target.read_text())["paths"]
    assert set(paths["/api/knowledge/articles/"]) == {"get", "post"}
    assert set(paths["/api/knowledge/articles/{id}/"]) == {"get", "patch", "delete"}
    for action in ("versions", "restore", "rate", "feedback", "transition", "diff", "tickets"):
        assert f"/api/knowledge/articles/{{id}}/{action}/" in paths
    assert "/api/knowledge/categories/" in paths
    assert "/api/knowledge/tags/" in paths
    assert "/api/knowledge/suggestions/" in paths
    search = {p["name"] for p in paths["/api/knowledge/search/"]["get"]["parameters"]}
    assert {"q", "category", "tag", "kind", "page", "page_size"} <= search
