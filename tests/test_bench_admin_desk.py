"""The admin desk benchmark (bench/admin_desk.py): reading the admin's links, the verdict
and the report. (The run itself needs a loaded database: ``--tickets 20000`` by hand.)"""

from __future__ import annotations

from bench.admin_desk import (
    absolute,
    deepest_numbered,
    markdown,
    next_link,
    page_links,
    parse_args,
    pick_filters,
    queue_label,
    verdict,
)

NEXT = "Next \u203a"
CHANGELIST = """
<form id="changelist-search"><input type="text" id="searchbar" name="q"></form>
<table><thead><tr>
  <th class="action-checkbox-column"><input type="checkbox"></th>
  <th class="sortable column-key"><div class="text"><a href="?o=1">Key</a></div></th>
  <th class="sortable sorted ascending column-priority">
    <div class="sortoptions"><a class="sortremove" href="?o=">Remove</a></div>
    <div class="text"><a href="?o=-2">Priority</a></div></th>
  <th class="column-title"><div class="text"><span>Title</span></div></th>
</tr></thead></table>
<nav class="paginator fast-paginator">
  <span class="this-page">1</span> <a href="?p=2">2</a> <a href="?p=10" class="end">10</a>
  <a href="?cursor=a.WzFd" rel="next">Next &rsaquo;</a>
  <span class="result-count">about 1,000,000 tickets</span>
</nav>
<nav id="changelist-filter">
  <details data-filter-title="stage" open><summary>By stage</summary>
  <ul><li class="selected"><a href="?">All</a></li><li><a href="?stage__id__exact=3">Open</a></li>
  <li><a href="?stage__id__exact=4&amp;assignee=me">Waiting &amp; mine</a></li></ul></details>
</nav>
<a href="/admin/nixflow/ticket/?queue=mine">My open tickets</a>
"""


def test_links_are_sorted_by_where_the_admin_renders_them() -> None:
    links = page_links(CHANGELIST)

    assert links.has_search
    assert links.filters == [
        ("All", "?"),
        ("Open", "?stage__id__exact=3"),
        ("Waiting & mine", "?stage__id__exact=4&assignee=me"),
    ]
    assert links.pages == [("2", "?p=2"), ("10", "?p=10"), (NEXT, "?cursor=a.WzFd")]
    assert links.sorts == [("Key", "?o=1"), ("Remove", "?o="), ("Priority", "?o=-2")]
    assert ("My open tickets", "/admin/nixflow/ticket/?queue=mine") in links.anchors


def test_filters_are_timed_by_choice_at_most_so_many_of_one_filter_evenly_spread() -> None:
    agents = "".join(f'<li><a href="?assignee={n}">Agent {n}</a></li>' for n in range(1, 11))
    html = CHANGELIST.replace(
        "</nav>\n<a",
        f'<details data-filter-title="assignee">'
        f'<ul><li><a href="?">All</a></li>{agents}</ul></details></nav>\n<a',
    )

    picked, notes = pick_filters(page_links(html), 4)

    assert picked == [
        ("stage: Open", "?stage__id__exact=3"),
        ("stage: Waiting & mine", "?stage__id__exact=4&assignee=me"),
        ("assignee: Agent 1", "?assignee=1"),
        ("assignee: Agent 4", "?assignee=4"),
        ("assignee: Agent 7", "?assignee=7"),
        ("assignee: Agent 10", "?assignee=10"),
    ]
    assert notes == ["Filter 'assignee': 4 of its 10 choices timed."]


def test_a_page_without_search_box_or_sidebar_has_neither() -> None:
    links = page_links("<table></table><p class='paginator'>12 comments</p>")

    assert not links.has_search
    assert (links.filters, links.pages) == ([], [])


def test_the_deepest_numbered_page_and_the_next_link_are_found() -> None:
    pages = [("1", "?p=1&q=x"), ("10,004", "?p=10004&q=x"), (NEXT, "?cursor=a.x")]

    assert deepest_numbered(pages) == (10004, "?p=10004&q=x")
    assert next_link(pages) == "?cursor=a.x"
    assert deepest_numbered([(NEXT, "?cursor=a.x")]) is None
    assert next_link([("2", "?p=2")]) is None


def test_queue_labels_lose_their_counts() -> None:
    assert queue_label("97 My open tickets") == "My open tickets"
    assert queue_label("10,000+ Breached A clock past") == "Breached A clock past"
    assert queue_label("about 1,000 Unassigned") == "Unassigned"
    assert queue_label("At risk") == "At risk"


def test_query_links_are_requested_on_the_list_they_belong_to() -> None:
    assert absolute("/admin/nixflow/ticket/", "?p=2") == "/admin/nixflow/ticket/?p=2"
    assert absolute("/admin/nixflow/ticket/", "/admin/?x=1") == "/admin/?x=1"


def test_the_verdict_names_every_page_over_300_ms() -> None:
    medians = {"ticket list: page 1": 120.0, "search: rare word": 301.0, "desk": 300.0}

    assert verdict(medians) == ["search: rare word: median 301 ms (> 300 ms)"]


def test_the_database_is_named_after_its_size_unless_given() -> None:
    assert parse_args([]).database == "nixflow_bench_admin_desk_1000000"
    assert parse_args(["--tickets", "20000"]).database == "nixflow_bench_admin_desk_20000"
    assert parse_args(["--database", "x"]).database == "x"


def test_the_report_lists_each_page_the_notes_and_the_verdict() -> None:
    results = {
        "date": "2026-12-07T05:00:00+00:00",
        "machine": {
            "commit": "abc1234",
            "cpus": 2,
            "postgresql": "15.20",
            "load_average_1min_before_after": [3.5, 4.0],
        },
        "settings": {"runs": 7, "warmup": 2, "deep_page": 5000},
        "load": {
            "tickets": 1_000_000,
            "comments_per_ticket": 2,
            "reused": True,
            "load_summary": "Loaded 1,000,000 tickets",
        },
        "target_median_ms": 300.0,
        "pages": [
            {
                "group": "search",
                "name": "key: NF-1",
                "path": "/x",
                "median_ms": 12.5,
                "min_ms": 10.0,
                "max_ms": 20.0,
            },
            {
                "group": "filters",
                "name": "a|b",
                "path": "/y",
                "median_ms": 412.0,
                "min_ms": 400.0,
                "max_ms": 500.0,
            },
        ],
        "notes": ["The comments list has no search box: not searched."],
        "passed": False,
        "problems": ["filters: a|b: median 412 ms (> 300 ms)"],
    }

    text = markdown(results)

    assert "load average 3.5 → 4.0" in text
    assert "1,000,000 tickets, 2 comments per ticket (`load_data --extras all`, reused" in text
    assert "| search | key: NF-1 | 12.5 | 10.0 | 20.0 |" in text
    assert "| filters | a\\|b | 412.0 | 400.0 | 500.0 |" in text
    assert "- The comments list has no search box: not searched." in text
    assert "**Failed.** Target: every median under 300 ms." in text
    assert "- filters: a|b: median 412 ms (> 300 ms)" in text
