"""Abuse limits and security headers (nixflow/security.py, settings "Security" and "Abuse
limits"): rate limits answer 429 with Retry-After, oversized requests 413 with a reason,
repeated failed sign-ins lock the account out for that address, every response carries
the security headers, downloads are attachments, and a real browser meets no
Content-Security-Policy violation on the pages people use."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from axes.models import AccessAttempt
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings
from pytest_django.live_server_helper import LiveServer
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from email_integration import services as email_services
from email_integration.models import EmailAccount, InboundProtocol
from forms_builder import services as forms_services
from forms_builder.models import CustomForm
from nixflow import services
from nixflow.models import Role, Ticket, User
from nixflow.security import client_address
from tests.factories import TicketFactory, UserFactory
from tests.forms_builder.conftest import (  # noqa: F401 -- fixtures for outage_form
    PNG,
    designer,
    make_form,
    public_form,
)
from tests.support.browser import CHROMEDRIVER, CHROMIUM, login
from tests.test_settings import (
    UNUSED_DATABASE_URL,
    controlled_env,
    error_line,
    printed_json,
    python,
)

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's
SetRates = Callable[..., None]


@pytest.fixture
def rates(monkeypatch: pytest.MonkeyPatch) -> SetRates:
    """Lower a scope's rate for one test: ``rates(login="2/minute")``.

    DRF's throttles read the rates dict of REST_FRAMEWORK, bound when
    rest_framework.throttling is imported, so the dict itself is patched.
    """

    def set_rates(**scopes: str) -> None:
        for scope, rate in scopes.items():
            monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, scope, rate)

    return set_rates


@pytest.fixture
def media(settings: Settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture
def outage_form(request: pytest.FixtureRequest) -> CustomForm:
    """The form builder tests' public form: an outage report with a screenshot field."""
    return request.getfixturevalue("public_form")


@pytest.fixture
def admin_user(db: None) -> User:
    return UserFactory(username="ada", role=Role.ADMIN, is_superuser=True)


def mail(subject: str = "Printer on fire") -> bytes:
    return (
        f"From: ann@example.com\r\nTo: help@desk.test\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}@example.com>\r\n\r\nPlease help.\r\n"
    ).encode()


def assert_throttled(response: object, detail: str = "throttled") -> None:
    assert response.status_code == 429  # type: ignore[attr-defined]
    assert int(response["Retry-After"]) > 0  # type: ignore[index]
    assert response["Content-Type"] == "application/json"  # type: ignore[index]
    assert detail in response.json()["detail"]  # type: ignore[attr-defined]


# --- The cache the limits count in ---------------------------------------------------------


@pytest.mark.subprocess
def test_without_cache_url_limits_count_in_a_file_cache_every_process_shares(
    tmp_path: Path,
) -> None:
    var_dir = tmp_path / "var"
    env = controlled_env(var_dir, DATABASE_URL=UNUSED_DATABASE_URL)

    written = printed_json(
        "from django.core.cache import cache\n"
        "cache.set('throttle_login_192.0.2.1', [1.0], 60)\n"
        "print(json.dumps(settings.CACHES['default']))",
        env,
    )
    read = printed_json(
        "from django.core.cache import cache\n"
        "print(json.dumps(cache.get('throttle_login_192.0.2.1')))",
        env,
    )

    assert written["BACKEND"] == "django.core.cache.backends.filebased.FileBasedCache"
    assert written["LOCATION"] == str(var_dir.resolve() / "cache")
    assert read == [1.0]  # another process, the same count


@pytest.mark.subprocess
def test_cache_url_is_used_as_given(tmp_path: Path) -> None:
    env = controlled_env(
        tmp_path / "var",
        DATABASE_URL=UNUSED_DATABASE_URL,
        CACHE_URL="redis://127.0.0.1:6379/1",
    )

    cache = printed_json("print(json.dumps(settings.CACHES['default']))", env)

    assert cache == {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/1",
    }


@pytest.mark.subprocess
def test_a_malformed_rate_is_refused_at_start_by_name(tmp_path: Path) -> None:
    env = controlled_env(
        tmp_path / "var", DATABASE_URL=UNUSED_DATABASE_URL, THROTTLE_LOGIN_RATE="lots"
    )

    done = python("import django; django.setup()", env)

    assert done.returncode != 0
    assert "THROTTLE_LOGIN_RATE must look like 20/minute, not 'lots'" in error_line(done.stderr)


# --- Rate limits --------------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_api_callers_are_limited_per_address(
    api_client: APIClient, outage_form: CustomForm, rates: SetRates
) -> None:
    rates(anon="2/minute")
    url = f"/api/forms/{outage_form.slug}/schema/"
    for _ in range(2):
        assert api_client.get(url).status_code == 200

    response = api_client.get(url)

    assert_throttled(response, "Expected available in 60 seconds")


@pytest.mark.django_db
def test_signed_in_api_callers_are_limited_per_user(
    api_client: APIClient, agent: User, rates: SetRates
) -> None:
    rates(user="3/minute")
    api_client.force_authenticate(agent)
    for _ in range(3):
        assert api_client.get("/api/me/").status_code == 200

    assert_throttled(api_client.get("/api/me/"))
    # Another user has a count of their own.
    api_client.force_authenticate(UserFactory(role=Role.AGENT))
    assert api_client.get("/api/me/").status_code == 200


@pytest.mark.django_db
def test_inbound_mail_is_limited_per_mail_server_account(
    api_client: APIClient, agent: User, rates: SetRates
) -> None:
    rates(mail_inbound="2/minute")
    account = EmailAccount.objects.create(
        name="Help", address="help@desk.test", protocol=InboundProtocol.NONE
    )
    api_client.force_authenticate(agent)
    url = f"/api/email/inbound/{account.pk}/"

    for n in range(2):
        posted = api_client.post(url, mail(f"Outage {n}"), content_type="message/rfc822")
        assert posted.status_code == 202, posted.content  # stored; a worker reads it

    response = api_client.post(url, mail("Outage 3"), content_type="message/rfc822")

    assert_throttled(response)
    # Only the mail endpoint's scope is spent: the agent's other calls go on.
    assert api_client.get("/api/me/").status_code == 200


@pytest.mark.django_db
def test_anonymous_form_submissions_are_limited_per_address_on_page_and_api(
    api_client: APIClient, client: Client, outage_form: CustomForm, rates: SetRates
) -> None:
    rates(form_submit="1/hour")
    answers = {
        "service": "VPN",
        "impact": "Just me",
        "details": "No tunnel.",
        "submitter_email": "ann@example.com",
    }
    url = f"/api/forms/{outage_form.slug}/submit/"
    assert api_client.post(url, answers, format="json").status_code == 201

    response = api_client.post(url, answers, format="json")

    assert_throttled(response, "Expected available in 3600 seconds")
    # The page counts the same submissions (one mechanism, one count per address).
    page = client.post(f"/forms/{outage_form.slug}/", answers)
    assert page.status_code == 429
    assert 3500 < int(page["Retry-After"]) <= 3600
    assert "Too many forms were sent from your address" in page.content.decode()


@pytest.mark.django_db
def test_token_requests_are_limited_per_address_whatever_the_forwarded_header_says(
    api_client: APIClient, rates: SetRates
) -> None:
    UserFactory(username="ann")
    rates(login="3/minute")
    for n in range(3):
        response = api_client.post(
            "/api/auth/token/",
            {"username": f"guess{n}", "password": "wrong"},
            format="json",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{n}",
        )
        assert response.status_code == 400

    response = api_client.post(
        "/api/auth/token/",
        {"username": "ann", "password": PASSWORD},
        format="json",
        HTTP_X_FORWARDED_FOR="203.0.113.99",
    )

    assert_throttled(response)
    assert not Token.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/admin/login/", "/forms/login/"])
def test_sign_in_pages_share_the_login_rate_per_address(
    client: Client, rates: SetRates, path: str
) -> None:
    UserFactory(username="ann")
    rates(login="2/minute")
    for n in range(2):
        page = client.post(path, {"username": f"guess{n}", "password": "wrong"})
        assert page.status_code == 200  # the form again, with its error

    page = client.post(path, {"username": "ann", "password": PASSWORD})

    assert page.status_code == 429
    assert int(page["Retry-After"]) > 0
    assert "Too many sign-in attempts from your address" in page.content.decode()
    assert "_auth_user_id" not in client.session
    # Showing the page is not an attempt.
    assert client.get(path).status_code == 200


def test_client_address_trusts_forwarded_for_only_as_far_as_num_proxies(
    settings: Settings,
) -> None:
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.7, 192.0.2.1"
    )
    assert client_address(request) == "10.0.0.2"

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}

    assert client_address(request) == "192.0.2.1"


# --- Request sizes --------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"name": "' + b"x" * 2000 + b'"}'),
        ("application/x-www-form-urlencoded", b"name=" + b"x" * 2000),
    ],
    ids=["json", "form"],
)
def test_an_api_body_over_the_data_limit_is_413_not_parsed(
    api_client: APIClient, admin_user: User, settings: Settings, content_type: str, body: bytes
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    api_client.force_authenticate(admin_user)

    response = api_client.post("/api/email/accounts/", body, content_type=content_type)

    # DRF's parsers read request.body, which enforces Django's limit (its RequestDataTooBig
    # becomes 413 in nixflow/api/exceptions.py): no body is held in memory unbounded.
    assert response.status_code == 413
    assert response.json() == {
        "detail": "Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE."
    }
    assert not EmailAccount.objects.exists()


@pytest.mark.django_db
def test_a_request_over_the_ceiling_is_413_before_anything_reads_it(
    api_client: APIClient, client: Client, agent: User, settings: Settings
) -> None:
    settings.NIXFLOW_MAX_REQUEST_BYTES = 1000

    def upload() -> SimpleUploadedFile:
        return SimpleUploadedFile("big.bin", b"0" * 2000)

    page = client.post("/admin/login/", {"username": "ann", "file": upload()})
    api_client.force_authenticate(agent)
    api = api_client.post("/api/tickets/", {"title": "x", "file": upload()}, format="multipart")

    assert page.status_code == 413
    assert "the limit is 1000" in page.content.decode()
    assert api.status_code == 413
    assert "the limit is 1000" in api.json()["detail"]


@pytest.mark.django_db
def test_a_page_form_over_the_data_limit_says_so(client: Client, settings: Settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    page = client.post("/admin/login/", {"username": "x" * 2000, "password": "p"})

    assert page.status_code == 413
    assert "The form&#x27;s data is too large (at most 1000 bytes" in page.content.decode()


# --- Brute-force sign-in protection ----------------------------------------------------


def fail_admin_sign_in(client: Client, times: int) -> list[int]:
    return [
        client.post("/admin/login/", {"username": "ada", "password": "wrong"}).status_code
        for _ in range(times)
    ]


def admin_sign_in(client: Client) -> int:
    return client.post("/admin/login/", {"username": "ada", "password": PASSWORD}).status_code


@pytest.mark.django_db
def test_failed_admin_sign_ins_lock_the_account_out_for_that_address(
    client: Client, admin_user: User, settings: Settings
) -> None:
    limit = settings.AXES_FAILURE_LIMIT

    statuses = fail_admin_sign_in(client, limit)

    assert statuses == [200] * (limit - 1) + [429]
    # The right password no longer helps, and the page says why and for how long.
    page = client.post("/admin/login/", {"username": "ada", "password": PASSWORD})
    assert page.status_code == 429
    assert page["Retry-After"] == "900"
    assert "this account is locked for your address. Try again in 15 minutes" in (
        page.content.decode()
    )
    assert "_auth_user_id" not in client.session
    # The same account from another address, and another account from this one, go on.
    other = Client(REMOTE_ADDR="192.0.2.10")
    assert admin_sign_in(other) == 302
    UserFactory(username="bob", role=Role.AGENT)
    assert client.post("/admin/login/", {"username": "bob", "password": PASSWORD}).status_code == (
        302
    )


@pytest.mark.django_db
def test_the_lockout_ends_after_the_cool_off(client: Client, admin_user: User) -> None:
    fail_admin_sign_in(client, 5)
    assert admin_sign_in(client) == 429

    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        assert admin_sign_in(client) == 302


@pytest.mark.django_db
def test_a_successful_sign_in_forgets_the_failures_before_it(
    client: Client, admin_user: User, settings: Settings
) -> None:
    limit = settings.AXES_FAILURE_LIMIT
    assert fail_admin_sign_in(client, limit - 1) == [200] * (limit - 1)
    assert admin_sign_in(client) == 302
    assert not AccessAttempt.objects.exists()
    client.logout()

    assert fail_admin_sign_in(client, limit - 1) == [200] * (limit - 1)
    assert admin_sign_in(client) == 302


@pytest.mark.django_db
def test_failed_sign_ins_on_the_forms_page_lock_out_too(client: Client, requester: User) -> None:
    for _ in range(4):
        client.post("/forms/login/", {"username": "requester", "password": "wrong"})

    page = client.post("/forms/login/", {"username": "requester", "password": "wrong"})

    assert page.status_code == 429
    assert "this account is locked for your address" in page.content.decode()
    locked = client.post("/forms/login/", {"username": "requester", "password": PASSWORD})
    assert locked.status_code == 429


def obtain_token(api_client: APIClient, password: str) -> object:
    return api_client.post(
        "/api/auth/token/", {"username": "ada", "password": password}, format="json"
    )


@pytest.mark.django_db
def test_failed_token_requests_lock_the_account_out_with_a_json_answer(
    api_client: APIClient, admin_user: User, settings: Settings
) -> None:
    limit = settings.AXES_FAILURE_LIMIT
    statuses = [obtain_token(api_client, "wrong").status_code for _ in range(limit)]
    assert statuses == [400] * (limit - 1) + [429]

    response = obtain_token(api_client, PASSWORD)

    assert_throttled(response, "this account is locked for your address. Try again in 15 minutes")
    assert response["Retry-After"] == "900"
    assert not Token.objects.exists()
    attempt = AccessAttempt.objects.get()
    assert (attempt.username, attempt.ip_address, attempt.path_info) == (
        "ada",
        "127.0.0.1",
        "/api/auth/token/",
    )


@pytest.mark.django_db
def test_a_token_obtained_forgets_the_failures_before_it(
    api_client: APIClient, admin_user: User, settings: Settings
) -> None:
    limit = settings.AXES_FAILURE_LIMIT
    for _ in range(limit - 1):
        assert obtain_token(api_client, "wrong").status_code == 400
    assert obtain_token(api_client, PASSWORD).status_code == 200
    assert not AccessAttempt.objects.exists()

    for _ in range(limit - 1):
        assert obtain_token(api_client, "wrong").status_code == 400
    assert obtain_token(api_client, PASSWORD).status_code == 200


# --- Headers ----------------------------------------------------------------------------


def csp_directives(response: object) -> dict[str, str]:
    header = response["Content-Security-Policy"]  # type: ignore[index]
    directives = (part.strip().split(None, 1) for part in header.split(";") if part.strip())
    return dict(directives)


def assert_security_headers(response: object) -> None:
    assert response["X-Content-Type-Options"] == "nosniff"  # type: ignore[index]
    assert response["X-Frame-Options"] == "DENY"  # type: ignore[index]
    assert response["Referrer-Policy"] == "same-origin"  # type: ignore[index]
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"  # type: ignore[index]
    assert csp_directives(response) == {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self' 'unsafe-inline'",
        "img-src": "'self' data:",
        "font-src": "'self'",
        "connect-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "status", "content_type"),
    [
        ("/forms/", 200, "text/html"),
        ("/forms/login/", 200, "text/html"),
        ("/admin/login/", 200, "text/html"),
        ("/admin/", 302, "text/html"),
        ("/api/me/", 401, "application/json"),
        ("/api/docs/", 200, "text/html"),
        ("/api/docs/?script=", 200, "application/javascript"),
        ("/healthz", 200, "application/json"),
        ("/static/admin/css/base.css", 200, "text/css"),
        ("/static/forms_builder/form.js", 200, "text/javascript"),
        ("/no/such/page/", 404, "text/html"),
    ],
)
def test_every_response_carries_the_security_headers(
    client: Client, path: str, status: int, content_type: str
) -> None:
    response = client.get(path)

    assert response.status_code == status
    assert response["Content-Type"].startswith(content_type)
    assert_security_headers(response)


@pytest.mark.django_db
def test_signed_in_admin_pages_and_api_answers_carry_the_security_headers(
    client: Client, admin_user: User
) -> None:
    ticket = TicketFactory()
    client.force_login(admin_user)

    for path in (
        "/admin/",
        f"/admin/nixflow/ticket/{ticket.pk}/change/",
        "/admin/sla/dashboard/",
        "/api/me/",
        f"/api/tickets/{ticket.key}/",
    ):
        response = client.get(path, HTTP_ACCEPT="application/json, text/html")
        assert response.status_code == 200, path
        assert_security_headers(response)


# --- Downloads ----------------------------------------------------------------------------


def assert_download(response: object, filename: str) -> None:
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert response["Content-Disposition"].startswith("attachment;")  # type: ignore[index]
    assert f'filename="{filename}"' in response["Content-Disposition"]  # type: ignore[index]
    assert_security_headers(response)


@pytest.mark.django_db
def test_ticket_attachments_download_as_attachments(
    api_client: APIClient, agent: User, media: Path
) -> None:
    ticket = TicketFactory()
    page = SimpleUploadedFile("page.html", b"<script>alert(1)</script>", content_type="text/html")
    comment = services.comment_create(
        ticket=ticket, author=agent, body="See the file.", attachments=[page]
    )
    attachment = comment.attachments.get()
    api_client.force_authenticate(agent)

    response = api_client.get(f"/api/tickets/{ticket.key}/attachments/{attachment.pk}/")

    assert_download(response, "page.html")
    assert response["Content-Type"] == "application/octet-stream"


@pytest.mark.django_db
def test_form_submission_files_and_the_csv_export_download_as_attachments(
    client: Client, admin_user: User, outage_form: CustomForm, media: Path
) -> None:
    submission = forms_services.submission_create(
        form=outage_form,
        data={"service": "VPN", "impact": "Just me", "details": "No tunnel."},
        files={"screenshot": [SimpleUploadedFile("shot.png", PNG, content_type="image/png")]},
        submitter=None,
        submitter_email="ann@example.com",
    )
    attachment = submission.attachments.get()
    client.force_login(admin_user)

    file = client.get(
        reverse("admin:forms_builder_formsubmission_file", args=[submission.pk, attachment.pk])
    )
    export = client.get(reverse("admin:forms_builder_customform_export", args=[outage_form.pk]))

    assert_download(file, "shot.png")
    assert export["Content-Type"] == "text/csv; charset=utf-8"
    assert_download(export, export["Content-Disposition"].split('filename="')[1][:-1])
    assert export["Content-Disposition"].endswith('.csv"')


@pytest.mark.django_db
def test_the_raw_mail_downloads_as_an_eml_attachment(client: Client, admin_user: User) -> None:
    account = EmailAccount.objects.create(
        name="Help", address="help@desk.test", protocol=InboundProtocol.NONE
    )
    message, _ = email_services.message_store(account=account, raw=mail())
    client.force_login(admin_user)

    response = client.get(f"/admin/email_integration/emailmessage/{message.pk}/raw/")

    assert_download(response, f"message-{message.pk}.eml")
    assert response["Content-Type"] == "message/rfc822"


# --- In a real browser: no CSP violation --------------------------------------------------


@pytest.fixture(scope="module")
def logging_browser() -> Iterator[webdriver.Chrome]:
    """Headless chromium as tests/support/browser.py starts it, keeping the console log
    (goog:loggingPrefs), where chromium reports every CSP violation."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1024",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def console_after(driver: webdriver.Chrome, url: str, ready: tuple[str, str]) -> list[str]:
    """The console messages of loading ``url`` until ``ready`` (a locator) is shown."""
    driver.get_log("browser")  # read, and so forget, what came before
    driver.get(url)
    WebDriverWait(driver, 20).until(expected_conditions.visibility_of_element_located(ready))
    return [entry["message"] for entry in driver.get_log("browser")]


def csp_violations(messages: list[str]) -> list[str]:
    return [m for m in messages if "Content Security Policy" in m]


@pytest.mark.django_db(transaction=True)
@pytest.mark.browser
def test_the_browser_reports_a_violation_when_an_inline_script_is_injected(
    live_server: LiveServer, logging_browser: webdriver.Chrome
) -> None:
    """The check below can fail: an inline script is refused and the console says so."""
    console_after(logging_browser, f"{live_server.url}/forms/", (By.TAG_NAME, "main"))
    logging_browser.execute_script(
        "const s = document.createElement('script');"
        "s.textContent = 'document.title = \"ran\"';"
        "document.body.appendChild(s);"
    )

    violations = csp_violations([e["message"] for e in logging_browser.get_log("browser")])

    assert logging_browser.title != "ran"
    assert len(violations) == 1
    assert "script-src 'self'" in violations[0]


@pytest.mark.django_db(transaction=True)
@pytest.mark.browser
def test_swagger_ui_loads_with_no_csp_violation(
    live_server: LiveServer, logging_browser: webdriver.Chrome
) -> None:
    messages = console_after(
        logging_browser,
        f"{live_server.url}/api/docs/",
        (By.CSS_SELECTOR, ".swagger-ui .opblock-tag"),  # drawn from the fetched schema
    )

    assert csp_violations(messages) == []
    assert "NixFlow API" in logging_browser.find_element(By.CSS_SELECTOR, ".swagger-ui .info").text


@pytest.mark.django_db(transaction=True)
@pytest.mark.browser
def test_admin_pages_load_with_no_csp_violation(
    live_server: LiveServer, logging_browser: webdriver.Chrome
) -> None:
    UserFactory(username="ada", role=Role.ADMIN, is_superuser=True)
    ticket = TicketFactory(title="Printer on fire")
    login(logging_browser, live_server.url, "ada", PASSWORD)

    change = console_after(
        logging_browser,
        f"{live_server.url}/admin/nixflow/ticket/{ticket.pk}/change/",
        (By.CSS_SELECTOR, "input[name=_save]"),
    )
    dashboard = console_after(
        logging_browser, f"{live_server.url}/admin/sla/dashboard/", (By.ID, "content")
    )

    assert csp_violations(change) == []
    assert csp_violations(dashboard) == []
    assert Ticket.objects.get().title == "Printer on fire"


@pytest.mark.django_db(transaction=True)
@pytest.mark.browser
def test_the_form_page_and_its_script_run_with_no_csp_violation(
    live_server: LiveServer, logging_browser: webdriver.Chrome, outage_form: CustomForm
) -> None:
    logging_browser.delete_all_cookies()
    messages = console_after(
        logging_browser, f"{live_server.url}/forms/{outage_form.slug}/", (By.ID, "id_service")
    )
    # The page's own script (a static file) shows the conditional question.
    affected = logging_browser.find_element(By.ID, "field-affected")
    assert not affected.is_displayed()
    logging_browser.find_element(By.CSS_SELECTOR, "label[for=id_impact_1]").click()
    assert affected.is_displayed()

    assert (
        csp_violations(messages + [e["message"] for e in logging_browser.get_log("browser")]) == []
    )
