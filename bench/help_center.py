"""Are the help center's article and search pages fast at 100,000 articles?

    python -m bench.help_center [--articles 100000] [--published-share 0.85]
        [--requests 300] [--warmup 30] [--seed 0] [--fresh] [--drop] [--load-only]

**Data.** One named database per size, ``nixflow_bench_help_center_<articles>`` (on the
server of ``DATABASE_URL``, else the embedded PostgreSQL), migrated and filled by
``manage.py knowledge_load`` (as ``bench.knowledge_search`` loads it: ``--articles``
*published* articles, plus drafts, articles in review and archived ones so that the
published ones are ``--published-share`` of the table), then ``VACUUM ANALYZE``. The
load's parameters are recorded on the database (``bench.kept``) and the next run with
the same ones reuses it after ``migrate``; ``--fresh`` rebuilds it, ``--drop`` drops it
at the end, ``--load-only`` stops once it is ready.

**Timing.** In this process, through Django's test ``Client`` (the URL resolver, the
middleware, the view, its queries and the template; no network), DEBUG off:

- **article page**: ``/help/articles/<slug>/`` of ``--requests`` different published
  articles drawn at random, public ones 70 % as an anonymous reader (each read counts a
  view: a write) and 30 % as a signed-in agent, internal ones as the agent; a second request of a
  few of them with ``If-None-Match`` times the 304;
- **search page**: ``/help/search/?q=`` over ``bench.knowledge_search``'s query mix
  (common and rare words, phrases, exclusions, ``or``, prefixes, typos), each first page
  recording its search history row as a reader's does; one in five with a category
  filter, one in five a second page of an earlier search.

Each kind is warmed up with ``--warmup`` requests first. Targets (issue 19): article
page p95 under 20 ms, search page p95 under 30 ms. Writes
``bench/results/help_center.json`` and ``.md``; exits 1 when a target is missed, 2 when
the run failed (a page answered something else than expected). A quick run:
``--articles 5000 --requests 100``.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.kept import add_kept_arguments, kept_database_name, record_load, recorded_load
from bench.tickets_api import (
    BenchError,
    bench_main,
    child_env,
    machine,
    manage,
    percentile,
    say,
    write_results,
)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
DATABASE_PREFIX = "nixflow_bench_help_center"
LOAD_VERSION = 1  # raise when the load changes: kept databases are rebuilt
MAX_ARTICLE_P95_MS = 20.0
MAX_SEARCH_P95_MS = 30.0
AGENT_SHARE = 0.3
# A search page's token, in its result links (/help/search/<token>/articles/<slug>/).
TOKEN = re.compile(r"/help/search/([0-9a-f-]{36})/")


@dataclass
class Kind:
    name: str
    samples_ms: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)
    # This process's CPU time per request (Python: middleware, view, template), which a
    # busy machine does not inflate the way it inflates the wall-clock figures.
    cpu_ms: list[float] = field(default_factory=list)

    def figures(self) -> dict[str, float]:
        s = self.samples_ms
        return {
            "requests": len(s),
            "median_ms": round(statistics.median(s), 2),
            "p95_ms": round(percentile(s, 95), 2),
            "max_ms": round(max(s), 2),
        }


# --- the database -----------------------------------------------------------------------
def wanted(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "articles": args.articles,
        "published_share": args.published_share,
        "seed": args.seed,
        "version": LOAD_VERSION,
    }


def prepare_database(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    """The benchmark's database, kept from an earlier run when its recorded load
    matches, else built. Returns what is known of its load."""
    from tests.support.processes import admin_connection, create_database

    want, database = wanted(args), args.database
    recorded = None if args.fresh else recorded_load(database)
    if recorded is not None and {k: recorded.get(k) for k in want} == want:
        say(f"== reusing {database} (loaded {recorded.get('loaded_at')})")
        output = manage(["migrate", "--noinput"], env, timeout=3600)
        if "Applying" in output:
            with admin_connection(database) as conn:
                conn.execute("VACUUM (ANALYZE)")
        return {**recorded, "reused": True}

    say(f"== building {database}")
    create_database(database)
    manage(["migrate", "--noinput"], env, timeout=3600)
    # Statuses are drawn at random: 2 % more articles make --articles published ones sure.
    total = math.ceil(args.articles / args.published_share * 1.02)
    say(f"== knowledge_load: {total:,} articles, {args.published_share:.0%} published")
    started = time.monotonic()
    output = manage(
        [
            "knowledge_load",
            f"--articles={total}",
            f"--published-share={args.published_share}",
            f"--seed={args.seed}",
        ],
        env,
        timeout=3 * 3600,
        show_stderr=True,
    )
    with admin_connection(database) as conn:
        conn.execute("VACUUM (ANALYZE)")
    info = {
        **want,
        "loaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_seconds": round(time.monotonic() - started, 1),
        "load_summary": output.strip().splitlines()[-1],
    }
    record_load(database, info)
    say(f"   {info['load_summary']}")
    return {**info, "reused": False}


def use(database: str) -> None:
    from django.db import connections

    connections["default"].close()
    connections["default"].settings_dict["NAME"] = database


# --- the requests -----------------------------------------------------------------------
class Reader:
    """Two test clients, an anonymous reader and a signed-in agent, each request timed
    with the number of queries it made."""

    def __init__(self, rng: random.Random) -> None:
        from django.test import Client

        from nixflow.models import Role, User

        self.rng = rng
        agent = User.objects.filter(role=Role.AGENT, is_active=True).order_by("pk").first()
        if agent is None:
            raise BenchError("No active agent in the database (knowledge_load creates one).")
        # A reader new to this run: views are counted once per reader per 30 minutes,
        # and a run soon after another (same seed, same articles) must count them again.
        self.anonymous = Client(HTTP_USER_AGENT=f"bench.help_center/{uuid.uuid4()}")
        self.agent = Client()
        self.agent.force_login(agent)

    def client(self, *, internal: bool = False) -> Any:
        """The agent for an internal article, else one of the two at random."""
        return self.agent if internal or self.rng.random() < AGENT_SHARE else self.anonymous

    def get(self, client: Any, path: str, expect: int = 200, **headers: str) -> tuple[float, Any]:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            started, cpu = time.perf_counter(), time.process_time()
            response = client.get(path, **headers)
            elapsed = (time.perf_counter() - started) * 1000
            response.cpu_ms = (time.process_time() - cpu) * 1000
        if response.status_code != expect:
            raise BenchError(f"GET {path} answered {response.status_code}, not {expect}")
        response.queries = len(queries)
        return elapsed, response


def article_slugs(rng: random.Random, count: int) -> list[tuple[str, bool]]:
    """``count`` different published articles, spread over the whole table: each slug,
    and whether it is internal (read by the agent then)."""
    from knowledge.models import KnowledgeArticle, KnowledgeArticleStatus, Visibility

    ids = list(
        KnowledgeArticle.objects.filter(status=KnowledgeArticleStatus.PUBLISHED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    chosen = rng.sample(ids, min(count, len(ids)))
    rows = KnowledgeArticle.objects.filter(pk__in=chosen).values_list("pk", "slug", "visibility")
    found = {pk: (slug, visibility == Visibility.INTERNAL) for pk, slug, visibility in rows}
    return [found[pk] for pk in chosen]


def search_paths(rng: random.Random, count: int) -> list[str]:
    """``count`` search page addresses over the search benchmark's query mix; one in
    five with a category filter (a second page is added while timing)."""
    from django.db import connection

    from bench.knowledge_search import QUERY_MIX, _fill_codes
    from knowledge.models import KnowledgeCategory

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT substring(title from '0x[0-9A-F]{8}') FROM knowledge_knowledgearticle "
            "WHERE status = 'PUBLISHED' AND visibility = 'PUBLIC' AND title ~ '0x[0-9A-F]{8}' "
            "ORDER BY id LIMIT 3"
        )
        codes = [row[0] for row in cursor.fetchall()]
    if len(codes) < 3:
        raise BenchError("The loaded data has no error codes in titles; load more articles.")
    mix = [query for _, query in _fill_codes(QUERY_MIX, codes)]
    categories = list(KnowledgeCategory.objects.values_list("slug", flat=True))
    paths = []
    for n in range(count):
        params = {"q": mix[n % len(mix)]}
        if categories and rng.random() < 0.2:
            params["category"] = rng.choice(categories)
        paths.append("/help/search/?" + urlencode(params))
    rng.shuffle(paths)
    return paths


def measure(args: argparse.Namespace) -> dict[str, Kind]:
    rng = random.Random(args.seed)  # noqa: S311 -- a benchmark's sampling, not secrets
    reader = Reader(rng)
    slugs = article_slugs(rng, args.requests + args.warmup)
    searches = search_paths(rng, args.requests + args.warmup)
    kinds = {name: Kind(name) for name in ("article", "article 304", "search", "search page 2")}

    say(f"== warm-up: {args.warmup} article pages and searches")
    for slug, internal in slugs[: args.warmup]:
        reader.get(reader.client(internal=internal), f"/help/articles/{slug}/")
    for path in searches[: args.warmup]:
        reader.get(reader.client(), path)

    say(f"== timing {args.requests} article pages and {args.requests} searches, interleaved")
    later_pages: list[tuple[Any, str]] = []
    for n in range(args.requests):
        slug, internal = slugs[args.warmup + n]
        client = reader.client(internal=internal)
        ms, response = reader.get(client, f"/help/articles/{slug}/")
        kinds["article"].samples_ms.append(ms)
        kinds["article"].queries.append(response.queries)
        kinds["article"].cpu_ms.append(response.cpu_ms)
        if n % 10 == 0:
            ms, _ = reader.get(
                client,
                f"/help/articles/{slug}/",
                expect=304,
                HTTP_IF_NONE_MATCH=response["ETag"],
            )
            kinds["article 304"].samples_ms.append(ms)
        client = reader.client()
        path = searches[args.warmup + n]
        ms, response = reader.get(client, path)
        kinds["search"].samples_ms.append(ms)
        kinds["search"].queries.append(response.queries)
        kinds["search"].cpu_ms.append(response.cpu_ms)
        token = TOKEN.search(response.content.decode())
        if n % 5 == 0 and token and 'rel="next"' in response.content.decode():
            later_pages.append((client, f"{path}&page=2&s={token.group(1)}"))
        if n % 50 == 49:
            say(
                f"   {n + 1}/{args.requests}: article p95 "
                f"{percentile(kinds['article'].samples_ms, 95):.1f} ms, search p95 "
                f"{percentile(kinds['search'].samples_ms, 95):.1f} ms"
            )
    for client, path in later_pages:
        ms, response = reader.get(client, path)
        kinds["search page 2"].samples_ms.append(ms)
        kinds["search page 2"].queries.append(response.queries)
    return {name: kind for name, kind in kinds.items() if kind.samples_ms}


# --- the report -------------------------------------------------------------------------
def report(
    args: argparse.Namespace,
    kinds: dict[str, Kind],
    *,
    load: dict[str, Any],
    data: dict[str, Any],
    load_average: list[float],
) -> dict[str, Any]:
    figures = {name: kind.figures() for name, kind in kinds.items()}
    for name, kind in kinds.items():
        if kind.queries:
            figures[name]["queries_median"] = statistics.median(kind.queries)
            figures[name]["queries_max"] = max(kind.queries)
        if kind.cpu_ms:
            figures[name]["cpu_median_ms"] = round(statistics.median(kind.cpu_ms), 2)
    problems = []
    article, search = figures["article"]["p95_ms"], figures["search"]["p95_ms"]
    if article > MAX_ARTICLE_P95_MS:
        problems.append(f"article page p95 {article:.1f} ms (> {MAX_ARTICLE_P95_MS:g} ms)")
    if search > MAX_SEARCH_P95_MS:
        problems.append(f"search page p95 {search:.1f} ms (> {MAX_SEARCH_P95_MS:g} ms)")
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            **machine(),
            "load_average_1min_before_after": [round(x, 2) for x in load_average],
        },
        "settings": {"requests": args.requests, "warmup": args.warmup, "agent_share": AGENT_SHARE},
        "load": load,
        "data": data,
        "pages": figures,
        "targets": {"article_p95_ms": MAX_ARTICLE_P95_MS, "search_p95_ms": MAX_SEARCH_P95_MS},
        "passed": not problems,
        "problems": problems,
    }


def markdown(results: dict[str, Any]) -> str:
    m, load, data = results["machine"], results["load"], results["data"]
    before, after = m["load_average_1min_before_after"]
    lines = [
        "# Help center benchmark",
        "",
        (
            f"{results['date']} · commit {m.get('commit', '?')} · {m.get('cpus')} CPUs · "
            f"PostgreSQL {data.get('postgresql', '?')} · load average {before:.1f} → {after:.1f}"
        ),
        "",
        (
            f"{data['published']:,} published articles of {data['articles']:,} "
            f"(`knowledge_load`, {'reused' if load.get('reused') else 'loaded'}: "
            f"{load.get('load_summary', '?')}). Pages requested in process through Django's "
            f"test client, DEBUG off, {int(results['settings']['agent_share'] * 100)} % as a "
            "signed-in agent, the rest anonymous; every article page a different article. "
            "Written by `python -m bench.help_center`."
        ),
        "",
        (
            "| page | requests | median ms | p95 ms | max ms | queries (median / max) | "
            "CPU ms (median) |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, f in results["pages"].items():
        queries = f"{f['queries_median']:g} / {f['queries_max']}" if "queries_max" in f else ""
        cpu = f"{f['cpu_median_ms']:.1f}" if "cpu_median_ms" in f else ""
        lines.append(
            f"| {name} | {f['requests']} | {f['median_ms']:.1f} | {f['p95_ms']:.1f} | "
            f"{f['max_ms']:.1f} | {queries} | {cpu} |"
        )
    lines += [
        "",
        (
            "CPU ms: this process's CPU time per request (middleware, view, template; not "
            "PostgreSQL's), which waiting for a CPU on a busy machine does not inflate."
        ),
    ]
    t = results["targets"]
    lines += [
        "",
        (
            f"Targets: article page p95 under {t['article_p95_ms']:g} ms, search page p95 "
            f"under {t['search_p95_ms']:g} ms."
        ),
        "",
    ]
    if results["passed"]:
        lines.append("**Passed.**")
    else:
        lines += ["**Failed:**", "", *(f"- {p}" for p in results["problems"])]
    return "\n".join([*lines, ""])


# --- the run ----------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    from tests.support.processes import admin_connection, database_url, drop_database

    with contextlib.ExitStack() as cleanup:
        var_dir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="nf-bench-")))
        env = child_env(database_url(args.database), var_dir)
        if args.drop:
            cleanup.callback(drop_database, args.database)
        load = prepare_database(args, env)
        if args.load_only:
            say(f"== {args.database} is ready (--load-only)")
            return 0
        with admin_connection(args.database) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
            articles, published = conn.execute(
                "SELECT count(*), count(*) FILTER (WHERE status = 'PUBLISHED') "
                "FROM knowledge_knowledgearticle"
            ).fetchone()
        data = {"postgresql": version, "articles": articles, "published": published}
        if published < args.articles:
            raise BenchError(f"{args.database} has {published:,} published articles.")
        use(args.database)
        load_average = [os.getloadavg()[0]]
        kinds = measure(args)
        load_average.append(os.getloadavg()[0])
        from django.db import connection

        connection.close()

    results = report(args, kinds, load=load, data=data, load_average=load_average)
    return write_results(args.output, "help_center", results, markdown(results))


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.help_center", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--articles", type=int, default=100_000, help="Published articles.")
    parser.add_argument("--published-share", type=float, default=0.85)
    parser.add_argument("--requests", type=int, default=300, help="Timed requests per page.")
    parser.add_argument("--warmup", type=int, default=30, help="Untimed requests first.")
    parser.add_argument("--seed", type=int, default=0)
    add_kept_arguments(parser, results=RESULTS, prefix=DATABASE_PREFIX)
    args = parser.parse_args(argv)
    args.database = kept_database_name(args, DATABASE_PREFIX, args.articles)
    if args.articles < 1 or args.requests < 1 or args.warmup < 0:
        parser.error("--articles and --requests must be positive, --warmup 0 or more")
    if not 0 < args.published_share <= 1:
        parser.error("--published-share must be in (0, 1]")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(parse_args, run, argv, in_process=True)


if __name__ == "__main__":
    sys.exit(main())
