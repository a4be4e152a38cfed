"""A separate process that opens tickets through ``ticket_create`` as mail workers and
the API do, for the auto-assignment concurrency test (tests/core/test_assignment.py).

    python -m tests.support.create_tickets <requester id> <count> <go file>

It sets Django up, says "ready", waits for the go file (so that the processes start
creating together, not one after the other), then opens ``count`` tickets, each in its
own transaction, and prints "done".
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def main() -> None:
    requester_id, count, go = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nixflow.settings")
    import django

    django.setup()
    from nixflow import services
    from nixflow.models import Source, User

    requester = User.objects.get(pk=requester_id)
    print("ready", flush=True)
    deadline = time.monotonic() + 60
    while not go.exists():
        if time.monotonic() > deadline:
            raise SystemExit("no go file")
        time.sleep(0.01)
    for n in range(count):
        services.ticket_create(
            requester=requester, title=f"Parallel {os.getpid()} {n}", source=Source.API, actor=None
        )
    print("done", flush=True)


if __name__ == "__main__":
    main()
