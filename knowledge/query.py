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
e-mail addresses and stop words are handled exactly as in the articles. ``tsquery_sql``
writes the parsed query as SQL: what the reader typed is always a (named) parameter,
never part of the statement, and tsquery syntax is built only from prefix and vocabulary
words, which are checked to be plain word characters first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from knowledge.models import SEARCH_CONFIG

MAX_TERMS = 16  # a query is a handful of words; this bounds the work of a pasted essay
MAX_QUERY_CHARS = 300
MIN_PREFIX_CHARS = 3
# The configuration is a constant of the code, written into the SQL.
CONFIG_SQL = f"'{SEARCH_CONFIG}'::regconfig"

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


# --- the tsquery, as SQL with named parameters ---------------------------------------------
@dataclass(frozen=True)
class Completions:
    """Vocabulary words that start with the prefix being typed."""

    words: tuple[str, ...] = ()
    complete: bool = True  # every vocabulary word that starts with the prefix is listed


def tsquery_sql(
    parsed: ParsedQuery, completions: Completions, *, name: str
) -> tuple[str, dict[str, str]]:
    """``parsed`` as a tsquery expression: the AND of the clauses, each the OR of its
    terms. Its parameters are named ``<name>_0``, ``<name>_1``, … (one per term), so that
    the expression can appear several times in a statement with one set of values, and
    two expressions with different names can be combined."""
    clauses: list[str] = []
    params: dict[str, str] = {}
    for clause in parsed.clauses:
        parts = []
        for term in clause:
            key = f"{name}_{len(params)}"
            sql, params[key] = _term_sql(term, completions, key)
            parts.append(sql)
        clauses.append("(" + " || ".join(parts) + ")")
    return "(" + " && ".join(clauses) + ")", params


def _quoted(word: str) -> str:
    return f"'{word}'"


def _term_sql(term: Term, completions: Completions, key: str) -> tuple[str, str]:
    """One term's tsquery SQL, with its parameter ``key``, and the parameter's value."""
    if term.prefix:
        # Full-text search stems the document's words ("connection" is stored as
        # "connect"), so the prefix "connecti" matches no stored word by itself: the
        # vocabulary's words that start with it are searched, each stemmed by
        # to_tsquery ("connection" → 'connect'). Every word of every article is in the
        # vocabulary, so when all those words are listed they find exactly what a prefix
        # match (:*) would, through exact index lookups; a prefix match makes GIN merge
        # the posting lists of every lexeme that starts with it, which for a common word
        # costs ten times more. Only a short, ambiguous prefix keeps the :*.
        typed = term.text.lower()
        words = [w for w in completions.words if is_plain_word(w)]
        first = _quoted(typed) if completions.complete else f"{_quoted(typed)}:*"
        value = " | ".join([first, *(_quoted(w) for w in words)])
        sql = f"to_tsquery({CONFIG_SQL}, %({key})s)"
    else:
        value, sql = term.text, f"phraseto_tsquery({CONFIG_SQL}, %({key})s)"
    return (f"(!! {sql})" if term.negated else sql), value
