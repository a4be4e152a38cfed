"""The form builder's part of the OpenAPI schema: generated without a warning."""

from __future__ import annotations

from pathlib import Path

import yaml
from django.core.management import call_command
from drf_spectacular.drainage import GENERATOR_STATS


def test_the_forms_api_is_in_the_schema_without_warnings(tmp_path: Path) -> None:
    GENERATOR_STATS.reset()
    target = tmp_path / "schema.yml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    paths = yaml.safe_load(target.read_text())["paths"]
    assert set(paths["/api/forms/"]) == {"get", "post"}
    assert set(paths["/api/forms/{slug}/"]) == {"get", "put", "patch", "delete"}
    assert set(paths["/api/forms/{slug}/schema/"]) == {"get"}
    submit = paths["/api/forms/{slug}/submit/"]["post"]
    assert set(submit["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert {"201", "202", "400"} <= set(submit["responses"])
    assert set(paths["/api/forms/submissions/"]) == {"get"}
    assert "/api/forms/submissions/{id}/convert/" in paths
