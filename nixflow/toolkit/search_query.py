"""Web-style search queries, parsed into a PostgreSQL tsquery: the syntax every search
box of the desk reads the same way (the ticket search; the KB search's parser follows
the same rules).

- words are all required: ``vpn mac`` finds documents with both;
- ``"quoted words"`` are a phrase: the words next to each other, in that order;
- ``-word`` and ``-"a phrase"`` exclude documents that contain them;
- ``or`` between two terms accepts either: ``vpn mac or windows`` is
  vpn AND (mac OR windows) (``or`` binds tighter than the implicit AND, as on the web);
- ``word*`` is a prefix: ``conn*`` finds "connect", "connection", "connected".

Each term keeps the text the reader typed; PostgreSQL parses it with the document's text
search configuration (``phraseto_tsquery``), so hyphenated words, e-mail addresses and
stop words are handled exactly as in the stored documents. What the reader typed is
always a parameter, never part of the statement; tsquery syntax (``'word':*``) is built
only from prefix words checked to be plain word characters.

Prefixes match the *stored* words, which are stemmed ("connection" is kept as
"connect"): a prefix longer than a word's stem ("connecti*") does not find it. The
prefix is stemmed too, which covers the common case of a whole word or a short prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_TERMS = 16  # a query is a handful of words; this bounds the work of a pasted essay
MAX_QUERY_CHARS = 300
MIN_PREFIX_CHARS = 2  # "a*" would merge the posting list of every word starting with a

_TOKEN = re.compile(r'(?P<neg>-?)"(?P<phrase>[^"]*)"?|(?P<word>[^\s"]+)')
_WORDS = re.compile(r"\w+")
_PLAIN_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Term:
    text: str  # what the reader typed, without quotes, minus sign and star
    negated: bool = False
    phrase: bool = False  # quoted
    prefix: bool = False  # word*

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
        """False for an empty query or one that only excludes: it would match nearly
        everything, and no index can find "documents without X"."""
        return any(not term.negated and term.words for term in self.terms)

    @property
    def plain_words(self) -> list[str] | None:
        """The words when the query is only plain words (no phrase, prefix, exclusion or
        ``or``), as a name or an address is typed; else None."""
        if any(len(clause) > 1 for clause in self.clauses):
            return None
        if any(term.negated or term.phrase or term.prefix for term in self.terms):
            return None
        return [term.text for term in self.terms]

    def normalized(self) -> str:
        """The query in a canonical spelling (lower case, single spaces)."""
        return " ".join(" or ".join(_show(term) for term in clause) for clause in self.clauses)


def _show(term: Term) -> str:
    text = " ".join(term.words)
    if term.phrase:
        text = f'"{text}"'
    elif term.prefix:
        text = f"{text}*"
    return f"-{text}" if term.negated else text


def _word_term(raw: str) -> Term | None:
    negated = raw.startswith("-") and len(raw) > 1
    text = raw[1:] if negated else raw
    stripped = text.rstrip("*")
    if stripped != text and _PLAIN_WORD.fullmatch(stripped) and len(stripped) >= MIN_PREFIX_CHARS:
        return Term(text=stripped, negated=negated, prefix=True)
    if _WORDS.search(stripped):
        return Term(text=stripped, negated=negated)
    return None


def _items(query: str) -> list[Term | str]:
    items: list[Term | str] = []
    for match in _TOKEN.finditer(query[:MAX_QUERY_CHARS]):
        raw = match.group("word")
        if raw is not None:
            if raw.lower() == "or":
                items.append("or")
            elif (term := _word_term(raw)) is not None:
                items.append(term)
            continue
        text = match.group("phrase")
        if _WORDS.search(text):
            items.append(Term(text=text, negated=bool(match.group("neg")), phrase=True))
    return items


def parse(query: str) -> ParsedQuery:
    """Parse ``query``; an empty or unusable query has no clauses."""
    clauses: list[list[Term]] = []
    join_next = False
    for item in _items(query):
        if item == "or":
            join_next = bool(clauses)
            continue
        assert isinstance(item, Term)  # noqa: S101 -- narrowing for the type checker
        if sum(len(clause) for clause in clauses) == MAX_TERMS:
            break
        # An excluded term can't be an alternative ("a or -b" matches nearly everything,
        # and no index serves it): it is read as "a -b".
        if join_next and not item.negated and not any(t.negated for t in clauses[-1]):
            clauses[-1].append(item)
        else:
            clauses.append([item])
        join_next = False
    return ParsedQuery(tuple(tuple(clause) for clause in clauses))


def tsquery_sql(parsed: ParsedQuery, config: str) -> tuple[str, list[str]]:
    """``parsed`` as one tsquery expression with positional (``%s``) parameters: the
    AND of the clauses, each the OR of its terms. ``config`` is a constant of the code
    (a text search configuration's name), written into the SQL."""
    regconfig = f"'{config}'::regconfig"
    clauses: list[str] = []
    params: list[str] = []
    for clause in parsed.clauses:
        parts = []
        for term in clause:
            if term.prefix:
                sql, value = f"to_tsquery({regconfig}, %s)", f"'{term.text.lower()}':*"
            else:
                sql, value = f"phraseto_tsquery({regconfig}, %s)", term.text
            parts.append(f"(!! {sql})" if term.negated else sql)
            params.append(value)
        clauses.append("(" + " || ".join(parts) + ")")
    return "(" + " && ".join(clauses) + ")", params
