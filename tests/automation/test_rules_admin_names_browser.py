"""A rule that names a team deleted since, in chromium at 1440 and 375 px: a German
agent reads it in German with the names (and "gelöschtes Team #7"), an admin's rows keep
the deleted team by name, and neither page is wider than the screen. Screenshots go to
``var/screenshots/automation-rule-names-*``."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from automation import services as rule_services
from nixflow.models import Stage, Team, User
from tests.factories import AdminFactory, AgentFactory, TeamFactory
from tests.support.browser import browser, login, screenshot

__all__ = ["browser"]  # the shared fixture, used by name below

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's


def fits(driver: WebDriver) -> bool:
    width = driver.execute_script("return document.documentElement.clientWidth")
    scrolled = driver.execute_script("return document.documentElement.scrollWidth")
    return bool(scrolled <= width)


def test_a_rule_naming_a_deleted_team_read_and_edited_at_both_widths(
    browser: WebDriver, live_server: object
) -> None:
    base = live_server.url  # type: ignore[attr-defined]
    admin: User = AdminFactory.create(username="boss")
    reader: User = AgentFactory.create(username="anke", language="de")
    kim = AgentFactory.create(username="kim", first_name="Kim", last_name="Lee")
    gone = TeamFactory.create(name="Old team")
    kept = TeamFactory.create(name="Tier 2")
    stage = Stage.objects.filter(category="WAITING").select_related("workflow").first()
    assert stage is not None
    rule = rule_services.rule_create(
        actor=admin,
        data={
            "name": "Waiting VIPs to Tier 2",
            "trigger": "time",
            "time_basis": "stage_entered",
            "time_amount": 2,
            "time_unit": "days",
            "conditions": [
                {"field": "stage", "op": "is", "value": stage.pk},
                {"field": "team", "op": "in", "value": [kept.pk, gone.pk]},
                {"field": "tags", "op": "contains", "value": "vip"},
            ],
            "actions": [
                {"type": "set_team", "team": gone.pk},
                {"type": "set_assignee", "assignee": kim.pk},
                {"type": "add_note", "body": "Waiting for {{ ticket.key }}"},
            ],
        },
    )
    Team.objects.filter(pk=gone.pk).delete()
    page = f"{base}/admin/automation/rule/{rule.pk}/change/"

    login(browser, base, reader.username, PASSWORD)  # type: ignore[arg-type]
    for width in (1440, 375):
        browser.set_window_size(width, 1000)
        browser.get(page)
        text = browser.find_element(By.ID, "content").text
        assert f"Team ist eines von Tier 2, gelöschtes Team #{gone.pk}" in text
        assert f"Team setzen (Team: gelöschtes Team #{gone.pk})" in text
        assert "Zuweisen an (Agent: Kim Lee)" in text
        assert "Zeit verstrichen (regelmäßig geprüft)" in text
        assert fits(browser), width
        screenshot(browser, "automation-rule-names-read-de", width)  # type: ignore[arg-type]

    login(browser, base, admin.username, PASSWORD)  # type: ignore[arg-type]
    for width in (1440, 375):
        browser.set_window_size(width, 1000)
        browser.get(page)
        team = Select(browser.find_element(By.NAME, "actions-0-team"))
        assert team.first_selected_option.text == f"deleted team #{gone.pk}"
        named = browser.find_element(By.CSS_SELECTOR, ".rule-named").text
        assert named == f"{kept.pk}: Tier 2, {gone.pk}: deleted team #{gone.pk}"
        assert fits(browser), width
        screenshot(browser, "automation-rule-names-edit", width)  # type: ignore[arg-type]
