"""Markdown is rendered to HTML on the server and sanitized: no script survives."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from knowledge import rendering
from knowledge.models import KnowledgeArticle
from tests.knowledge.factories import ArticleFactory

# Each payload is a way to run script in a reader's browser, in Markdown or raw HTML.
XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    '<img src=x onerror="alert(1)">',
    "<img src=x oNeRrOr=alert(1)>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<body onload=alert(1)>",
    '<a href="javascript:alert(1)">click</a>',
    '<a href="JaVaScRiPt:alert(1)">click</a>',
    '<a href="&#106;avascript:alert(1)">click</a>',
    '<a href="java&#x09;script:alert(1)">click</a>',
    '<a href=" javascript:alert(1)">click</a>',
    "[click](javascript:alert(1))",
    "[click](JAVASCRIPT:alert(1))",
    "[click](javascript&#58;alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "![x](javascript:alert(1))",
    '<img src="data:image/svg+xml,<svg onload=alert(1)>">',
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<p style="width: expression(alert(1))">x</p>',
    "<style>body{background:url(javascript:alert(1))}</style>",
    '<iframe src="https://evil.example"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    '<form action="javascript:alert(1)"><button>go</button></form>',
    '<button formaction="javascript:alert(1)">go</button>',
    "<input onfocus=alert(1) autofocus>",
    "<details open ontoggle=alert(1)>",
    '<math><a xlink:href="javascript:alert(1)">x</a></math>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    '<link rel="stylesheet" href="javascript:alert(1)">',
    '<a href="vbscript:msgbox(1)">x</a>',
    "<!--<script>alert(1)</script>-->",
    '<code class="x" onclick="alert(1)">x</code>',
    '<a href="https://ok.example" onmouseover="alert(1)">ok</a>',
    "```html\n<script>alert(1)</script>\n```",
    "`<img src=x onerror=alert(1)>`",
]

ALLOWED_SCHEMES = ("http:", "https:", "mailto:", "tel:")


class MarkupAudit(HTMLParser):
    """What a browser would act on: tags, attributes and URLs (not text, which is
    inert once escaped)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in rendering.TAGS:
            self.problems.append(f"tag <{tag}>")
        for name, value in attrs:
            if name.startswith("on") or name in {"style", "srcdoc", "formaction"}:
                self.problems.append(f"attribute {name} on <{tag}>")
            if name in {"href", "src", "action", "xlink:href"} and value:
                # HTMLParser decodes entities, as a browser does before reading the URL.
                url = re.sub(r"[\x00-\x20]", "", value).lower()
                if ":" in url.split("/")[0] and not url.startswith(ALLOWED_SCHEMES):
                    self.problems.append(f"{name}={value!r} on <{tag}>")


def markup_problems(html: str) -> list[str]:
    audit = MarkupAudit()
    audit.feed(html)
    audit.close()
    return audit.problems


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_no_payload_survives_rendering(payload: str) -> None:
    html = rendering.render_markdown(f"Before.\n\n{payload}\n\nAfter.")

    assert markup_problems(html) == [], html
    assert "Before." in html
    assert "After." in html


def test_there_are_at_least_fifteen_payloads() -> None:
    assert len(XSS_PAYLOADS) >= 15


def test_the_audit_catches_what_it_is_meant_to_catch() -> None:
    # The checker itself, against unsanitized markup: it must not pass everything.
    assert markup_problems('<a href="jav&#x61;script:x()">a</a>') != []
    assert markup_problems("<img src=x onerror=y()>") != []
    assert markup_problems("<script>x()</script>") != []
    assert markup_problems('<a href="/relative">a</a><a href="https://ok">b</a>') == []


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_every_payload_is_also_harmless_in_search_snippets(payload: str) -> None:
    # Snippets come from the plain text (entities decoded: code shows "<script>"), so
    # they are escaped before the <mark> elements are added.
    text = rendering.plain_text(rendering.render_markdown(payload))
    marked = f"{rendering.MARK_START}{text}{rendering.MARK_END}"

    shown = rendering.highlight_html(marked)

    assert "<" not in shown.replace("<mark>", "").replace("</mark>", "")


def test_markdown_keeps_what_articles_need() -> None:
    html = rendering.render_markdown(
        "# Title\n\n1. **Open** the *portal*\n2. Run `reset`\n\n"
        "| a | b |\n|:--|--:|\n| 1 | 2 |\n\n"
        "```python\nprint('hi')\n```\n\n[docs](https://docs.example/reset) "
        "![shot](https://img.example/s.png)\n\n> Note"
    )

    assert "<h1>Title</h1>" in html
    assert "<ol>" in html
    assert "<strong>Open</strong>" in html
    assert "<code>reset</code>" in html
    assert '<th align="left">a</th>' in html
    assert '<code class="language-python">' in html
    assert 'href="https://docs.example/reset"' in html
    assert 'rel="noopener noreferrer nofollow"' in html
    assert '<img alt="shot" src="https://img.example/s.png">' in html
    assert "<blockquote>" in html


def test_plain_text_has_no_markup_and_separates_blocks() -> None:
    text = rendering.plain_text(rendering.render_markdown("- one\n- two\n\n**bold** &amp; `x<y`"))

    assert text.split() == ["one", "two", "bold", "&", "x<y"]


@pytest.mark.django_db
def test_articles_store_the_sanitized_rendering() -> None:
    article = ArticleFactory(body='Hello <img src=x onerror="alert(1)"> **world**')

    stored = KnowledgeArticle.objects.get(pk=article.pk)

    assert stored.body_html == '<p>Hello <img src="x"> <strong>world</strong></p>'
    assert stored.body_text == "Hello world"
    assert "onerror" in stored.body  # the author's Markdown is kept as written
