"""Knowledge base articles for demos (``seed_articles``) and benchmarks (``generate_articles``).

Both draw on one bank of service-desk topics (VPN, passwords, mail, printers, …): each
topic has tasks, symptoms, error causes and Markdown building blocks, combined with
platforms, versions and error codes into believable articles of every kind.

``seed_articles`` writes a few dozen articles through the services (versions, events,
rendering, vocabulary: everything real). ``generate_articles`` writes many rows fast
with PostgreSQL ``COPY`` and bypasses the services on purpose: rendering Markdown costs
about a millisecond a block, so each distinct block of the bank is rendered once and
articles are assembled from the rendered pieces (Markdown renders blocks separated by
blank lines independently, so the pieces joined are the rendering of the whole). Values
that vary per article (platform, version, error code) are put into the rendered blocks
as text with no Markdown or HTML meaning, so no block is rendered twice.
"""

from __future__ import annotations

import multiprocessing
import random
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.db import connection, connections, transaction
from django.utils import timezone
from django.utils.text import slugify

from knowledge import rendering, services
from knowledge.demo_texts import (
    ANNOUNCEMENT_BLOCKS,
    BEFORE_YOU_START,
    CATEGORIES,
    DETAIL_BLOCKS,
    KIND_WEIGHTS,
    OFFICES,
    PLATFORMS,
    POLICY_BLOCKS,
    RARE_PRODUCTS,
    REFERENCE_SUBJECTS,
    STILL_STUCK,
    SUMMARIES,
    TAGS,
    TOPICS,
    Topic,
)
from knowledge.models import (
    KBCategory,
    KnowledgeArticle,
    KnowledgeArticleStatus,
    KnowledgeCategory,
    KnowledgeTag,
    Visibility,
)
from nixflow.models import Role, User
from nixflow.services import user_create

# --- Rendering pieces once ----------------------------------------------------------------
# Placeholders become these words while a block renders: plain letters, which neither
# Markdown nor HTML gives a meaning to, replaced by the article's values afterwards.
_SLOTS = ("platform", "version", "code", "product", "office", "date", "system")
_SLOT_WORD = {name: f"zqz{name}zqz" for name in _SLOTS}
_SLOT_PATTERN = re.compile("|".join(_SLOT_WORD.values()))


@lru_cache(maxsize=4096)
def _rendered_block(template: str) -> tuple[str, str]:
    """(html, text) of a block template whose placeholders are slot words."""
    rendered = rendering.render(template)
    return rendered.html, rendered.text


def _fill(text: str, values: dict[str, str]) -> str:
    return _SLOT_PATTERN.sub(lambda m: values[m.group(0)[3:-3]], text)


@dataclass(frozen=True)
class Assembled:
    title: str
    summary: str
    body: str
    body_html: str
    body_text: str
    kind: str
    category: str
    tags: tuple[str, ...]


def _slotted(template: str) -> str:
    return template.format(**_SLOT_WORD)


def _steps_block(heading: str, steps: Sequence[str]) -> str:
    return f"## {heading}\n\n" + "\n".join(f"{n}. {step}" for n, step in enumerate(steps, 1))


def _bullets_block(heading: str, items: Sequence[str]) -> str:
    return f"## {heading}\n\n" + "\n".join(f"- {item}" for item in items)


class ArticleMaker:
    """Believable articles from the bank, reproducible for a given random generator."""

    def __init__(self, rng: random.Random, now: datetime) -> None:
        self.rng = rng
        self.now = now
        self.kinds = list(KIND_WEIGHTS)
        self.kind_weights = list(KIND_WEIGHTS.values())

    def values(self, topic: Topic) -> dict[str, str]:
        rng = self.rng
        day = self.now + timedelta(days=rng.randint(-400, 60))
        return {
            "platform": rng.choice(PLATFORMS),
            "version": f"{rng.randint(2, 24)}.{rng.randint(0, 12)}.{rng.randint(0, 30)}",
            "code": f"0x{rng.getrandbits(32):08X}",
            # Each product name in about one article in 40 (rare words for search).
            "product": rng.choice(RARE_PRODUCTS) if rng.random() < 0.5 else topic.system,
            "office": rng.choice(OFFICES),
            "date": f"{day:%d %B %Y}",
            "system": topic.system,
        }

    def make(self, topic: Topic | None = None) -> Assembled:
        rng = self.rng
        topic = topic or rng.choice(TOPICS)
        kind = rng.choices(self.kinds, self.kind_weights)[0]
        values = self.values(topic)
        task, symptom = rng.choice(topic.tasks), rng.choice(topic.symptoms)
        subject = rng.choice(REFERENCE_SUBJECTS)
        fields = {**values, "task": task, "symptom": symptom, "subject": subject}
        title = self.title(kind, topic, fields)
        summary = rng.choice(SUMMARIES[kind]).format(**fields)
        summary = summary[0].upper() + summary[1:]
        blocks = self.blocks(kind, topic)
        html_parts, text_parts = zip(*(_rendered_block(block) for block in blocks), strict=True)
        return Assembled(
            title=title[:200],
            summary=summary[:500],
            body=_fill("\n\n".join(blocks), values),
            body_html=_fill("\n".join(html_parts), values),
            body_text=_fill("\n\n".join(text_parts), values),
            kind=kind,
            category=topic.category,
            tags=tuple(sorted(set(rng.sample(topic.tags, k=min(len(topic.tags), 2))))),
        )

    def title(self, kind: str, topic: Topic, fields: dict[str, str]) -> str:
        rng, system = self.rng, topic.system
        system_cap = system[0].upper() + system[1:]
        task = fields["task"]
        options = {
            KBCategory.HOW_TO: [
                f"How to {task}",
                f"How to {task} on {fields['platform']}",
                f"{task[0].upper()}{task[1:]} ({fields['platform']})",
            ],
            KBCategory.TROUBLESHOOTING: [
                f"{system_cap} {fields['symptom']}",
                f"{system_cap} {fields['symptom']} on {fields['platform']}",
                f"Error {fields['code']}: {system} {fields['symptom']}",
            ],
            KBCategory.FAQ: [f"{system_cap}: frequently asked questions", f"{system_cap} FAQ"],
            KBCategory.KNOWN_ISSUE: [
                f"Known issue: {system} {fields['symptom']} after the {fields['version']} update",
                f"Known issue with {fields['product']}: {system} {fields['symptom']}",
            ],
            KBCategory.REFERENCE: [f"{system_cap} {fields['subject']}"],
            KBCategory.POLICY: [f"{system_cap} acceptable use policy", f"{system_cap} policy"],
            KBCategory.ANNOUNCEMENT: [f"Planned maintenance: {system} on {fields['date']}"],
        }
        return rng.choice(options[KBCategory(kind)])

    def blocks(self, kind: str, topic: Topic) -> list[str]:
        rng = self.rng
        blocks = [rng.choice(topic.intros)]
        if kind == KBCategory.HOW_TO:
            blocks += [_slotted(rng.choice(BEFORE_YOU_START))]
            blocks += [_steps_block("Steps", rng.choice(topic.steps))]
            if rng.random() < 0.4:
                blocks.append(_slotted(rng.choice(DETAIL_BLOCKS)))
        elif kind in {KBCategory.TROUBLESHOOTING, KBCategory.KNOWN_ISSUE}:
            blocks += [_slotted(rng.choice(DETAIL_BLOCKS))]
            blocks += [_bullets_block("Common causes", rng.sample(topic.causes, k=3))]
            blocks += [_steps_block("What to do", rng.choice(topic.steps))]
        elif kind == KBCategory.FAQ:
            blocks += [f"### {q}\n\n{a}" for q, a in topic.faq]
        elif kind == KBCategory.REFERENCE:
            blocks += [_bullets_block("At a glance", topic.causes)]
            blocks += [_slotted(rng.choice(DETAIL_BLOCKS))]
        elif kind == KBCategory.POLICY:
            blocks += [_slotted(b) for b in POLICY_BLOCKS]
        else:
            blocks = [_slotted(b) for b in ANNOUNCEMENT_BLOCKS]
        blocks.append(_slotted(rng.choice(STILL_STUCK)))
        return blocks


# --- Categories and tags ------------------------------------------------------------------
def ensure_categories_and_tags() -> tuple[dict[str, int], dict[str, int]]:
    """The demo category tree and tags (created once); their ids by slug."""
    categories: dict[str, int] = dict(KnowledgeCategory.objects.values_list("slug", "pk"))
    for position, (slug, name, parent, description) in enumerate(CATEGORIES):
        if slug not in categories:
            category = services.category_create(
                name=name,
                slug=slug,
                parent=KnowledgeCategory.objects.get(slug=parent) if parent else None,
                description=description,
                position=position,
                actor=None,
            )
            categories[slug] = category.pk
    tags: dict[str, int] = dict(KnowledgeTag.objects.values_list("slug", "pk"))
    for name in TAGS:
        if name not in tags:
            tags[name] = services.tag_create(name=name, actor=None).pk
    return categories, tags


# --- seed_demo: a few dozen articles through the services --------------------------------
SEED_STATUS_PLAN = (
    [KnowledgeArticleStatus.PUBLISHED] * 26
    + [KnowledgeArticleStatus.DRAFT] * 3
    + [KnowledgeArticleStatus.IN_REVIEW] * 3
    + [KnowledgeArticleStatus.ARCHIVED] * 2
)


def seed_articles(*, author: User, rng: random.Random) -> int:
    """A few dozen articles for the demo desk, written through the services, so that
    each has its versions, events and rendering; a few are edited once more (version 2).
    Idempotent: nothing is created when the demo categories already hold articles.
    Returns the number of articles created."""
    categories, tags = ensure_categories_and_tags()
    if KnowledgeArticle.objects.filter(category_id__in=categories.values()).exists():
        return 0
    maker = ArticleMaker(rng, timezone.now())
    topics = TOPICS * 3
    plan = list(SEED_STATUS_PLAN)
    rng.shuffle(plan)
    created = 0
    seen_titles: set[str] = set()
    by_slug = KnowledgeCategory.objects.in_bulk(list(categories), field_name="slug")
    tag_rows = KnowledgeTag.objects.in_bulk(list(tags), field_name="slug")
    with transaction.atomic():
        for n, status in enumerate(plan):
            made = maker.make(topics[n % len(topics)])
            if made.title in seen_titles:
                made = maker.make(topics[(n + 7) % len(topics)])
            seen_titles.add(made.title)
            article = services.article_create(
                title=made.title,
                summary=made.summary,
                body=made.body,
                kind=KBCategory(made.kind),
                visibility=Visibility.INTERNAL if n % 9 == 4 else Visibility.PUBLIC,
                category=by_slug[made.category],
                tags=[tag_rows[t] for t in made.tags],
                author=author,
            )
            if n % 5 == 0:
                services.article_update(
                    article=article,
                    actor=author,
                    data={"summary": made.summary + " Updated for the latest version."},
                    note="Clarified the summary.",
                )
            _walk_to(article, status, author)
            created += 1
    return created


def _walk_to(article: KnowledgeArticle, status: str, actor: User) -> None:
    path = {
        KnowledgeArticleStatus.DRAFT: [],
        KnowledgeArticleStatus.IN_REVIEW: [KnowledgeArticleStatus.IN_REVIEW],
        KnowledgeArticleStatus.PUBLISHED: [
            KnowledgeArticleStatus.IN_REVIEW,
            KnowledgeArticleStatus.PUBLISHED,
        ],
        KnowledgeArticleStatus.ARCHIVED: [
            KnowledgeArticleStatus.IN_REVIEW,
            KnowledgeArticleStatus.PUBLISHED,
            KnowledgeArticleStatus.ARCHIVED,
        ],
    }[KnowledgeArticleStatus(status)]
    for step in path:
        article = services.article_transition(article=article, to_status=step, actor=actor)


# --- load_data: many articles with COPY ---------------------------------------------------
ARTICLE_COLUMNS = (
    "id, title, slug, summary, body, body_html, body_text, kind, status, visibility, "
    "category_id, author_id, version, created, updated, published_at, view_count, "
    "helpful_count, not_helpful_count"
)
VERSION_COLUMNS = "article_id, number, title, summary, body, author_id, note, created"
TAG_COLUMNS = "knowledgearticle_id, knowledgetag_id"
DAY = 86400.0
GENERATED_AUTHOR = "kb-writer"


@dataclass(frozen=True)
class Generated:
    articles: int
    published: int
    seconds: float


def _status_cumulative(published_share: float) -> list[tuple[float, str, str]]:
    """(cumulative share, status, visibility): most published articles are public."""
    rest = 1.0 - published_share
    shares = [
        (published_share * 0.88, KnowledgeArticleStatus.PUBLISHED, Visibility.PUBLIC),
        (published_share * 0.12, KnowledgeArticleStatus.PUBLISHED, Visibility.INTERNAL),
        (rest * 0.45, KnowledgeArticleStatus.DRAFT, Visibility.PUBLIC),
        (rest * 0.20, KnowledgeArticleStatus.IN_REVIEW, Visibility.PUBLIC),
        (rest * 0.35, KnowledgeArticleStatus.ARCHIVED, Visibility.PUBLIC),
    ]
    total = 0.0
    out: list[tuple[float, str, str]] = []
    for share, status, visibility in shares:
        total += share
        out.append((total, status, visibility))
    return out


def _authors() -> list[int]:
    # Same query as the core's load_data agent list; demo data must not depend on a management
    # command.
    authors = list(
        User.objects.filter(role__in=[Role.AGENT, Role.ADMIN], is_active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if authors:
        return authors
    # No agent yet (a bare database): articles need an author.
    writer = User.objects.filter(username=GENERATED_AUTHOR).first()
    if writer is None:
        writer = user_create(
            username=GENERATED_AUTHOR, email=f"{GENERATED_AUTHOR}@load.example", role=Role.AGENT
        )
    return [writer.pk]


def _allocate_ids(count: int) -> list[int]:
    """``count`` ids from the article table's identity sequence, ours alone: rows
    copied with them never collide with articles written meanwhile."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence('knowledge_knowledgearticle', 'id')) "
            "FROM generate_series(1, %s)",
            [count],
        )
        return [row[0] for row in cursor.fetchall()]


@dataclass(frozen=True)
class _Share:
    """One worker's part of a generation run."""

    count: int
    batch_size: int
    seed: str
    published_share: float
    now: datetime
    categories: dict[str, int]
    tags: dict[str, int]
    authors: list[int]


def generate_articles(
    *,
    count: int,
    batch_size: int = 10_000,
    progress: Callable[[int, int], None] | None = None,
    seed: int = 0,
    published_share: float = 0.85,
    workers: int = 1,
) -> Generated:
    """Write ``count`` generated articles (with version 1 and tags) using COPY, one
    transaction per batch; ``progress(done, total)`` is called after each batch.

    ``published_share`` of them are published (nine in ten of those public), the rest
    drafts, in review or archived. Authors are the active agents (one is created when
    there is none); categories and tags are the demo ones. The vocabulary (typo
    tolerance) gets every word of the bank, and the touched tables are analyzed.

    ``workers`` > 1 splits the batches between that many processes, each with its own
    database connection: PostgreSQL computes the search vectors of each worker's rows in
    that worker's backend, so the work spreads over the machine's cores. Inside a
    transaction (a test) one process does it all: other connections could not see the
    categories, tags and authors it may have just created.
    """
    if count < 1 or batch_size < 1 or workers < 1 or not 0.0 <= published_share <= 1.0:
        raise ValueError(
            "count, batch_size and workers must be positive, published_share in [0, 1]."
        )
    started = time.monotonic()
    if connection.in_atomic_block:
        workers = 1
    categories, tags = ensure_categories_and_tags()
    shares = [
        _Share(
            count=count // workers + (1 if n < count % workers else 0),
            batch_size=batch_size,
            seed=f"{seed}/{n}",
            published_share=published_share,
            now=timezone.now(),
            categories=categories,
            tags=tags,
            authors=_authors(),
        )
        for n in range(min(workers, count))
    ]
    if len(shares) == 1:
        published = _generate_share(shares[0], progress=progress, total=count)
    else:
        published = _generate_in_processes(shares, progress=progress, total=count)
    _finish_load()
    return Generated(articles=count, published=published, seconds=time.monotonic() - started)


def _finish_load() -> None:
    """The vocabulary gets every word of the bank; the indexes and statistics catch up."""
    services.vocabulary_add(texts=list(_bank_texts()))
    with connection.cursor() as cursor:
        # Rows inserted in bulk wait in the GIN indexes' pending lists, which every
        # search must scan until autovacuum merges them: merge them now.
        cursor.execute(
            "SELECT gin_clean_pending_list('kb_article_search'::regclass), "
            "gin_clean_pending_list('kb_article_title_search'::regclass)"
        )
        cursor.execute(
            "ANALYZE knowledge_knowledgearticle, knowledge_knowledgearticleversion, "
            "knowledge_knowledgearticle_tags, knowledge_knowledgeword"
        )


def _generate_share(
    share: _Share, *, progress: Callable[[int, int], None] | None = None, total: int = 0
) -> int:
    """Generate one share of the articles, batch by batch; returns how many are
    published."""
    maker = ArticleMaker(random.Random(share.seed), share.now)  # noqa: S311 -- test data
    statuses = _status_cumulative(share.published_share)
    done = published = 0
    while done < share.count:
        size = min(share.batch_size, share.count - done)
        with transaction.atomic():
            rows = _rows(
                maker,
                _allocate_ids(size),
                categories=share.categories,
                tags=share.tags,
                authors=share.authors,
                statuses=statuses,
                now=share.now,
            )
            published += _copy(rows)
        done += size
        if progress is not None:
            progress(done, total or share.count)
    return published


def _worker(number: int, share: _Share, queue: Any) -> None:
    # A forked process must not use its parent's database connection.
    connections.close_all()
    try:
        published = _generate_share(
            share, progress=lambda done, _: queue.put(("batch", number, done))
        )
        queue.put(("done", number, published))
    except Exception as error:  # the parent reports it
        queue.put(("error", number, repr(error)))
    finally:
        connections.close_all()


def _generate_in_processes(
    shares: Sequence[_Share], *, progress: Callable[[int, int], None] | None, total: int
) -> int:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    connections.close_all()  # the children must not inherit an open connection
    processes = [
        context.Process(target=_worker, args=(number, share, queue))
        for number, share in enumerate(shares)
    ]
    for process in processes:
        process.start()
    done_by = [0] * len(shares)
    published, finished, errors = 0, 0, []
    while finished < len(processes):
        kind, number, value = queue.get()
        if kind == "batch":
            done_by[number] = value
            if progress is not None:
                progress(sum(done_by), total)
        elif kind == "done":
            published += value
            finished += 1
        else:
            errors.append(value)
            finished += 1
    for process in processes:
        process.join()
    if errors:
        raise RuntimeError(f"Generating articles failed in a worker: {'; '.join(errors)}")
    return published


Row = tuple[tuple[Any, ...], tuple[Any, ...], list[tuple[int, int]]]


def _rows(
    maker: ArticleMaker,
    ids: Sequence[int],
    *,
    categories: dict[str, int],
    tags: dict[str, int],
    authors: Sequence[int],
    statuses: Sequence[tuple[float, str, str]],
    now: datetime,
) -> Iterator[Row]:
    rng = maker.rng
    for article_id in ids:
        made = maker.make()
        draw = rng.random()
        status, visibility = next(
            ((s, v) for limit, s, v in statuses if draw < limit), statuses[-1][1:]
        )
        created = now - timedelta(seconds=rng.random() * 3 * 365 * DAY)
        updated = created + timedelta(seconds=rng.random() * (now - created).total_seconds())
        published_at = (
            created + timedelta(seconds=(updated - created).total_seconds() * rng.random())
            if status in {KnowledgeArticleStatus.PUBLISHED, KnowledgeArticleStatus.ARCHIVED}
            else None
        )
        views = int(rng.lognormvariate(3, 1.5)) if published_at else 0
        author = rng.choice(authors)
        slug = f"{slugify(made.title)[:200]}-{article_id}"
        article = (
            article_id, made.title, slug, made.summary, made.body, made.body_html,
            made.body_text, made.kind, status, visibility, categories[made.category], author,
            1, created, updated, published_at, views, 0, 0,
        )  # fmt: skip
        version = (article_id, 1, made.title, made.summary, made.body, author, "Imported.", created)
        yield article, version, [(article_id, tags[t]) for t in made.tags]


def _copy(rows: Iterator[Row]) -> int:
    """COPY the rows; returns how many are published. Articles are generated while
    PostgreSQL is busy with the ones already sent (their search vectors), so Python and
    the server work at the same time; versions and tags follow."""
    versions, links, published = [], [], 0
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY knowledge_knowledgearticle ({ARTICLE_COLUMNS}) FROM STDIN") as copy:
            for article, version, article_links in rows:
                copy.write_row(article)
                versions.append(version)
                links += article_links
                published += article[8] == KnowledgeArticleStatus.PUBLISHED
        with raw.copy(
            f"COPY knowledge_knowledgearticleversion ({VERSION_COLUMNS}) FROM STDIN"
        ) as copy:
            for version in versions:
                copy.write_row(version)
        with raw.copy(f"COPY knowledge_knowledgearticle_tags ({TAG_COLUMNS}) FROM STDIN") as copy:
            for link in links:
                copy.write_row(link)
    return published


def _bank_texts() -> Iterator[str]:
    """Every text the generator assembles articles from, with the values it fills in:
    their words are the generated articles' words."""
    yield from PLATFORMS
    yield from OFFICES
    yield from RARE_PRODUCTS
    yield from REFERENCE_SUBJECTS
    for topic in TOPICS:
        yield topic.system
        yield from topic.tasks
        yield from topic.symptoms
        yield from topic.intros
        yield from topic.causes
        for steps in topic.steps:
            yield from steps
        for question, answer in topic.faq:
            yield f"{question} {answer}"
    for block in (*BEFORE_YOU_START, *STILL_STUCK, *DETAIL_BLOCKS, *ANNOUNCEMENT_BLOCKS):
        yield block.format(**dict.fromkeys(_SLOTS, ""))
    for block in POLICY_BLOCKS:
        yield block.format(**dict.fromkeys(_SLOTS, ""))
    for templates in SUMMARIES.values():
        for template in templates:
            yield re.sub(r"\{\w+\}", " ", template)
    yield "frequently asked questions FAQ known issue update planned maintenance policy"
    yield "acceptable use how to steps common causes what to do error"
