"""The knowledge base's search report is one of the desk's links."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_the_desk_links_the_search_report_and_the_link_opens_it(agent_client: Client) -> None:
    report = reverse("admin:knowledge_knowledgesearchhistory_report")

    desk = agent_client.get(reverse("admin:index")).content.decode()

    assert f'href="{report}"' in desk
    assert "Knowledge base searches" in desk
    assert agent_client.get(report).status_code == 200
