"""The survey's pages: a link opens a page and records nothing; the button records the
answer; a later visit changes it while the survey is open; altered, foreign and
expired links get a page that says so."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
import time_machine
from django.core.signing import TimestampSigner
from django.db import connection
from django.test import Client
from django.utils import timezone

from csat import services
from csat.models import Rating, Survey
from eventlog.models import EventLog
from nixflow.models import User

pytestmark = pytest.mark.django_db

Links = Callable[[], dict[str, str]]


def token_of(path: str) -> str:
    return path.split("/")[2]


def test_opening_the_good_link_preselects_good_and_records_nothing(
    client: Client, mailed_survey: Survey, survey_links: Links
) -> None:
    response = client.get(survey_links()["good"])
    assert response.status_code == 200
    html = response.content.decode()
    assert 'value="good" id="id_rating_0" checked' in html or (
        'value="good"' in html and "checked" in html.split('value="good"')[1].split(">")[0]
    )
    assert "Printer on fire" in html
    assert not Rating.objects.exists()
    assert response["Cache-Control"].startswith("max-age=0")


def test_confirming_records_the_rating_and_its_event(
    client: Client, mailed_survey: Survey, survey_links: Links, agent: User, requester: User
) -> None:
    path = survey_links()["bad"]
    response = client.post(f"/satisfaction/{token_of(path)}/", {"rating": "bad", "comment": ""})
    assert response.status_code == 302
    assert response["Location"] == f"/satisfaction/{token_of(path)}/thanks/"

    rating = Rating.objects.get()
    assert (rating.rating, rating.agent, rating.team) == ("bad", agent, mailed_survey.team)
    event = EventLog.objects.get(type="csat.rated")
    assert event.actor == requester
    assert event.ticket_key == mailed_survey.ticket.key
    assert event.payload == {
        "ticket_id": mailed_survey.ticket_id,
        "rating": "bad",
        "agent_id": agent.pk,
        "team_id": mailed_survey.team_id,
        "has_comment": False,
    }
    thanks = client.get(response["Location"])
    assert thanks.status_code == 200
    assert "You rated the handling of" in thanks.content.decode()


def test_a_second_visit_changes_the_rating_and_adds_a_comment_kept_out_of_the_log(
    client: Client, mailed_survey: Survey, survey_links: Links
) -> None:
    token = token_of(survey_links()["good"])
    client.post(f"/satisfaction/{token}/", {"rating": "good"})
    page = client.get(f"/satisfaction/{token}/")
    assert "You answered" in page.content.decode()

    client.post(f"/satisfaction/{token}/", {"rating": "bad", "comment": "Took a week <b>!</b>"})
    rating = Rating.objects.get()
    assert (rating.rating, rating.comment) == ("bad", "Took a week <b>!</b>")
    changed = EventLog.objects.get(type="csat.changed")
    assert changed.payload["previous"] == "good"
    assert changed.payload["rating"] == "bad"
    assert changed.payload["comment_changed"] is True
    assert "Took a week" not in str(changed.payload)
    thanks = client.get(f"/satisfaction/{token}/thanks/").content.decode()
    assert "Took a week &lt;b&gt;!&lt;/b&gt;" in thanks

    client.post(f"/satisfaction/{token}/", {"rating": "bad", "comment": "Took a week <b>!</b>"})
    assert EventLog.objects.filter(type__startswith="csat.").count() == 3  # same: nothing


def test_the_rating_cannot_be_changed_after_the_window(
    client: Client, mailed_survey: Survey, survey_links: Links
) -> None:
    token = token_of(survey_links()["good"])
    client.post(f"/satisfaction/{token}/", {"rating": "good"})
    assert mailed_survey.closes_at is not None
    with time_machine.travel(mailed_survey.closes_at - timedelta(minutes=1)):
        assert client.post(f"/satisfaction/{token}/", {"rating": "bad"}).status_code == 302
    with time_machine.travel(mailed_survey.closes_at + timedelta(minutes=1)):
        response = client.post(f"/satisfaction/{token}/", {"rating": "good"})
        assert response.status_code == 410
        assert "This survey is closed" in response.content.decode()
        assert client.get(f"/satisfaction/{token}/good/").status_code == 410
    assert Rating.objects.get().rating == "bad"


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"), id="signature"),
        pytest.param(lambda t: t.replace(t.split(":")[0], t.split(":")[0][:-1] + "x"), id="body"),
        pytest.param(lambda t: t[: len(t) // 2], id="cut-short"),
        pytest.param(lambda t: "nonsense", id="garbage"),
    ],
)
def test_an_altered_link_is_refused_with_400(
    client: Client, mailed_survey: Survey, survey_links: Links, tamper: Callable[[str], str]
) -> None:
    token = token_of(survey_links()["good"])
    for method in (client.get, client.post):
        response = method(f"/satisfaction/{tamper(token)}/", {"rating": "good"})
        assert response.status_code == 400
        assert "This link is not valid" in response.content.decode()
    assert not Rating.objects.exists()


def test_a_link_naming_another_ticket_is_refused(
    client: Client, mailed_survey: Survey, requester: User
) -> None:
    # A validly signed token for a ticket id the mail did not name: only a survey that
    # was mailed to this person for that ticket opens.
    forged = services.survey_token(ticket_id=mailed_survey.ticket_id + 1, requester_id=requester.pk)
    assert client.get(f"/satisfaction/{forged}/").status_code == 400
    other_person = services.survey_token(
        ticket_id=mailed_survey.ticket_id, requester_id=requester.pk + 1000
    )
    assert client.post(f"/satisfaction/{other_person}/", {"rating": "good"}).status_code == 400
    assert not Rating.objects.exists()


def test_a_token_signed_with_another_salt_is_refused(
    client: Client, mailed_survey: Survey, requester: User
) -> None:
    value = {"t": mailed_survey.ticket_id, "u": requester.pk}
    for salt in ("forms_builder.submission_confirm", "portal.sign_in", ""):
        token = TimestampSigner(salt=salt).sign_object(value)
        assert client.get(f"/satisfaction/{token}/").status_code == 400
    assert client.get(f"/satisfaction/{services.survey_token(**_ids(value))}/").status_code == 200


def _ids(value: dict[str, int]) -> dict[str, int]:
    return {"ticket_id": value["t"], "requester_id": value["u"]}


def test_an_expired_token_is_refused_with_410(
    client: Client, mailed_survey: Survey, requester: User
) -> None:
    with time_machine.travel(timezone.now() - timedelta(days=400)):
        old = services.survey_token(ticket_id=mailed_survey.ticket_id, requester_id=requester.pk)
    response = client.get(f"/satisfaction/{old}/good/")
    assert response.status_code == 410
    assert "This survey is closed" in response.content.decode()


def test_a_bad_answer_gets_the_form_again_with_a_message(
    client: Client, mailed_survey: Survey, survey_links: Links
) -> None:
    token = token_of(survey_links()["good"])
    response = client.post(f"/satisfaction/{token}/", {"rating": "great", "comment": "x" * 3000})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Choose good or bad." in html
    assert "at most 2000 characters" in html
    assert not Rating.objects.exists()


def test_an_unknown_choice_in_the_path_is_not_found(
    client: Client, mailed_survey: Survey, survey_links: Links
) -> None:
    token = token_of(survey_links()["good"])
    assert client.get(f"/satisfaction/{token}/great/").status_code == 404


def test_a_survey_not_yet_mailed_does_not_open(
    client: Client, worked_ticket: object, requester: User, move: Callable[..., object]
) -> None:
    from tests.csat.conftest import set_policy

    ticket = worked_ticket
    set_policy(ticket.workflow, delay=60)  # type: ignore[attr-defined]
    move(ticket, "Resolved")
    token = services.survey_token(ticket_id=ticket.pk, requester_id=requester.pk)  # type: ignore[attr-defined]
    assert client.get(f"/satisfaction/{token}/").status_code == 400


def test_the_page_speaks_the_requesters_language(
    client: Client, mailed_survey: Survey, survey_links: Links, requester: User
) -> None:
    User.objects.filter(pk=requester.pk).update(language="de")
    response = client.get(survey_links()["good"], HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    assert '<html lang="de">' in html
    assert "Wie zufrieden waren Sie?" in html
    assert response["Content-Language"] == "de"

    # A language chosen in this browser comes first.
    client.cookies["django_language"] = "en"
    html = client.get(survey_links()["good"], HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert '<html lang="en">' in html
    assert "How did we do?" in html


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_first_answers_make_one_rating(
    mailed_survey: Survey, survey_links: Links
) -> None:
    token = token_of(survey_links()["good"])
    barrier = threading.Barrier(2)
    codes: list[int] = []

    def answer(choice: str) -> None:
        try:
            barrier.wait(timeout=10)
            codes.append(Client().post(f"/satisfaction/{token}/", {"rating": choice}).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=answer, args=(c,)) for c in ("good", "bad")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert codes == [302, 302]
    assert Rating.objects.count() == 1
    assert EventLog.objects.filter(type="csat.rated").count() == 1
    assert EventLog.objects.filter(type="csat.changed").count() <= 1
