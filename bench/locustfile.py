"""The users of the load test, for locust; ``bench/load.py`` starts it, not a person.

    locust -f bench/locustfile.py --headless ...   (with NIXFLOW_LOAD_PLAN=<plan.json>)

The plan (written by ``bench/load.py``) holds the API tokens, the paths and the weights
of each request kind. Every user is one agent and one requester (its own tokens) and
sends requests back to back, no think time: a closed loop. Each request must answer its
one expected status (200 for reads, 201 for creates) and the expected body; anything
else, 4xx included, is a failure. Every request is also written, raw, to the plan's
``samples`` file when locust quits, so that ``bench/load.py`` computes exact percentiles
(locust's own statistics round response times into buckets).

Only the standard library and locust here: locust imports this file in its own process,
after gevent has patched the standard library, so it must not import Django.
"""

from __future__ import annotations

import itertools
import json
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from locust import FastHttpUser, constant, events
from locust.env import Environment

PLAN: dict[str, Any] = json.loads(Path(os.environ["NIXFLOW_LOAD_PLAN"]).read_text())
SAMPLES: list[tuple[str, float, float, int, str]] = []
_user_numbers = itertools.count()


@events.request.add_listener
def record(
    name: str,
    start_time: float,
    response_time: float,
    response: Any = None,
    exception: BaseException | None = None,
    **kwargs: Any,
) -> None:
    status = getattr(response, "status_code", 0) or 0
    error = "" if exception is None else f"{type(exception).__name__}: {exception}"[:300]
    SAMPLES.append((name, start_time, response_time, status, error))


@events.quitting.add_listener
def write_samples(environment: Environment, **kwargs: Any) -> None:
    Path(PLAN["samples"]).write_text(json.dumps(SAMPLES))


class DeskUser(FastHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        number = next(_user_numbers)
        self.rng = random.Random(number)  # noqa: S311 -- which path to ask for, not a secret
        agent = PLAN["agents"][number % len(PLAN["agents"])]
        requester_id, requester = PLAN["requesters"][number % len(PLAN["requesters"])]
        self.requester_id = requester_id
        self.as_agent = {"Authorization": f"Token {agent}", "Accept": "application/json"}
        self.as_requester = {"Authorization": f"Token {requester}", "Accept": "application/json"}
        self.sent = 0

    def expect(
        self,
        method: str,
        path: str,
        *,
        name: str,
        headers: dict[str, str],
        status: int,
        body: dict[str, Any] | None = None,
        key: str,
    ) -> None:
        """One request that must answer ``status`` with a JSON object holding ``key``."""
        with self.client.request(
            method, path, name=name, headers=headers, json=body, catch_response=True
        ) as response:
            if response.status_code != status:
                text = (response.text or "")[:200] if response.status_code else ""
                response.failure(f"HTTP {response.status_code} (expected {status}) {text}")
                return
            try:
                answer = response.json()
            except ValueError:
                response.failure("the answer is not JSON")
                return
            if not isinstance(answer, dict) or key not in answer:
                response.failure(f"the answer has no {key!r}")
            else:
                response.success()

    def ticket_list(self) -> None:
        path = self.rng.choice(PLAN["list_paths"])
        self.expect(
            "GET", path, name="ticket list", headers=self.as_agent, status=200, key="results"
        )

    def ticket_create(self) -> None:
        self.sent += 1
        title = f"{self.rng.choice(PLAN['titles'])} ({self.sent})"
        body = {
            "title": title,
            "description": "Opened by the load test for a caller on the phone.",
            "priority": self.rng.choice(["LOW", "NORMAL", "NORMAL", "HIGH"]),
            "requester": self.requester_id,
        }
        self.expect(
            "POST",
            "/api/tickets/",
            name="ticket create",
            headers=self.as_agent,
            status=201,
            body=body,
            key="key",
        )

    def kb_search(self) -> None:
        path = self.rng.choice(PLAN["search_paths"])
        self.expect(
            "GET", path, name="KB search", headers=self.as_requester, status=200, key="results"
        )

    def form_submit(self) -> None:
        self.sent += 1
        answers = dict(self.rng.choice(PLAN["form_answers"]))
        answers["summary"] = f"{answers['summary']} ({self.sent})"
        self.expect(
            "POST",
            PLAN["form_submit_path"],
            name="form submit",
            headers=self.as_requester,
            status=201,
            body=answers,
            key="ticket",
        )


KINDS: dict[str, Callable[[DeskUser], None]] = {
    "ticket list": DeskUser.ticket_list,
    "ticket create": DeskUser.ticket_create,
    "KB search": DeskUser.kb_search,
    "form submit": DeskUser.form_submit,
}
# The plan's mix names the kinds to send and their weights (KB search is left out when
# the knowledge app can't be searched). A list with each task ``weight`` times is what
# locust makes of a ``tasks`` dict in a class body; this one is known only at run time.
DeskUser.tasks = [KINDS[name] for name, weight in PLAN["mix"].items() for _ in range(weight)]
