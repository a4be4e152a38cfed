"""Is the admin a desk an agent can work at, at a million tickets? ``make bench`` asks.

    python -m bench.admin_desk [--tickets 1000000] [--comments-per-ticket 2] [--runs 7]
        [--warmup 2] [--seed 0] [--fresh] [--drop]

**Data.** One named database per size, ``nixflow_bench_admin_desk_<tickets>`` (on the server of
``DATABASE_URL``, else the embedded PostgreSQL), migrated and filled by ``manage.py
load_data --extras all``: tickets with their comments and history, SLA clocks and
breaches, the tickets' events, their mail and a KB search per ticket (each app's
``load.py`` says how many), then ``VACUUM (ANALYZE)`` (load_data's last step). Loading a
million tickets takes 10 to 20 minutes on a busy 2-core machine, so the database is
kept: the load's parameters are recorded on it (``COMMENT ON DATABASE``, written after
the load succeeded) and the next run with the same ``--tickets``, ``--comments-per-ticket``
and ``--seed`` reuses it, after ``migrate`` (when that applied anything: ``VACUUM
ANALYZE`` again). ``--fresh`` rebuilds it; ``--drop`` drops it at the end. Three
tickets get a rare word (``quokka``) in their title, so that the rare-word search finds
something (load_data's texts repeat: every one of their words is common).

**Timing.** In this process, with Django's test ``Client`` signed in
(``force_login``) as the loaded agent with the most tickets: the view, its queries and
the template, no network. Every page is requested ``--warmup`` times, then ``--runs``
times in rounds over all the pages (a slow minute of the machine hits every page
alike); each figure is the median. What is requested is read from the pages the admin
renders, as an agent would click it:

- **ticket list**: page 1; each numbered page link and the "Next" link (keyset, when
  the list pages by cursor) of page 1's paginator, deepest first; a page as deep as the
  5,000th (``--deep-page``): the deepest page a link reaches when the admin links one
  that deep (Django's own paginator links the last page), else, when the list pages by
  keyset cursor (``nixflow.toolkit.changelist``), the "Next" link of page 5,000 (its
  cursor built from the row the 5,000th page ends with, exactly as the list builds it);
  each sortable column header;
- **filters**: every link of the ticket list's filter sidebar, at most ``--max-choices``
  (6) of one filter, evenly spaced (the assignee filter lists every agent: the same
  query with another id);
- **search**: a common word (the most frequent title word), the rare word, a word that
  matches nothing, a key (``NF-n`` of a ticket in the middle), a requester's e-mail
  (the requester of the middle ticket);
- **desk home**: ``/admin/`` and every ticket-list link on it (the desk's queues);
- **other lists**: page 1 and a search of comments, history, events, SLA clocks, SLA
  breaches, mail messages and KB search history (skipped, and said, where a list has
  no search box).

Target: every median under 300 ms (issue 16). Writes ``bench/results/admin_desk.json``
and ``.md``; exits 1 when a median misses it, 2 when the run failed (a page answered
something else than 200, a command failed). A quick run: ``--tickets 20000``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from textwrap import shorten
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from bench.kept import (
    add_kept_arguments,
    kept_database_name,
    load_recorded,
    open_kept,
    recorded_load,
    wanted_load,
)
from bench.tickets_api import BenchError, bench_main, machine, manage, say, write_results

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
DATABASE_PREFIX = "nixflow_bench_admin_desk"  # + _<tickets>: a quick run keeps the big one
# Bump when load_data's or a loader's output changes, so that a kept database is rebuilt.
LOAD_VERSION = 1
MAX_MEDIAN_MS = 300.0
RARE_WORD = "quokka"
NO_MATCH = "xylophonist"
TICKET_LIST = "/admin/nixflow/ticket/"
# The other large lists: (name, path, what to search for: a kind resolved at run time).
OTHER_LISTS = [
    ("comments", "/admin/nixflow/comment/", "common word"),
    ("history", "/admin/nixflow/historylog/", "key"),
    ("events", "/admin/eventlog/eventlog/", "key"),
    ("SLA clocks", "/admin/sla/slametric/", "key"),
    ("SLA breaches", "/admin/sla/slabreach/", "key"),
    ("mail messages", "/admin/email_integration/emailmessage/", "common word"),
    ("KB search history", "/admin/knowledge/knowledgesearchhistory/", "vpn"),
]


# --- reading the admin's pages (pure, tested in tests/test_bench_admin_desk.py) ---------
@dataclass
class PageLinks:
    """The links of one rendered changelist page that an agent can click."""

    filters: list[tuple[str, str]] = field(default_factory=list)  # (label, href)
    pages: list[tuple[str, str]] = field(default_factory=list)  # paginator
    sorts: list[tuple[str, str]] = field(default_factory=list)  # column headers
    anchors: list[tuple[str, str]] = field(default_factory=list)  # every link
    has_search: bool = False
    filter_titles: dict[str, str] = field(default_factory=dict)  # href -> its filter


class _LinkParser(HTMLParser):
    """Collects links by where they are: the filter sidebar (``#changelist-filter``),
    the paginator (``.paginator``), the sortable column headers (``th.sortable``)."""

    SECTIONS = (("id", "changelist-filter", "filters"), ("class", "paginator", "pages"))

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links = PageLinks()
        self.stack: list[tuple[str, str | None]] = []  # (tag, section it opens)
        self.href: str | None = None
        self.text: list[str] = []
        self.filter_title = ""

    def section(self) -> str | None:
        return next((s for _, s in reversed(self.stack) if s), None)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        if tag == "input" and attr.get("id") == "searchbar":
            self.links.has_search = True
        if tag == "details" and "data-filter-title" in attr:
            self.filter_title = attr["data-filter-title"]
        if tag in {"input", "br", "img", "meta", "link", "hr"}:
            return
        opens = None
        for name, value, section in self.SECTIONS:
            if value in attr.get(name, "").split():
                opens = section
        if tag == "th" and "sortable" in attr.get("class", "").split():
            opens = "sorts"
        self.stack.append((tag, opens))
        if tag == "a" and "href" in attr:
            self.href, self.text = attr["href"], []

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self.href is not None:
            label = " ".join("".join(self.text).split())
            self.links.anchors.append((label, self.href))
            where = self.section()
            if where == "sorts" and "o=" not in self.href:
                where = None  # the header's "remove from sorting" / toggles carry o= too
            if where:
                getattr(self.links, where).append((label, self.href))
            if where == "filters":
                self.links.filter_titles[self.href] = self.filter_title
            self.href = None
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                break

    def handle_data(self, data: str) -> None:
        if self.href is not None:
            self.text.append(data)


def page_links(html: str) -> PageLinks:
    parser = _LinkParser()
    parser.feed(html)
    return parser.links


def absolute(base_path: str, href: str) -> str:
    """A changelist's ``?query`` link as the path it requests."""
    return base_path + href if href.startswith("?") else href


def page_number(href: str) -> int | None:
    value = dict(parse_qsl(urlsplit(href).query)).get("p")
    return int(value) if value and value.isdigit() else None


def deepest_numbered(pages: Sequence[tuple[str, str]]) -> tuple[int, str] | None:
    numbered = [(n, href) for _, href in pages if (n := page_number(href)) is not None]
    return max(numbered) if numbered else None


def pick_filters(links: PageLinks, max_choices: int) -> tuple[list[tuple[str, str]], list[str]]:
    """The filter links to time, as (name, href): every choice that filters, but at most
    ``max_choices`` of one filter, evenly spaced from its first to its last (an assignee
    filter lists every agent, and each choice is the same query with another id); and a
    note for each filter cut so."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for label, href in links.filters:
        if urlsplit(href).query:  # "All" of an unfiltered list links the list itself
            groups.setdefault(links.filter_titles.get(href, ""), []).append((label, href))
    picked, notes = [], []
    for title, choices in groups.items():
        if len(choices) > max_choices > 1:
            step = (len(choices) - 1) / (max_choices - 1)
            chosen = [choices[round(i * step)] for i in range(max_choices)]
            notes.append(f"Filter {title!r}: {max_choices} of its {len(choices)} choices timed.")
        else:
            chosen = choices[: max(max_choices, 1)]
        picked += [(f"{title}: {label}" if title else label, href) for label, href in chosen]
    return picked, notes


def queue_label(text: str) -> str:
    """A queue link's words without the count it shows (which changes between runs)."""
    words = re.sub(r"^(about\s+)?[\d,.]+\+?\s*", "", text.strip())
    return shorten(words, 40, placeholder="…")


def next_link(pages: Sequence[tuple[str, str]]) -> str | None:
    return next((href for label, href in pages if label.lower().startswith("next")), None)


def verdict(medians: dict[str, float], limit: float = MAX_MEDIAN_MS) -> list[str]:
    return [f"{name}: median {ms:.0f} ms (> {limit:g} ms)" for name, ms in medians.items()
            if ms > limit]  # fmt: skip


# --- the database -----------------------------------------------------------------------
def prepare_database(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    """The benchmark's database, loaded as ``args`` ask: kept from an earlier run when
    its recorded load matches, else rebuilt. Returns what is known of its load."""

    from tests.support.processes import admin_connection, create_database

    wanted, database = wanted_load(args, LOAD_VERSION), args.database
    recorded = None if args.fresh else recorded_load(database)
    if recorded is not None and {k: recorded.get(k) for k in wanted} == wanted:
        say(f"== reusing {database} (loaded {recorded.get('loaded_at')})")
        output = manage(["migrate", "--noinput"], env, timeout=3 * 3600)
        if "Applying" in output:
            # A migration may add what the load did not write (the search documents of
            # nixflow 0015): written as a deploy would, then the tables analyzed again.
            say("   migrations applied since the load: backfill_search, VACUUM ANALYZE")
            manage(["backfill_search"], env, timeout=6 * 3600)
            with admin_connection(database) as conn:
                conn.execute("VACUUM (ANALYZE)")
        return {**recorded, "reused": True}

    say(f"== building {database}: migrate, load_data --tickets {args.tickets:,} --extras all")
    create_database(database)
    manage(["migrate", "--noinput"], env, timeout=3600)
    started = time.monotonic()
    load = [os.getloadavg()[0]]
    output = manage(
        [
            "load_data",
            f"--tickets={args.tickets}",
            f"--comments-per-ticket={args.comments_per_ticket}",
            f"--seed={args.seed}",
            "--extras=all",
        ],
        env,
        timeout=6 * 3600,
        show_stderr=True,  # the progress line
    )
    load.append(os.getloadavg()[0])
    with admin_connection(database) as conn:
        # A rare word in three titles: the loaded texts repeat, so no word of theirs is.
        conn.execute(
            "UPDATE nixflow_ticket SET title = left(title, 180) || %s WHERE id IN "
            "(SELECT id FROM nixflow_ticket ORDER BY id LIMIT 3 OFFSET %s)",
            [f" ({RARE_WORD})", args.tickets // 3],
        )
        conn.execute("ANALYZE nixflow_ticket")
    return load_recorded(database, wanted, started=started, output=output, load=load)


# --- what to request --------------------------------------------------------------------
@dataclass
class Target:
    group: str
    name: str
    path: str
    samples_ms: list[float] = field(default_factory=list)


class Desk:
    """The signed-in client and what the bench found in the database."""

    def __init__(self) -> None:
        from django.db.models import Count
        from django.test import Client

        from nixflow.models import Role, Ticket, User

        self.Ticket = Ticket
        # The agent with the most tickets: "my open tickets" is a full queue.
        busiest = (
            Ticket.objects.filter(assignee__role=Role.AGENT, assignee__is_active=True)
            .values("assignee")
            .annotate(n=Count("id"))
            .order_by("-n")
            .first()
        )
        if busiest is None:
            raise BenchError("no ticket assigned to an active agent in the database")
        self.agent = User.objects.get(pk=busiest["assignee"])
        if not self.agent.is_staff:
            raise BenchError(f"agent {self.agent.username} is not staff: no admin")
        self.client = Client()
        self.client.force_login(self.agent)
        middle = Ticket.objects.order_by("pk").values_list("pk", "requester__email")
        count = Ticket.objects.count()
        self.middle_id, self.requester_email = middle[count // 2]
        self.common_word = common_title_word()

    def get(self, path: str) -> tuple[float, str]:
        started = time.perf_counter()
        response = self.client.get(path)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise BenchError(f"GET {path} answered {response.status_code}")
        return elapsed, response.content.decode()

    def term(self, kind: str) -> str:
        if kind == "key":
            return self.Ticket.key_for(self.middle_id)
        if kind == "common word":
            return self.common_word
        return kind


def common_title_word() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT word FROM (
                SELECT regexp_split_to_table(lower(title), '[^a-z]+') AS word
                FROM (SELECT title FROM nixflow_ticket ORDER BY id LIMIT 20000) AS sample
            ) AS words
            WHERE length(word) >= 5 GROUP BY word ORDER BY count(*) DESC, word LIMIT 1
            """
        )
        row = cursor.fetchone()
    return row[0] if row else "password"


def ticket_list_targets(
    desk: Desk, deep_page: int, max_choices: int, notes: list[str]
) -> Iterator[Target]:
    _, html = desk.get(TICKET_LIST)
    links = page_links(html)
    yield Target("ticket list", "page 1", TICKET_LIST)
    deepest = deepest_numbered(links.pages)
    if deepest is not None:
        number, href = deepest
        yield Target("ticket list", f"page {number:,} (deepest numbered link)",
                     absolute(TICKET_LIST, href))  # fmt: skip
        _, deep_html = desk.get(absolute(TICKET_LIST, href))
        following = next_link(page_links(deep_html).pages)
        if following:
            yield Target("ticket list", f"Next from page {number:,}",
                         absolute(TICKET_LIST, following))  # fmt: skip
    if deepest is not None and deepest[0] >= deep_page:
        notes.append(f"The ticket list links page {deepest[0]:,} itself (OFFSET paging).")
    else:
        deep = deep_cursor_link(desk, deep_page, notes)
        if deep:
            page, link = deep
            yield Target("ticket list", f"page {page + 1:,} (Next of page {page:,})", link)
    for label, href in links.sorts:
        yield Target("ticket list", f"sorted: {label or href}", absolute(TICKET_LIST, href))
    filters, cut = pick_filters(links, max_choices)
    notes += cut
    for name, href in filters:
        yield Target("filters", name, absolute(TICKET_LIST, href))
    if not links.filters:
        notes.append("The ticket list rendered no filter sidebar.")
    searches = [
        ("common word", desk.common_word),
        ("rare word", RARE_WORD),
        ("no match", NO_MATCH),
        ("key", desk.term("key")),
        ("requester's e-mail", desk.requester_email),
    ]
    for name, term in searches:
        yield Target("search", f"{name}: {term}", f"{TICKET_LIST}?{urlencode({'q': term})}")


def deep_cursor_link(desk: Desk, deep_page: int, notes: list[str]) -> tuple[int, str] | None:
    """The "Next" link of page ``deep_page``, as the keyset paginator would render it
    there: its cursor is built from the last row of that page, with the list's own
    encoding (``nixflow.toolkit.changelist``). An agent reaches it by clicking "Next";
    the cost of a keyset page does not depend on how it was reached."""
    try:
        from nixflow.toolkit.changelist import AFTER, encode_cursor, keyset_terms, row_key
    except ImportError:
        notes.append("No keyset paging (nixflow.toolkit.changelist): no deep page measured.")
        return None
    from django.contrib import admin
    from django.test import RequestFactory

    request = RequestFactory().get(TICKET_LIST)
    request.user = desk.agent
    model_admin = admin.site._registry[desk.Ticket]
    changelist = model_admin.get_changelist_instance(request)
    queryset = changelist.get_queryset(request)
    terms = keyset_terms(queryset)
    if terms is None:
        notes.append("The ticket list's default order has no keyset: no deep page measured.")
        return None
    per_page = model_admin.list_per_page
    rows = desk.Ticket.objects.count()
    if deep_page * per_page >= rows:
        deep_page = max(1, rows // per_page - 1)
        notes.append(f"Fewer tickets than the deep page needs: page {deep_page:,} instead.")
    last_row = queryset[deep_page * per_page - 1]  # OFFSET once, while setting up
    token = encode_cursor(AFTER, row_key(terms, last_row))
    return deep_page, f"{TICKET_LIST}?{urlencode({'cursor': token})}"


def desk_home_targets(desk: Desk) -> Iterator[Target]:
    yield Target("desk home", "/admin/", "/admin/")
    _, html = desk.get("/admin/")
    seen = set()
    for label, href in page_links(html).anchors:
        if href.startswith(TICKET_LIST + "?") and href not in seen:
            seen.add(href)
            yield Target("desk home", f"queue: {queue_label(label)}", href)


def other_list_targets(desk: Desk, notes: list[str]) -> Iterator[Target]:
    for name, path, kind in OTHER_LISTS:
        yield Target("other lists", f"{name}, page 1", path)
        _, html = desk.get(path)
        if not page_links(html).has_search:
            notes.append(f"The {name} list has no search box: not searched.")
            continue
        term = desk.term(kind)
        yield Target("other lists", f"{name}, search: {term}", f"{path}?{urlencode({'q': term})}")


def measure(desk: Desk, targets: list[Target], runs: int, warmup: int) -> None:
    for target in targets:
        for _ in range(warmup):
            desk.get(target.path)
    for _ in range(runs):
        for target in targets:
            target.samples_ms.append(desk.get(target.path)[0])


# --- the run ----------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as cleanup:
        opened = open_kept(args, cleanup, prepare_database)
        if opened is None:
            return 0
        load, server_version = opened.load, opened.server_version
        desk = Desk()
        notes: list[str] = []
        say(f"== finding the pages (signed in as {desk.agent.username})")
        targets = [
            *ticket_list_targets(desk, args.deep_page, args.max_choices, notes),
            *desk_home_targets(desk),
            *other_list_targets(desk, notes),
        ]
        say(f"== timing {len(targets)} pages, {args.runs} runs each after {args.warmup}")
        load_average = [os.getloadavg()[0]]
        measure(desk, targets, args.runs, args.warmup)
        load_average.append(os.getloadavg()[0])

    results = report(
        targets,
        args,
        load=load,
        server_version=server_version,
        load_average=load_average,
        notes=notes,
    )
    return write_results(args.output, "admin_desk", results, markdown(results))


def report(
    targets: list[Target],
    args: argparse.Namespace,
    *,
    load: dict[str, Any],
    server_version: str,
    load_average: list[float],
    notes: list[str],
) -> dict[str, Any]:
    pages = [
        {
            "group": t.group,
            "name": t.name,
            "path": t.path if len(t.path) < 200 else t.path[:197] + "...",
            "median_ms": round(statistics.median(t.samples_ms), 1),
            "min_ms": round(min(t.samples_ms), 1),
            "max_ms": round(max(t.samples_ms), 1),
        }
        for t in targets
    ]
    problems = verdict({f"{p['group']}: {p['name']}": p["median_ms"] for p in pages})
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            **machine(),
            "postgresql": server_version,
            "load_average_1min_before_after": [round(x, 2) for x in load_average],
        },
        "settings": {
            "runs": args.runs,
            "warmup": args.warmup,
            "deep_page": args.deep_page,
            "max_choices": args.max_choices,
        },
        "load": load,
        "target_median_ms": MAX_MEDIAN_MS,
        "pages": pages,
        "notes": notes,
        "passed": not problems,
        "problems": problems,
    }


def markdown(results: dict[str, Any]) -> str:
    m, load = results["machine"], results["load"]
    before, after = m["load_average_1min_before_after"]
    where = (
        f"{results['date']} · commit {m.get('commit', '?')} · {m.get('cpus')} CPUs · "
        f"PostgreSQL {m['postgresql']} · load average {before:.1f} → {after:.1f}"
    )
    how = (
        f"{load['tickets']:,} tickets, {load['comments_per_ticket']} comments per ticket "
        f"(`load_data --extras all`, {'reused' if load.get('reused') else 'loaded'}: "
        f"{load.get('load_summary', '?')}). Median of {results['settings']['runs']} runs "
        f"after {results['settings']['warmup']} warm-up, in process (Django's test client, "
        "signed in as an agent, DEBUG off). Written by `make bench` (bench/admin_desk.py)."
    )
    lines = [
        "# Admin desk benchmark",
        "",
        where,
        "",
        how,
        "",
        "| group | page | median ms | min ms | max ms |",
        "|---|---|---:|---:|---:|",
    ]
    for p in results["pages"]:
        name = p["name"].replace("|", "\\|")
        lines.append(
            f"| {p['group']} | {name} | {p['median_ms']:.1f} | {p['min_ms']:.1f} | "
            f"{p['max_ms']:.1f} |"
        )
    lines += ["", *(f"- {note}" for note in results["notes"])]
    lines.append("")
    target = f"Target: every median under {results['target_median_ms']:g} ms."
    if results["passed"]:
        lines.append(f"**Passed.** {target}")
    else:
        lines += [f"**Failed.** {target}", "", *(f"- {p}" for p in results["problems"])]
    return "\n".join([*lines, ""])


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.admin_desk", description=__doc__)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--comments-per-ticket", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=7, help="Timed requests per page.")
    parser.add_argument("--warmup", type=int, default=2, help="Untimed requests first.")
    parser.add_argument(
        "--deep-page", type=int, default=5000, help="How deep the deep page is (5000)."
    )
    parser.add_argument(
        "--max-choices", type=int, default=6, help="Choices timed per filter at most (6)."
    )
    add_kept_arguments(parser, results=RESULTS, prefix=DATABASE_PREFIX)
    args = parser.parse_args(argv)
    args.database = kept_database_name(args, DATABASE_PREFIX, args.tickets)
    if args.tickets < 1 or args.runs < 1 or args.warmup < 0 or args.deep_page < 1:
        parser.error("--tickets, --runs and --deep-page must be positive, --warmup 0 or more")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(parse_args, run, argv, in_process=True)


if __name__ == "__main__":
    sys.exit(main())
