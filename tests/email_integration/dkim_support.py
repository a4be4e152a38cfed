"""DKIM for tests: real RSA keys, messages signed by dkimpy, DNS served from a dict.

Nothing here is mocked except the one thing that would leave the machine, the DNS
lookup: ``Resolver`` is given to ``authentication.txt_lookup`` (the ``dnsfunc`` dkimpy
calls) and answers TXT queries from the records a test published.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from functools import cache

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@dataclass
class Resolver:
    """TXT records by name; a name without one answers None (NXDOMAIN)."""

    records: dict[str, bytes] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def __call__(self, name: bytes, timeout: int = 5) -> bytes | None:
        text = name.decode().rstrip(".").lower()
        self.asked.append(text)
        return self.records.get(text)


@dataclass(frozen=True)
class Key:
    private_pem: bytes
    dns_record: bytes  # the TXT record publishing the public key


@cache
def rsa_key(label: str = "default") -> Key:
    """A 2048-bit RSA key pair (one per label and test session: generating is slow)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,  # PKCS#1, what dkimpy reads
        serialization.NoEncryption(),
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Key(pem, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public))


def publish(resolver: Resolver, *, domain: str, selector: str = "mail", key: Key) -> None:
    resolver.records[f"{selector}._domainkey.{domain}"] = key.dns_record


def dkim_sign(
    raw: bytes,
    *,
    domain: str,
    key: Key,
    selector: str = "mail",
    headers: list[bytes] | None = None,
    length: bool = False,
) -> bytes:
    """``raw`` with a DKIM-Signature of ``domain`` prepended (as a signing MTA does)."""
    signature = dkim.sign(
        raw,
        selector.encode(),
        domain.encode(),
        key.private_pem,
        include_headers=headers or [b"from", b"to", b"subject", b"message-id", b"date"],
        length=length,
    )
    return signature + raw


def arc_seal(raw: bytes, *, domain: str, key: Key, authserv_id: str, results: str) -> bytes:
    """``raw`` as a forwarder passes it on: its Authentication-Results (``results``)
    and an ARC set of ``domain`` over them (dkimpy's ``arc_sign`` reads the results
    from the header naming ``authserv_id``)."""
    received = f"Authentication-Results: {authserv_id}; {results}\r\n".encode() + raw
    seal = dkim.arc_sign(received, b"mail", domain.encode(), key.private_pem, authserv_id.encode())
    return b"".join(seal) + received
