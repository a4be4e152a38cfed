"""``check --deploy`` warns (nixflow.W011) when rate limits would count per host."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from nixflow.platform.checks import per_host_cache_check

FILE_CACHE = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                          "LOCATION": str(Path(__file__).parent / "never-written")}}  # fmt: skip
REDIS_CACHE = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                           "LOCATION": "redis://127.0.0.1:6379/1"}}  # fmt: skip


def test_a_file_cache_is_a_warning_naming_the_shared_cache_to_set() -> None:
    with override_settings(CACHES=FILE_CACHE):
        (warning,) = per_host_cache_check()
    assert warning.id == "nixflow.W011"
    assert "FileBasedCache" in warning.msg
    assert "CACHE_URL" in (warning.hint or "")


def test_a_shared_cache_passes() -> None:
    with override_settings(CACHES=REDIS_CACHE):
        assert per_host_cache_check() == []


def test_the_warning_is_part_of_check_deploy_and_can_be_silenced() -> None:
    with (
        override_settings(CACHES=FILE_CACHE, SILENCED_SYSTEM_CHECKS=[]),
        pytest.raises(SystemCheckError, match=r"nixflow\.W011"),
    ):
        call_command("check", "--deploy", "--fail-level", "WARNING", "--tag", "caches")
    with override_settings(CACHES=FILE_CACHE, SILENCED_SYSTEM_CHECKS=["nixflow.W011"]):
        call_command("check", "--deploy", "--fail-level", "WARNING", "--tag", "caches")
