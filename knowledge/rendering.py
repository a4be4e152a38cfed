"""Markdown to safe HTML, on the server, once per content change.

Authors are agents, but an article is read by everyone, including anonymous readers of
the portal: whatever Markdown lets through (raw HTML is legal Markdown) must not run in
a reader's browser. Python-Markdown renders; nh3 (ammonia) then keeps only an allow-list
of tags, attributes and URL schemes, so scripts, event handlers, ``style``,
``javascript:`` and ``data:`` URLs never survive, whatever their spelling (ammonia
parses HTML as a browser does, entities and mixed case included). Sanitizing the
*output* rather than escaping the input keeps Markdown's own HTML and stays safe when a
Markdown extension has a bug.

``plain_text`` is what full-text search indexes and what snippets are cut from: the
sanitized HTML without tags, so that Markdown syntax and URLs are not indexed as words.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import markdown
import nh3

TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl",
        "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
        "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "s", "samp", "small", "span",
        "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
        "tr", "u", "ul", "var",
    }
)  # fmt: skip
ATTRIBUTES = {
    "*": {"title"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "ol": {"start"},
    "td": {"align", "colspan", "rowspan"},
    "th": {"align", "colspan", "rowspan", "scope"},
    "code": {"class"},
}
# No data: (an image can be an SVG document with script), no javascript: or vbscript:.
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
# Links in articles lead away from the desk: the target page gets no window.opener and
# no referrer, and search engines no endorsement.
LINK_REL = "noopener noreferrer nofollow"

# Characters snippets use to mark matches (see knowledge.selectors); the texts never
# contain them, so a marker in a snippet is always ours.
MARK_START = "\ue000"
MARK_END = "\ue001"
_MARKERS = re.compile(f"[{MARK_START}{MARK_END}]")

_EXTENSIONS = ["fenced_code", "tables", "sane_lists", "def_list", "abbr", "footnotes"]
_EXTENSION_CONFIGS = {"tables": {"use_align_attribute": True}}
# Block boundaries become spaces in the plain text, so that "<li>a</li><li>b</li>"
# indexes two words, not "ab".
_BLOCK_BOUNDARY = re.compile(r"<(?=/?(?:p|li|h[1-6]|td|th|tr|div|pre|blockquote|dd|dt|br)\b)")
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def _attribute_filter(tag: str, name: str, value: str) -> str | None:
    # Fenced code blocks mark their language with class="language-x"; no other class
    # (a page's own CSS classes could dress content up as the desk's interface).
    if name == "class":
        return value if tag == "code" and re.fullmatch(r"language-[\w+#-]{1,30}", value) else None
    return value


@dataclass(frozen=True)
class Rendered:
    html: str
    text: str


def sanitize(fragment: str) -> str:
    """An HTML fragment reduced to the allow-list above."""
    return nh3.clean(
        fragment,
        tags=set(TAGS),
        attributes={tag: set(names) for tag, names in ATTRIBUTES.items()},
        attribute_filter=_attribute_filter,
        url_schemes=set(URL_SCHEMES),
        link_rel=LINK_REL,
        strip_comments=True,
    )


def render_markdown(source: str) -> str:
    """Markdown → sanitized HTML."""
    html_out = markdown.markdown(
        strip_markers(source),
        extensions=_EXTENSIONS,
        extension_configs=_EXTENSION_CONFIGS,
        output_format="html",
    )
    return sanitize(html_out)


def plain_text(safe_html: str) -> str:
    """The readable text of sanitized HTML: no tags, entities decoded, blocks separated."""
    spaced = _BLOCK_BOUNDARY.sub(" <", safe_html)
    text = html.unescape(nh3.clean(spaced, tags=set()))
    text = _SPACES.sub(" ", strip_markers(text))
    return _BLANK_LINES.sub("\n\n", "\n".join(line.strip() for line in text.splitlines())).strip()


def render(source: str) -> Rendered:
    safe = render_markdown(source)
    return Rendered(html=safe, text=plain_text(safe))


def strip_markers(text: str) -> str:
    return _MARKERS.sub("", text)


def highlight_html(marked: str) -> str:
    """A snippet from ``ts_headline`` (plain text with our markers) as safe HTML:
    everything escaped, then the markers turned into ``<mark>`` elements."""
    escaped = html.escape(marked, quote=False)
    return escaped.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")
