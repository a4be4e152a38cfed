"""Web-style search queries, parsed into terms that become a PostgreSQL tsquery.

The syntax is what people type into search engines:

- words are all required: ``vpn mac`` finds articles with both;
- ``"quoted words"`` are a phrase: the words next to each other, in that order;
- ``-word`` and ``-"a phrase"`` exclude articles that contain them;
- ``or`` between two terms accepts either: ``vpn mac or windows`` is
  vpn AND (mac OR windows) — ``or`` binds tighter than the implicit AND, as on the web
  (PostgreSQL's own ``websearch_to_tsquery`` binds it looser, which is rarely meant);
- the last word, while it is being typed (no space after it, three letters or more),
  is a prefix: ``vpn conn`` also finds "connection".

Each term keeps the text the reader typed; PostgreSQL parses it with the same text
search configuration as the stored document (``phraseto_tsquery``), so hyphenated words,
e-mail addresses and stop words are handled exactly as in the articles. Nothing typed
is ever spliced into tsquery syntax, except prefix and vocabulary words, which are
checked to be plain word characters first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

MAX_TERMS = 16  # a query is a handful of words; this bounds the work of a pasted essay
MAX_QUERY_CHARS = 300
MIN_PREFIX_CHARS = 3

_TOKEN = re.compile(r'(?P<neg>-?)"(?P<phrase>[^"]*)"?|(?P<word>[^\s"]+)')
_WORDS = re.compile(r"\w+")
_PLAIN_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Term:
    text: str  # what the reader typed, without quotes and minus sign
    negated: bool = False
    phrase: bool = False  # quoted
    prefix: bool = False  # the last word, still being typed

    @property
    def words(self) -> list[str]:
        return _WORDS.findall(self.text.lower())


@dataclass(frozen=True)
class ParsedQuery:
    """An AND of clauses; each clause is an OR of terms (most have one)."""

    clauses: tuple[tuple[Term, ...], ...]

    @property
    def terms(self) -> list[Term]:
        return [term for clause in self.clauses for term in clause]

    @property
    def has_positive_terms(self) -> bool:
        return any(not term.negated and term.words for term in self.terms)

    @property
    def prefix_term(self) -> Term | None:
        return next((term for term in self.terms if term.prefix), None)

    def normalized(self) -> str:
        """The query in a canonical spelling: lower case, single spaces, ``or`` in
        lower case; two searches meaning the same thing read the same in the reports."""
        parts = []
        for clause in self.clauses:
            shown = [_show(term) for term in clause]
            parts.append(" or ".join(shown))
        return " ".join(parts)

    def with_words_replaced(self, replacements: dict[str, str]) -> ParsedQuery:
        """The query with some words replaced (typo corrections); a replaced prefix
        word becomes a whole word."""

        def fix(term: Term) -> Term:
            changed = False

            def swap(match: re.Match[str]) -> str:
                nonlocal changed
                new = replacements.get(match.group(0).lower())
                if new is None:
                    return match.group(0)
                changed = True
                return new

            text = _WORDS.sub(swap, term.text)
            return replace(term, text=text, prefix=term.prefix and not changed)

        return ParsedQuery(tuple(tuple(fix(term) for term in clause) for clause in self.clauses))


def _show(term: Term) -> str:
    text = " ".join(term.words)
    if term.phrase:
        text = f'"{text}"'
    return f"-{text}" if term.negated else text


def parse(query: str) -> ParsedQuery:
    """Parse ``query``; an empty or unusable query has no clauses."""
    query = query[:MAX_QUERY_CHARS]
    items: list[Term | str] = []
    for match in _TOKEN.finditer(query):
        if match.group("word") is not None:
            raw = match.group("word")
            if raw.lower() == "or":
                items.append("or")
                continue
            negated = raw.startswith("-") and len(raw) > 1
            text = raw[1:] if negated else raw
            if _WORDS.search(text):
                items.append(Term(text=text, negated=negated))
        else:
            text = match.group("phrase")
            if _WORDS.search(text):
                items.append(Term(text=text, negated=bool(match.group("neg")), phrase=True))
    terms_seen = 0
    clauses: list[list[Term]] = []
    join_next = False
    for item in items:
        if item == "or":
            join_next = bool(clauses)
            continue
        assert isinstance(item, Term)  # noqa: S101 -- narrowing for the type checker
        if terms_seen == MAX_TERMS:
            break
        terms_seen += 1
        # An excluded term can't be an alternative: "a or -b" would match nearly every
        # article, and no index can serve it. It is read as "a -b".
        can_join = join_next and not item.negated and not any(t.negated for t in clauses[-1])
        if can_join:
            clauses[-1].append(item)
        else:
            clauses.append([item])
        join_next = False
    parsed = ParsedQuery(tuple(tuple(clause) for clause in clauses))
    return _mark_prefix(parsed, query)


def _mark_prefix(parsed: ParsedQuery, query: str) -> ParsedQuery:
    """The last term is a prefix while the reader is still typing it."""
    if not parsed.clauses or not query or query[-1].isspace() or query.endswith('"'):
        return parsed
    last = parsed.clauses[-1][-1]
    if last.negated or last.phrase or not _PLAIN_WORD.fullmatch(last.text):
        return parsed
    if len(last.text) < MIN_PREFIX_CHARS:
        return parsed
    clauses = list(parsed.clauses)
    clauses[-1] = (*clauses[-1][:-1], replace(last, prefix=True))
    return ParsedQuery(tuple(clauses))


def is_plain_word(word: str) -> bool:
    """Safe to put between quotes in tsquery syntax: word characters only."""
    return bool(_PLAIN_WORD.fullmatch(word))
