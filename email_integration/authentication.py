"""Who really sent an inbound message: sender authentication.

``From:`` is text anyone can write. Mail may act as staff (an agent's comment, a first
response, mail on to the requester) only when its sender is authenticated; the
pipeline (``services``) holds everything else that would act as staff as *suspended*.
This module answers one question for a raw message: is the domain of its ``From:``
address vouched for, and by what? The first of these that holds wins:

1. **Our MTA's ``Authentication-Results``** (RFC 8601), only from the account's
   ``trusted_authserv_id``. The topmost such header counts; headers naming any other
   authserv-id are ignored, as anyone can write them before the mail reaches us (RFC
   8601 section 5 makes the receiving MTA remove incoming copies of its own id, which
   Postfix with OpenDKIM/OpenDMARC, rspamd and Exim do). It vouches with
   ``dmarc=pass`` for exactly the From domain (``header.from``), or with ``dkim=pass``
   for a signing domain (``header.d``) aligned with it. ``spf=pass`` alone never
   does: SPF checks the envelope sender, not ``From:``.
2. **A DKIM signature we verify ourselves** (RFC 6376), aligned with the From domain
   as DMARC defines it (RFC 7489 section 3.1: the same organizational domain, or the
   very domain when the domain's DMARC record says ``adkim=s``). The signature must
   cover ``From:``, must not use ``l=`` (a body length lets anyone append text under a
   valid signature), and the message must have exactly one ``From:``.
3. **A valid ARC chain** (RFC 8617) whose latest sealer is in
   ``EMAIL_TRUSTED_ARC_SEALERS`` and whose ARC-Authentication-Results pass as in 1: for
   mail through forwarders and lists we trust, which break the original signature.

SPF is not evaluated here: it needs the address of the client that connected to our
MTA, which posted, polled and ingested mail does not carry reliably; a DMARC result of
our MTA (1) includes SPF alignment. Reply tokens (``reply_tokens``) authenticate a
user rather than a domain and are checked by the pipeline, which knows the users.

**Library.** ``dkimpy`` verifies DKIM and ARC: it is maintained, implements RFC 6376,
8463 (Ed25519) and 8617, and takes the DNS lookup as a parameter (``dnsfunc``), which
``txt_lookup`` below fills and tests replace with a dictionary of TXT records.
``publicsuffixlist`` (which ships the Public Suffix List, updated with each release)
finds organizational domains for alignment. ``authheaders`` was considered: it wraps
dkimpy and adds SPF (pyspf) and DMARC evaluation, but its DMARC needs the SPF result
of the connecting IP we do not have, and it finds organizational domains with
``publicsuffix2``, whose list dates from 2019. ``checkdmarc`` checks a domain's DNS
records, not a message. Verifying DKIM costs DNS lookups only for signed mail.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from functools import cache

import dkim  # type: ignore[import-untyped]  # dkimpy ships no type hints
from django.conf import settings
from publicsuffixlist import PublicSuffixList

from email_integration.models import SenderAuth

logger = logging.getLogger(__name__)

# The DNS TXT lookup dkimpy calls (its ``dnsfunc``): name (bytes) -> record or None.
# Tests replace it with records served from a dictionary.
txt_lookup: Callable[..., bytes | None] = dkim.dnsplug.get_txt
MAX_SIGNATURES = 5  # DKIM signatures tried per message (each may cost a DNS lookup)
_COMMENT = re.compile(r"\([^()]*\)")


@dataclass(frozen=True)
class Verdict:
    """How a message's From domain was vouched for (``SenderAuth``), and what was seen."""

    method: str = SenderAuth.NONE
    detail: str = ""

    @property
    def verified(self) -> bool:
        return self.method != SenderAuth.NONE


def _dns(name: bytes, timeout: int = 5) -> bytes | None:
    # Looked up on each call, so that a replaced ``txt_lookup`` takes effect.
    return txt_lookup(name, timeout=timeout)


@cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()


def organizational_domain(domain: str) -> str:
    """The registered domain (``mail.example.co.uk`` -> ``example.co.uk``)."""
    domain = domain.lower().rstrip(".")
    return _suffixes().privatesuffix(domain) or domain


def _dmarc_strict_dkim(domain: str) -> bool:
    """Whether the domain's DMARC record asks for strict DKIM alignment (``adkim=s``);
    the record of the domain itself, else of its organizational domain."""
    for name in dict.fromkeys([domain, organizational_domain(domain)]):
        try:
            record = _dns(f"_dmarc.{name}".encode())
        except Exception:  # an unreachable resolver: assume the default, relaxed
            logger.warning("DMARC lookup for %s failed", name, exc_info=True)
            return False
        if record and record.lower().startswith(b"v=dmarc1"):
            tags = dict(
                part.strip().partition("=")[::2]
                for part in record.decode("ascii", "replace").split(";")
            )
            return tags.get("adkim", "r").strip().lower() == "s"
    return False


def aligned(signing_domain: str, from_domain: str, *, strict: bool = False) -> bool:
    signing_domain, from_domain = signing_domain.lower().rstrip("."), from_domain.lower()
    if signing_domain == from_domain:
        return True
    if strict:
        return False
    return organizational_domain(signing_domain) == organizational_domain(from_domain)


def parse_authentication_results(value: str) -> tuple[str, list[dict[str, str]]]:
    """(authserv-id, results) of an Authentication-Results value (RFC 8601); each result
    a dict with ``method``, ``result`` and its properties (``header.from`` …),
    lowercased. Lenient: what does not parse is left out."""
    text = value
    while _COMMENT.search(text):
        text = _COMMENT.sub(" ", text)
    head, *pieces = text.split(";")
    words = head.split()
    authserv_id = words[0].lower() if words else ""
    results = []
    for piece in pieces:
        tokens = piece.split()
        if not tokens or "=" not in tokens[0]:
            continue
        method, _, result = tokens[0].partition("=")
        entry = {"method": method.split("/")[0].lower(), "result": result.lower()}
        for token in tokens[1:]:
            key, sep, prop = token.partition("=")
            if sep:
                entry.setdefault(key.lower(), prop.strip('"').lower())
        results.append(entry)
    return authserv_id, results


def _results_vouch(results: list[dict[str, str]], from_domain: str) -> str:
    """The result that vouches for ``from_domain``, described (DMARC's first, as it
    says the most); "" when none does."""
    passed = [entry for entry in results if entry["result"] == "pass"]
    for entry in passed:
        if entry["method"] == "dmarc" and entry.get("header.from", "") == from_domain:
            return f"dmarc=pass header.from={from_domain}"
    for entry in passed:
        if entry["method"] == "dkim":
            signer = entry.get("header.d") or entry.get("header.i", "").rpartition("@")[2]
            if signer and aligned(signer, from_domain):
                return f"dkim=pass header.d={signer}"
    return ""


def _headers(message: Message, name: str) -> list[str]:
    """Every value of a header, unfolded, as written: raw, since parsing them into the
    email package's header objects (addresses above all) costs a millisecond a message."""
    wanted = name.lower()
    return [" ".join(str(v).split()) for k, v in message.raw_items() if k.lower() == wanted]


def _from_mtas_results(message: Message, from_domain: str, authserv_id: str) -> Verdict | None:
    ours = authserv_id.strip().lower()
    seen = [parse_authentication_results(v) for v in _headers(message, "Authentication-Results")]
    foreign = sorted({sid for sid, _ in seen if sid != ours})
    note = f"ignored Authentication-Results of {', '.join(foreign)}" if foreign else ""
    trusted = next((results for sid, results in seen if ours and sid == ours), None)
    if trusted is not None:
        vouch = _results_vouch(trusted, from_domain)
        if vouch:
            return Verdict(SenderAuth.AUTHENTICATION_RESULTS, f"{ours}: {vouch}")
        note = "; ".join(filter(None, [f"{ours} did not vouch for {from_domain}", note]))
    return Verdict(SenderAuth.NONE, note) if note else None


def _from_dkim(raw: bytes, message: Message, from_domain: str) -> Verdict | None:
    if "DKIM-Signature" not in message:
        return None  # unsigned: no need to have dkimpy read the message
    notes = []
    verifier = dkim.DKIM(raw, timeout=5)
    for index in range(MAX_SIGNATURES):
        verifier.signature_fields = {}  # set by verify() only when there is a signature
        problem = ""
        try:
            valid = verifier.verify(idx=index, dnsfunc=_dns)
        except Exception as error:  # a malformed signature or key, a bad hash, DNS trouble
            valid, problem = False, f"{type(error).__name__}: {error}"[:200]
        fields = verifier.signature_fields
        if not fields:
            if problem:  # not even its tags could be read
                notes.append(f"DKIM signature {index + 1}: {problem}")
                continue
            break  # no signature at this index: all tried
        verdict = _judge_signature(fields, valid, from_domain, problem)
        if verdict.verified:
            return verdict
        notes.append(verdict.detail)
    return Verdict(SenderAuth.NONE, "; ".join(notes)) if notes else None


def _judge_signature(
    fields: dict[bytes, bytes], valid: bool, from_domain: str, problem: str
) -> Verdict:
    signer = fields.get(b"d", b"").decode("ascii", "replace").lower()
    covered = [h.strip().lower() for h in fields.get(b"h", b"").split(b":")]
    if not valid:
        return Verdict(detail=f"dkim=fail d={signer}" + (f" ({problem})" if problem else ""))
    if b"l" in fields:
        return Verdict(detail=f"dkim=pass d={signer} ignored: it covers only part of the body (l=)")
    if b"from" not in covered:
        return Verdict(detail=f"dkim=pass d={signer} ignored: it does not cover From")
    if aligned(signer, from_domain, strict=_strict_if_needed(signer, from_domain)):
        return Verdict(SenderAuth.DKIM, f"dkim=pass d={signer}, aligned with {from_domain}")
    return Verdict(detail=f"dkim=pass d={signer}, not aligned with {from_domain}")


def _strict_if_needed(signer: str, from_domain: str) -> bool:
    # Only a signature of another domain of the same organization depends on adkim.
    return signer != from_domain and _dmarc_strict_dkim(from_domain)


def _from_arc(raw: bytes, message: Message, from_domain: str) -> Verdict | None:
    sealers = {d.lower() for d in settings.EMAIL_TRUSTED_ARC_SEALERS}
    if not sealers or "ARC-Seal" not in message:
        return None
    chain, results, reason = dkim.arc_verify(raw, dnsfunc=_dns)
    if chain != dkim.CV_Pass or not results:
        return Verdict(SenderAuth.NONE, f"ARC chain did not validate: {reason}")
    latest = results[0]  # the highest instance: the sealer nearest to us
    sealer = latest["as-domain"].decode("ascii", "replace").lower()
    if sealer not in sealers:
        return Verdict(SenderAuth.NONE, f"ARC sealed by {sealer}, not a trusted sealer")
    aar = latest.get("aar-value", b"").decode("utf-8", "replace")
    _, results_text = aar.split(";", 1) if ";" in aar else ("", aar)  # drop "i=N;"
    _, found = parse_authentication_results(results_text)
    vouch = _results_vouch(found, from_domain)
    if vouch:
        return Verdict(SenderAuth.ARC, f"ARC sealed by {sealer}: {vouch}")
    return Verdict(SenderAuth.NONE, f"ARC sealed by {sealer} did not vouch for {from_domain}")


def authenticate(*, raw: bytes, message: Message, from_address: str, authserv_id: str) -> Verdict:
    """How the domain of ``from_address`` is vouched for in this message (the module
    docstring gives the rules); ``Verdict()`` with what was seen when it is not."""
    domain = from_address.rpartition("@")[2].lower()
    if not domain:
        return Verdict(SenderAuth.NONE, "no From address")
    if len(_headers(message, "From")) != 1:
        return Verdict(SenderAuth.NONE, "not exactly one From header")
    notes = []
    for check in (
        lambda: _from_mtas_results(message, domain, authserv_id),
        lambda: _from_dkim(raw, message, domain),
        lambda: _from_arc(raw, message, domain),
    ):
        try:
            verdict = check()
        except Exception as error:  # never let a verifier's bug drop a message
            logger.exception("Sender authentication failed on a check")
            verdict = Verdict(SenderAuth.NONE, f"{type(error).__name__}: {error}"[:300])
        if verdict is None:
            continue
        if verdict.verified:
            return verdict
        notes.append(verdict.detail)
    return Verdict(SenderAuth.NONE, "; ".join(filter(None, notes)) or "no DKIM signature")
