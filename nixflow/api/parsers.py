"""Request body parsers that answer hostile or broken JSON with a 400, never a 500.

DRF's ``JSONParser`` turns a ``ValueError`` into a 400, but Python's JSON decoder
recurses once per nesting level: a body of 100,000 ``[`` raises ``RecursionError``,
which is no ``ValueError`` and became a 500. A number such as ``1e400`` decodes to
``inf``, which DRF's strict JSON refuses only when written as ``Infinity``; an
integer field given ``inf`` then raised ``OverflowError`` (a 500). Where the decoder
recursion stops differs between Python versions (3.12 counts the C stack, not
``sys.getrecursionlimit()``): 5,000 ``[`` is a ``RecursionError`` on 3.11 and a plain
"Expecting value" at the end on 3.13. Both are read as what they are, too deep, by
measuring the nesting of what was read before the decoder gave up.

``JSONParser`` here (settings ``DEFAULT_PARSER_CLASSES``, and the views that name their
own parsers) refuses, with 400 ``{"detail": …}``:

- nesting deeper than ``MAX_DEPTH`` levels (no request of this API needs more than a
  handful; a deeper document would only burden the serializers and the database);
- numbers outside a double's range (``1e400``), as well as ``NaN`` and ``Infinity``.
"""

from __future__ import annotations

import codecs
import math
import re
from collections.abc import Mapping
from json import JSONDecodeError
from typing import IO, Any, cast

from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils import json

# Deep enough for every body this API takes (a form submission's answers are two levels,
# a workflow with its stages three), far below Python's recursion limit.
MAX_DEPTH = 64


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"Number out of range: {text[:40]}")
    return value


# A JSON string (possibly cut off by the end of the body), and the brackets outside them.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"?', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def _nesting(text: str) -> int:
    """The deepest nesting of lists and objects in ``text``, JSON that may be cut off or
    broken (strings are skipped, so a ``[`` inside one does not count)."""
    depth = deepest = 0
    for bracket in _BRACKET.findall(_STRING.sub("", text)):
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _too_deep(document: Any) -> bool:
    """Whether ``document`` nests lists and objects more than ``MAX_DEPTH`` levels deep,
    walked without recursion."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        children: Any
        if isinstance(value, Mapping):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > MAX_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


class JSONParser(parsers.JSONParser):
    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        encoding = parsers.get_encoding(parser_context or {})  # type: ignore[attr-defined]
        too_deep = f"JSON parse error - nested deeper than {MAX_DEPTH} levels."
        try:
            text = codecs.getreader(encoding)(cast("IO[bytes]", stream)).read()
        except ValueError as exc:  # bytes that are not ``encoding``
            raise ParseError(f"JSON parse error - {exc}") from exc
        try:
            document = json.loads(
                text, parse_constant=json.strict_constant, parse_float=_finite_float
            )
        except RecursionError as exc:
            raise ParseError(too_deep) from exc
        except JSONDecodeError as exc:
            if _nesting(text[: exc.pos]) > MAX_DEPTH:
                raise ParseError(too_deep) from exc
            raise ParseError(f"JSON parse error - {exc}") from exc
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        if _too_deep(document):
            raise ParseError(too_deep)
        return document
