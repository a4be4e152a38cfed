"""``manage.py knowledge_load --articles N``: many generated articles, fast (COPY).

    python manage.py knowledge_load --articles 100000 [--published-share 0.85]
        [--batch-size 10000] [--seed 0] [--workers N] [--no-progress]
        [--rebuild-vocabulary]

Writes articles with their first version and tags in batches of one transaction each,
in ``--workers`` processes (see ``knowledge.demo.generate_articles``), using the demo
categories and tags and the active agents as authors. Events are not generated: the
event log describes real changes. ``--rebuild-vocabulary`` recomputes the
typo-tolerance vocabulary from every article instead (after articles were deleted, or
imported by other means).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from knowledge import demo, services


class Command(BaseCommand):
    help = "Bulk-load generated knowledge base articles for benchmarks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--articles", type=int, default=0, help="How many articles.")
        parser.add_argument(
            "--published-share",
            type=float,
            default=0.85,
            help="Share of published articles, 0 to 1 (0.85); the rest are drafts, in "
            "review or archived.",
        )
        parser.add_argument(
            "--batch-size", type=int, default=10_000, help="Articles per transaction (10000)."
        )
        parser.add_argument("--seed", type=int, default=0, help="Random seed (0).")
        parser.add_argument(
            "--workers",
            type=int,
            default=min(4, os.cpu_count() or 1),
            help="Processes writing in parallel (one per CPU, at most 4).",
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress line.")
        parser.add_argument(
            "--rebuild-vocabulary",
            action="store_true",
            help="Recompute the vocabulary of typo tolerance from all articles.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        count = options["articles"]
        if count < 0 or options["batch_size"] < 1 or options["workers"] < 1:
            raise CommandError("--articles must be 0 or more, --batch-size and --workers positive.")
        if not 0.0 <= options["published_share"] <= 1.0:
            raise CommandError("--published-share must be between 0 and 1.")
        if count == 0 and not options["rebuild_vocabulary"]:
            raise CommandError("Nothing to do: give --articles N or --rebuild-vocabulary.")
        if count:
            show = not options["no_progress"] and sys.stderr.isatty()
            started = time.monotonic()

            def progress(done: int, total: int) -> None:
                if show:
                    rate = done / max(time.monotonic() - started, 1e-6)
                    sys.stderr.write(
                        f"\r  {done:>10,} / {total:,} articles  {100 * done / total:5.1f} %  "
                        f"{rate:,.0f}/s "
                    )
                    sys.stderr.flush()

            outcome = demo.generate_articles(
                count=count,
                batch_size=options["batch_size"],
                progress=progress,
                seed=options["seed"],
                published_share=options["published_share"],
                workers=options["workers"],
            )
            if show:
                sys.stderr.write("\n")
            self.stdout.write(
                f"Loaded {outcome.articles:,} articles ({outcome.published:,} published) in "
                f"{outcome.seconds:.1f} s: {outcome.articles / outcome.seconds:,.0f} articles/s."
            )
        if options["rebuild_vocabulary"]:
            words = services.vocabulary_rebuild()
            self.stdout.write(f"Vocabulary rebuilt: {words:,} words.")
