"""Web-style queries: words, "phrases", -exclusions, or, and the word being typed."""

from __future__ import annotations

import pytest

from knowledge.query import MAX_TERMS, parse


def _shape(query: str) -> list[list[tuple[str, bool, bool, bool]]]:
    return [
        [(t.text, t.negated, t.phrase, t.prefix) for t in clause] for clause in parse(query).clauses
    ]


def test_words_are_all_required_and_the_last_is_a_prefix_while_typed() -> None:
    assert _shape("vpn conn") == [[("vpn", False, False, False)], [("conn", False, False, True)]]
    assert _shape("vpn conn ") == [[("vpn", False, False, False)], [("conn", False, False, False)]]


def test_short_last_words_are_not_prefixes() -> None:
    assert _shape("vpn co") == [[("vpn", False, False, False)], [("co", False, False, False)]]


def test_phrases_and_exclusions() -> None:
    assert _shape('"reset your password" -mac -"old client"') == [
        [("reset your password", False, True, False)],
        [("mac", True, False, False)],
        [("old client", True, True, False)],
    ]


def test_or_binds_tighter_than_the_implicit_and() -> None:
    assert _shape("vpn mac OR windows ") == [
        [("vpn", False, False, False)],
        [("mac", False, False, False), ("windows", False, False, False)],
    ]


def test_an_excluded_term_is_never_an_alternative() -> None:
    assert _shape("vpn or -mac ") == [[("vpn", False, False, False)], [("mac", True, False, False)]]


@pytest.mark.parametrize("query", ["", "   ", "-vpn", '""', "- -- ---", "or", '-"a b"'])
def test_queries_without_anything_to_find(query: str) -> None:
    assert not parse(query).has_positive_terms


def test_unclosed_quotes_and_punctuation_are_tolerated() -> None:
    assert _shape('"reset pass') == [[("reset pass", False, True, False)]]
    assert _shape("what's wi-fi?") == [
        [("what's", False, False, False)],
        [("wi-fi?", False, False, False)],
    ]


def test_normalized_spelling_for_reports() -> None:
    assert parse('  VPN   "Reset  Password"  -Mac OR  ').normalized() == 'vpn "reset password" -mac'


def test_the_number_of_terms_is_bounded() -> None:
    assert len(parse(" ".join(f"w{n}" for n in range(100))).terms) == MAX_TERMS


def test_replacing_words_keeps_the_structure() -> None:
    fixed = parse('pasword "resett link" -outlok').with_words_replaced(
        {"pasword": "password", "resett": "reset"}
    )

    assert fixed.normalized() == 'password "reset link" -outlok'
