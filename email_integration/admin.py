from __future__ import annotations

import imaplib
import poplib
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.timezone import localtime
from django.utils.translation import gettext, gettext_lazy

from email_integration import accounts, oauth, outbound, services
from email_integration.models import (
    AuthMethod,
    EmailAccount,
    EmailAttachment,
    EmailMessage,
    EmailMessageStatus,
    EmailMessageType,
    InboundProtocol,
)
from nixflow.models import Ticket, User
from nixflow.toolkit.admin import (
    READ_ONLY,
    ReadOnlyInline,
    RolePermissionsMixin,
    report_failures,
)
from nixflow.toolkit.auth import signed_in_user
from nixflow.toolkit.changelist import MIN_TEXT_WORD, FastListAdmin, search_words
from nixflow.toolkit.config_admin import ConfigurationAdmin
from nixflow.toolkit.downloads import attachment_response
from nixflow.toolkit.errors import error_text
from nixflow.toolkit.site import site_url


class EmailAccountForm(forms.ModelForm):
    # Write-only: the stored secret is never rendered back; blank keeps it (the service
    # ignores an empty password on update).
    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=gettext_lazy("Leave blank to keep the stored password."),
    )

    oauth_client_secret = forms.CharField(
        label=gettext_lazy("OAuth2 client secret"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=gettext_lazy(
            "Leave blank to keep the stored secret (or to use the provider's from the settings)."
        ),
    )

    class Meta:
        model = EmailAccount
        fields = list(accounts.ACCOUNT_FIELDS)


OAUTH_FIELDS = (
    "auth_method",
    "oauth_status",
    "oauth_provider",
    "oauth_tenant",
    "oauth_client_id",
    "oauth_client_secret",
    "oauth_authorize_url",
    "oauth_token_url",
    "oauth_scope",
)
SMTP_FIELDS = ("smtp_host", "smtp_port", "smtp_security")


def _change_url(pk: int) -> str:
    return reverse("admin:email_integration_emailaccount_change", args=[pk])


def check_connection(account: EmailAccount) -> str:
    """Log in and out; the server's greeting, or raise."""
    if account.protocol == InboundProtocol.IMAP:
        cls = imaplib.IMAP4_SSL if account.use_tls else imaplib.IMAP4
        client = cls(account.host, account.port or (993 if account.use_tls else 143), timeout=15)
        oauth.imap_login(client, account)
        status, _ = client.select(account.folder, readonly=True)
        client.logout()
        return gettext("IMAP login and folder %(folder)r: %(status)s") % {
            "folder": account.folder,
            "status": status,
        }
    if account.protocol == InboundProtocol.POP3:
        pop3_cls = poplib.POP3_SSL if account.use_tls else poplib.POP3
        pop3 = pop3_cls(account.host, account.port or (995 if account.use_tls else 110), timeout=15)
        oauth.pop3_login(pop3, account)
        count, _ = pop3.stat()
        pop3.quit()
        return gettext("POP3 login: %(count)s message(s) waiting") % {"count": count}
    return gettext("No server to test: this account takes posted or ingested mail only.")


@admin.register(EmailAccount)
class EmailAccountAdmin(ConfigurationAdmin):
    """Saves and deletes through ``email_integration.accounts`` (the API's services), which
    record ``email.account.*`` events; so no generic ``admin.*`` event here."""

    form = EmailAccountForm
    agent_actions = READ_ONLY
    list_display = (
        "name",
        "address",
        "protocol",
        "host",
        "auth_method",
        "is_active",
        "polling",
        "last_polled_at",
        "error",
    )
    list_filter = ("protocol", "auth_method", "is_active")
    search_fields = ("name", "address")
    readonly_fields = ("last_polled_at", "last_error", "oauth_status")
    actions = ["test_connection"]

    def get_fieldsets(self, request: HttpRequest, obj: EmailAccount | None = None) -> Any:
        fields = self.get_fields(request, obj)
        grouped = {*OAUTH_FIELDS, *SMTP_FIELDS}
        return [
            (None, {"fields": [name for name in fields if name not in grouped]}),
            (
                gettext_lazy("Sign-in"),
                {"fields": [name for name in OAUTH_FIELDS if name in fields]},
            ),
            (
                gettext_lazy("Sending through the account's SMTP server"),
                {
                    "fields": [name for name in SMTP_FIELDS if name in fields],
                    "description": gettext_lazy(
                        "Empty host: mail goes out through the desk's mail server settings."
                    ),
                },
            ),
        ]

    @admin.display(description=gettext_lazy("OAuth2 status"))
    def oauth_status(self, account: EmailAccount) -> str:
        if account.pk is None or account.auth_method != AuthMethod.OAUTH2:
            return gettext("Not used: the account signs in with its password.")
        if account.oauth_error:
            state = account.oauth_error  # "The provider refused: <its error>"
            label = gettext("Re-authorize")
        elif not account.oauth_refresh_token:
            state, label = gettext("Not authorized yet."), gettext("Authorize")
        else:
            state = gettext("Authorized on %(when)s; access token valid until %(expires)s.") % {
                "when": date_format(localtime(account.oauth_authorized_at), "DATETIME_FORMAT")
                if account.oauth_authorized_at
                else "—",
                "expires": date_format(localtime(account.oauth_expires_at), "DATETIME_FORMAT")
                if account.oauth_expires_at
                else "—",
            }
            label = gettext("Re-authorize")
        link = reverse("admin:email_integration_emailaccount_oauth_authorize", args=[account.pk])
        return format_html(
            '<span class="oauth-state">{}</span><br><a class="button" href="{}">{}</a>',
            state,
            link,
            label,
        )

    def get_urls(self) -> list:
        authorize = path(
            "<int:pk>/oauth/authorize/",
            self.admin_site.admin_view(self.oauth_authorize_view),
            name="email_integration_emailaccount_oauth_authorize",
        )
        # One fixed address for every account: the redirect URI registered with the
        # provider. The account is in the state the admin's session keeps.
        callback = path(
            "oauth/callback/",
            self.admin_site.admin_view(self.oauth_callback_view),
            name="email_integration_emailaccount_oauth_callback",
        )
        return [authorize, callback, *super().get_urls()]

    def oauth_authorize_view(self, request: HttpRequest, pk: int) -> HttpResponseBase:
        """Send the admin to the provider's consent page (its answer comes back to
        ``oauth_callback_view``)."""
        account = get_object_or_404(EmailAccount, pk=pk)
        if not self.has_change_permission(request, account):
            raise PermissionDenied
        redirect_uri = site_url(reverse("admin:email_integration_emailaccount_oauth_callback"))
        try:
            url = oauth.consent_start(
                actor=signed_in_user(request),
                account=account,
                redirect_uri=redirect_uri,
                session=request.session,
            )
        except oauth.OAuthError as error:
            self.message_user(request, str(error), messages.ERROR)
            return HttpResponseRedirect(_change_url(account.pk))
        return HttpResponseRedirect(url)

    def oauth_callback_view(self, request: HttpRequest) -> HttpResponseBase:
        try:
            account = oauth.consent_finish(
                actor=signed_in_user(request),
                params=request.GET.dict(),
                session=request.session,
            )
        except oauth.OAuthError as error:
            self.message_user(
                request,
                gettext("Authorization failed: %(error)s") % {"error": error},
                messages.ERROR,
            )
            if error.account_id is None:  # no account: the state was not ours
                return HttpResponseRedirect(
                    reverse("admin:email_integration_emailaccount_changelist")
                )
            return HttpResponseRedirect(_change_url(error.account_id))
        self.message_user(
            request,
            gettext("%(account)s is authorized: it signs in with OAuth2 from now on.")
            % {"account": account.name},
            messages.SUCCESS,
        )
        return HttpResponseRedirect(_change_url(account.pk))

    def get_fields(
        self, request: HttpRequest, obj: EmailAccount | None = None
    ) -> list[str | list[str] | tuple[str, ...]]:
        fields = list(super().get_fields(request, obj))
        if self.has_change_permission(request, obj):
            return fields
        # A view-only page (agents) prints every field's stored value as text, which for
        # the password is the secret itself: only editors get the field, as the form's
        # write-only input.
        return [name for name in fields if name not in accounts.WRITE_ONLY_FIELDS]

    @admin.display(description=gettext_lazy("polling"))
    def polling(self, account: EmailAccount) -> str:
        return oauth.pause_reason(account)

    @admin.display(description=gettext_lazy("last error"))
    def error(self, account: EmailAccount) -> str:
        return (account.last_error or account.oauth_error or "")[:80]

    def service_data(self, form: forms.ModelForm, change: bool) -> dict[str, Any]:
        # Every field, also on a change: the service keeps the stored password when the
        # write-only field is left blank.
        return {name: form.cleaned_data[name] for name in form.fields if name in form.cleaned_data}

    def create_with(
        self, obj: EmailAccount, actor: User, data: dict[str, Any], rows: dict[str, Any]
    ) -> EmailAccount:
        return accounts.email_account_create(actor=actor, data=data)

    def update_with(
        self, obj: EmailAccount, actor: User, data: dict[str, Any], rows: dict[str, Any]
    ) -> EmailAccount:
        return accounts.email_account_update(actor=actor, account=obj, data=data)

    def delete_with(self, obj: EmailAccount, actor: User) -> None:
        accounts.email_account_delete(actor=actor, account=obj)

    @admin.action(description=gettext_lazy("Test the connection"))
    def test_connection(self, request: HttpRequest, queryset: QuerySet[EmailAccount]) -> None:
        for account in queryset:
            try:
                self.message_user(request, f"{account.name}: {check_connection(account)}")
            except Exception as error:  # any failure is the answer the admin asked for
                self.message_user(
                    request, f"{account.name}: {type(error).__name__}: {error}", messages.ERROR
                )


class AttachmentInline(ReadOnlyInline):
    model = EmailAttachment
    fields = ("filename", "content_type", "size", "refused_reason")


def search_messages(queryset: QuerySet[EmailMessage], term: str) -> QuerySet[EmailMessage]:
    """One index per kind of term: a Message-ID (email_message_id), a ticket key
    (email_message_ticket), an address (email_message_sender_upper), else every word in
    the subject (email_message_subject_trgm; words under three letters only narrow)."""
    term = term.strip()
    if not term:
        return queryset
    if term.startswith("<") and term.endswith(">"):
        return queryset.filter(message_id=term)
    number = Ticket.number_from_key(term)
    if number is not None:
        return queryset.filter(ticket_id=number)
    if "@" in term and " " not in term:
        return queryset.filter(from_address__iexact=term)
    words = search_words(term)
    if not any(len(word) >= MIN_TEXT_WORD for word in words):
        return queryset.none()
    for word in words:
        queryset = queryset.filter(subject__icontains=word)
    return queryset


REVIEW_FIELDS = ["error_reason", "sender_auth", "authentication", "reviewed_by", "reviewed_at"]


@admin.register(EmailMessage)
class EmailMessageAdmin(FastListAdmin, RolePermissionsMixin, admin.ModelAdmin):
    agent_actions = READ_ONLY
    admin_actions = READ_ONLY
    list_display = (
        "received_at",
        "message_type",
        "status",
        "from_address",
        "subject",
        "ticket_link",
        "reason",
    )
    list_filter = ("status", "sender_auth", "message_type", "account")
    # Listed for the search box; get_search_results does the searching.
    search_fields = ("subject",)
    search_help_text = gettext_lazy(
        "A Message-ID (<...>), a sender's address, a ticket key (NF-12), or words of the subject."
    )
    list_select_related = ("ticket",)
    # Newest first along email_message_received (0008); the other columns have no index.
    sortable_by = ("received_at",)
    inlines = [AttachmentInline]
    exclude = ("raw",)
    actions = ["reprocess", "resend", "release", "reject"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in EmailMessage._meta.fields if f.name != "raw"] + ["raw_link"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        # Why a message is where it is, and who decided, right under its status: what
        # staff read first when releasing or rejecting suspended mail.
        fields = [f for f in super().get_fields(request, obj) if f not in REVIEW_FIELDS]
        at = fields.index("status") + 1 if "status" in fields else len(fields)
        return [*fields[:at], *REVIEW_FIELDS, *fields[at:]]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[EmailMessage], search_term: str
    ) -> tuple[QuerySet[EmailMessage], bool]:
        return search_messages(queryset, search_term), False

    @admin.display(description=gettext_lazy("ticket"))
    def ticket_link(self, message: EmailMessage) -> str:
        if message.ticket is None:  # list_select_related: no query
            return "-"
        url = reverse("admin:nixflow_ticket_change", args=[message.ticket_id])
        return format_html('<a href="{}">{}</a>', url, message.ticket.key)

    @admin.display(description=gettext_lazy("reason"))
    def reason(self, message: EmailMessage) -> str:
        # Why a message is suspended, ignored or failed; "-" for the others. The whole
        # text is on the message's page.
        return Truncator(message.error_reason or "-").chars(140)

    @admin.display(description=gettext_lazy("raw message"))
    def raw_link(self, message: EmailMessage) -> str:
        url = reverse("admin:email_integration_emailmessage_raw", args=[message.pk])
        return format_html('<a href="{}">{}</a>', url, gettext("Download the raw message (.eml)"))

    def get_urls(self) -> list:
        raw = path(
            "<int:pk>/raw/",
            self.admin_site.admin_view(self.raw_view),
            name="email_integration_emailmessage_raw",
        )
        return [raw, *super().get_urls()]

    def raw_view(self, request: HttpRequest, pk: int) -> HttpResponseBase:
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        message = get_object_or_404(EmailMessage, pk=pk)
        # Served as a download, never rendered: a message can carry anything.
        return attachment_response(
            bytes(message.raw),
            filename=f"message-{message.pk}.eml",
            content_type="message/rfc822",
            request=request,
        )

    def has_reprocess_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    @admin.action(
        description=gettext_lazy("Reprocess (failed or unprocessed) messages"),
        permissions=["reprocess"],
    )
    def reprocess(self, request: HttpRequest, queryset: QuerySet[EmailMessage]) -> None:
        eligible = list(
            queryset.filter(
                status__in=[EmailMessageStatus.FAILED, EmailMessageStatus.RECEIVED]
            ).exclude(message_type=EmailMessageType.OUTBOUND)  # outbound: resend, below
        )
        done = services.messages_reprocess(messages=eligible)
        ok = sum(m.status == EmailMessageStatus.PROCESSED for m in done)
        self.message_user(
            request,
            gettext(
                "Reprocessed %(count)s message(s): %(ok)s processed, %(not_ok)s not "
                "(see their status); %(skipped)s skipped as already done."
            )
            % {
                "count": len(done),
                "ok": ok,
                "not_ok": len(done) - ok,
                "skipped": queryset.count() - len(eligible),
            },
        )

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    @admin.action(
        description=gettext_lazy("Resend (failed outbound) messages"), permissions=["resend"]
    )
    def resend(self, request: HttpRequest, queryset: QuerySet[EmailMessage]) -> None:
        failures, queued = [], 0
        for message in queryset.order_by("id"):
            try:
                outbound.message_resend(actor=signed_in_user(request), message=message)
                queued += 1
            except (ValidationError, PermissionDenied) as error:
                failures.append(f"#{message.pk}: {error_text(error)}")
        if queued:
            self.message_user(
                request,
                gettext("Queued %(count)s message(s) to be sent again.") % {"count": queued},
            )
        report_failures(self, request, "Could not resend", failures, noun="message")

    # Release and reject below mirror each other: two actions, two services.
    def has_release_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    @admin.action(
        description=gettext_lazy("Release (suspended) messages: process them as their sender"),
        permissions=["release"],
    )
    def release(self, request: HttpRequest, queryset: QuerySet[EmailMessage]) -> None:
        # The service decides who may vouch for which sender (services.message_release).
        self._review(
            request,
            queryset,
            services.message_release,
            done=gettext("Released %(count)s message(s): %(outcomes)s."),
            failed="Could not release",
        )

    def has_reject_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    @admin.action(
        description=gettext_lazy("Reject (suspended) messages: keep them, never process them"),
        permissions=["reject"],
    )
    def reject(self, request: HttpRequest, queryset: QuerySet[EmailMessage]) -> None:
        self._review(
            request,
            queryset,
            services.message_reject,
            done=gettext("Rejected %(count)s message(s): %(outcomes)s."),
            failed="Could not reject",
        )

    def _review(
        self,
        request: HttpRequest,
        queryset: QuerySet[EmailMessage],
        review: Callable[..., EmailMessage],
        *,
        done: str,  # "Released %(count)s message(s): %(outcomes)s."
        failed: str,
    ) -> None:
        failures, reviewed = [], []
        for message in queryset.order_by("id"):
            try:
                reviewed.append(review(message=message, actor=signed_in_user(request)))
            except (ValidationError, PermissionDenied) as error:
                failures.append(f"#{message.pk}: {error_text(error)}")
        if reviewed:
            outcomes = ", ".join(f"#{m.pk} {m.status}" for m in reviewed)
            self.message_user(request, done % {"count": len(reviewed), "outcomes": outcomes})
        report_failures(self, request, failed, failures, noun="message")
