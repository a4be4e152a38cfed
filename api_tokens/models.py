"""Integration tokens: named, scoped API credentials a user makes for a program.

- ``ApiToken``: one token of a user's, with its scopes (``api_tokens.scopes``), an
  optional expiry, and the SHA-256 of its string (``api_tokens.keys`` says why SHA-256
  is enough); the string itself is shown once, when the token is made, and never
  stored. Revoking keeps the row, as a record of what the token was and did.
- ``LegacyTokenUse``: when each user's DRF token (``rest_framework.authtoken``, the
  tokens of ``POST /api/auth/token/``) was last used, which DRF does not record; it is
  how an admin finds who still has to move to integration tokens.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from api_tokens.scopes import SCOPES

SCOPE_CHOICES = [(scope, scope) for scope in SCOPES]


class ApiToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(_("name"), max_length=100, help_text=_("What the token is for."))
    scopes = ArrayField(
        models.CharField(max_length=16, choices=SCOPE_CHOICES),
        verbose_name=_("scopes"),
        help_text=_("Read or write per area; write includes read."),
    )
    prefix = models.CharField(_("prefix"), max_length=8, unique=True, editable=False)
    # The only trace of the secret: SHA-256 hex of the whole token string (unique, which
    # is also the index every authenticated request looks the token up by).
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ("-created_at", "-id")
        constraints = [
            # One live token per name per user: "CRM sync" means one thing in a list.
            models.UniqueConstraint(
                fields=["user", "name"],
                condition=models.Q(revoked_at__isnull=True),
                name="api_token_live_name_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(scopes__len__gt=0), name="api_token_has_scopes"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (nft_{self.prefix}…)"

    @property
    def display(self) -> str:
        """How lists show the token: its recognisable start, never more."""
        return f"nft_{self.prefix}_…"

    def is_expired(self, now: object = None) -> bool:
        moment = now or timezone.now()
        return self.expires_at is not None and self.expires_at <= moment  # type: ignore[operator]

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class LegacyTokenUse(models.Model):
    """The last use of a user's DRF token (DRF keeps one token per user)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="legacy_token_use",
    )
    last_used_at = models.DateTimeField()

    class Meta:
        verbose_name = _("legacy token use")
        verbose_name_plural = _("legacy token uses")

    def __str__(self) -> str:
        return f"{self.user_id}: {self.last_used_at:%Y-%m-%d %H:%M}"
