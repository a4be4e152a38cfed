"""Which account a person at the OpenID provider is.

An identity is the provider's ``iss`` and ``sub``: the subject identifier is the one
thing a provider promises never to reassign (OpenID Connect Core 5.7), whereas e-mail
addresses change and are reused. So the address links an account once, at the first
sign-in (and only when the provider has verified it); every later sign-in finds the
account by its identity, whatever address it then brings.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Identity(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_identities"
    )
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    created = models.DateTimeField(default=timezone.now)
    last_signed_in = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "identities"
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="sso_identity_once"),
            # One identity per provider and account: a second person at the provider
            # bringing the same address is a conflict an admin settles, not a second key.
            models.UniqueConstraint(fields=["user", "issuer"], name="sso_identity_one_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"
