"""Generated data for demos and benchmarks: the people, workflows and texts of a believable
service desk, and the demo desk that ``seed_demo`` builds through the services.

``load_data`` (the bulk loader for benchmarks) shares the texts and names but writes rows
with COPY instead; see its module docstring for why.

The demo desk is built in two passes. First every ticket's life (creation, assignment,
comments, transitions, watchers) runs through the services, so history rows, events and
every rule they enforce are real. The services stamp "now" on what they write, so a
second pass moves each timestamp to the time the plan gave its step, with set-based
``bulk_update``s: a ticket created 40 days ago was answered 40 days ago too. What other
apps wrote in reaction keeps the time of the run: the event log is append-only (its
triggers refuse UPDATE), and SLA clocks belong to the ``sla`` app.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TypeVar, overload

from django.db import transaction
from django.utils import timezone

from nixflow import services
from nixflow.models import (
    Comment,
    HistoryLog,
    Priority,
    Role,
    Source,
    Stage,
    StageCategory,
    Ticket,
    TicketWatcher,
    User,
    Workflow,
)

K = TypeVar("K")

# --- People -----------------------------------------------------------------------------
# username, e-mail, role, first name, last name. The first five are the original demo
# users (their names and order are what `seed_demo` has always printed).
DEMO_USERS: list[tuple[str, str, Role, str, str]] = [
    ("admin", "admin@nixflow.example", Role.ADMIN, "Ada", "Admin"),
    ("alice", "alice@nixflow.example", Role.AGENT, "Alice", "Agent"),
    ("bob", "bob@nixflow.example", Role.AGENT, "Bob", "Builder"),
    ("carol", "carol@customer.example", Role.REQUESTER, "Carol", "Customer"),
    ("dave", "dave@customer.example", Role.REQUESTER, "Dave", "Davis"),
    # More agents: a team of six, alice dispatching.
    ("priya", "priya.natarajan@nixflow.example", Role.AGENT, "Priya", "Natarajan"),
    ("marcus", "marcus.obrien@nixflow.example", Role.AGENT, "Marcus", "O'Brien"),
    ("sofia", "sofia.lindqvist@nixflow.example", Role.AGENT, "Sofia", "Lindqvist"),
    ("kenji", "kenji.watanabe@nixflow.example", Role.AGENT, "Kenji", "Watanabe"),
    # Requesters of four customer companies (carol and dave are at customer.example).
    ("emma.schulz", "emma.schulz@acme.example", Role.REQUESTER, "Emma", "Schulz"),
    ("liam.murphy", "liam.murphy@acme.example", Role.REQUESTER, "Liam", "Murphy"),
    ("olivia.rossi", "olivia.rossi@acme.example", Role.REQUESTER, "Olivia", "Rossi"),
    ("noah.kim", "noah.kim@acme.example", Role.REQUESTER, "Noah", "Kim"),
    ("zoe.williams", "zoe.williams@acme.example", Role.REQUESTER, "Zoe", "Williams"),
    ("ava.nguyen", "ava.nguyen@globex.example", Role.REQUESTER, "Ava", "Nguyen"),
    ("lucas.martin", "lucas.martin@globex.example", Role.REQUESTER, "Lucas", "Martin"),
    ("mia.kowalski", "mia.kowalski@globex.example", Role.REQUESTER, "Mia", "Kowalski"),
    ("ethan.brown", "ethan.brown@globex.example", Role.REQUESTER, "Ethan", "Brown"),
    ("samuel.cohen", "samuel.cohen@globex.example", Role.REQUESTER, "Samuel", "Cohen"),
    ("isabella.garcia", "isabella.garcia@initech.example", Role.REQUESTER, "Isabella", "García"),
    ("mateo.fernandez", "mateo.fernandez@initech.example", Role.REQUESTER, "Mateo", "Fernández"),
    ("amara.okafor", "amara.okafor@initech.example", Role.REQUESTER, "Amara", "Okafor"),
    ("yusuf.demir", "yusuf.demir@initech.example", Role.REQUESTER, "Yusuf", "Demir"),
    ("hannah.mueller", "hannah.mueller@umbrella.example", Role.REQUESTER, "Hannah", "Müller"),
    ("oscar.johansson", "oscar.johansson@umbrella.example", Role.REQUESTER, "Oscar", "Johansson"),
    ("chloe.dubois", "chloe.dubois@umbrella.example", Role.REQUESTER, "Chloé", "Dubois"),
    ("arjun.mehta", "arjun.mehta@umbrella.example", Role.REQUESTER, "Arjun", "Mehta"),
]
DISPATCHER = "alice"  # assigns incoming tickets and watches the urgent ones

FIRST_NAMES = [
    "Aaliyah", "Adam", "Aiko", "Alejandro", "Amelia", "Anna", "Ben", "Bruno", "Carmen",
    "Chen", "Daniel", "Elena", "Fatima", "Felix", "Grace", "Hugo", "Ines", "Jakob", "Jana",
    "Jonas", "Julia", "Karim", "Laura", "Leon", "Lena", "Luca", "Maria", "Max", "Mei",
    "Nadia", "Nina", "Omar", "Paul", "Rosa", "Ruth", "Sara", "Tom", "Valentina", "Wei", "Yara",
]  # fmt: skip
LAST_NAMES = [
    "Andersson", "Bauer", "Costa", "Dimitrov", "Eriksen", "Fischer", "Gallagher", "Haddad",
    "Ivanova", "Jensen", "Kaur", "Lambert", "Moreau", "Novak", "Ortega", "Petrov", "Quinn",
    "Rahman", "Santos", "Tanaka", "Unger", "Varga", "Weber", "Yilmaz", "Zhang",
]  # fmt: skip

# --- Workflows --------------------------------------------------------------------------
SERVICE_DESK = "Service desk"  # the default workflow of migration 0004
ACCESS_REQUESTS = "Access requests"

ACCESS_STAGES = [
    # name, category, position
    ("Submitted", StageCategory.NEW, 1),
    ("Awaiting approval", StageCategory.WAITING, 2),
    ("Provisioning", StageCategory.OPEN, 3),
    ("Granted", StageCategory.RESOLVED, 4),
    ("Closed", StageCategory.CLOSED, 5),
    ("Rejected", StageCategory.CLOSED, 6),
]
ACCESS_TRANSITIONS = [
    # from, to, name, requester_allowed
    ("Submitted", "Awaiting approval", "Request approval", False),
    ("Submitted", "Rejected", "Reject", False),
    ("Awaiting approval", "Provisioning", "Approve", False),
    ("Awaiting approval", "Rejected", "Reject", False),
    ("Provisioning", "Granted", "Grant", False),
    ("Granted", "Closed", "Confirm and close", True),
    ("Granted", "Provisioning", "Not working", True),
    ("Rejected", "Submitted", "Resubmit", True),
]


def ensure_access_workflow() -> Workflow:
    """The "Access requests" workflow: approval by the requester's manager (a WAITING
    stage, so SLA clocks pause), then provisioning. Created once (through the workflow
    service, so its workflow.created event is in the log), left alone after."""
    workflow = Workflow.objects.filter(name=ACCESS_REQUESTS).first()
    if workflow is not None:
        return workflow
    return services.workflow_create(
        actor=None,
        name=ACCESS_REQUESTS,
        description="Access to systems and data, approved by the manager.",
        stages=[
            services.StageSpec(name=name, category=category, position=position)
            for name, category, position in ACCESS_STAGES
        ],
        transitions=[
            services.TransitionSpec(a, b, name, requester_allowed)
            for a, b, name, requester_allowed in ACCESS_TRANSITIONS
        ],
    )


# --- Texts ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Issue:
    title: str
    description: str
    question: str  # what the agent asks before a WAITING stage
    fix: str  # the public resolution
    note: str  # an internal note


ISSUES = [
    Issue(
        "VPN drops every few minutes when working from home",
        "Since this morning the VPN disconnects every 5 to 10 minutes. I have to log in "
        "again each time, which kills my video calls.",
        "Which VPN client version do you have (Help → About), and does it also happen on "
        "another network, for example your phone's hotspot?",
        "We pushed an updated VPN profile with a longer keep-alive. Please reconnect once; "
        "the drops should be gone.",
        "Gateway log shows DPD timeouts from the home router; known issue with short "
        "keep-alive intervals.",
    ),
    Issue(
        "Outlook calendar does not sync to my phone",
        "Meetings I accept on the laptop don't show up in the calendar on my phone. Mail "
        "syncs fine.",
        "Could you remove and re-add the account on the phone and tell me whether the "
        "calendar fills after about ten minutes?",
        "The mobile device partnership was stuck; I removed it on the server. After "
        "re-adding the account the calendar syncs again.",
        "ActiveSync partnership was quarantined since the last OS update.",
    ),
    Issue(
        "Printer on the 3rd floor jams on every job",
        "The big printer next to the kitchen on the 3rd floor jams on almost every print "
        "job. Tray 2 seems to be the problem.",
        "Does it also jam when you print from tray 1, and is it the same for single-sided jobs?",
        "The technician replaced the pickup rollers of tray 2. Test prints went through fine.",
        "Rollers worn out; service contract covers the part. Booked the vendor visit.",
    ),
    Issue(
        "Laptop very slow since the last update",
        "Since the update on Tuesday my laptop takes ages to start and the fan runs all "
        "the time. Opening Excel takes a minute.",
        "Could you send a screenshot of the Task Manager's Processes tab while it is slow?",
        "The search indexer was stuck rebuilding after the update. I reset the index and "
        "the laptop is back to normal speed.",
        "Indexer at 100 % CPU; same pattern as on two other machines this week.",
    ),
    Issue(
        "Cannot log in to the payroll portal",
        "The payroll portal says 'account locked' when I log in, although I haven't "
        "typed a wrong password.",
        "Did you change your password recently, and do you still use the portal from "
        "an old browser session or phone?",
        "Your account was locked by an old session retrying the previous password. I "
        "unlocked it and cleared the sessions; you can log in again.",
        "Lockouts came from a stale mobile session, not an attack (same device id).",
    ),
    Issue(
        "Second monitor for my home office",
        "I'd like a second monitor for working from home; my manager agreed. A 24-inch "
        "one would be perfect.",
        "Should we ship it to your home address or will you pick it up at the office?",
        "The monitor and a DisplayPort cable were shipped; tracking number is in your mail.",
        "Taken from stock (Dell P2423). Stock now at 3.",
    ),
    Issue(
        "Finance shared drive not mapped after login",
        "The F: drive with the Finance folders no longer appears when I log in, so I "
        "can't open the monthly reports.",
        "Are you in the office or on the VPN when this happens?",
        "The drive mapping policy didn't apply after your move to the new department; "
        "I fixed the group membership. It maps at the next login.",
        "User was still in the old OU; GPO filtered by OU.",
    ),
    Issue(
        "Camera not detected in Teams",
        "Teams says no camera found, but the camera works in the Camera app.",
        "Which Teams version is installed, and does the camera work in a browser meeting?",
        "Teams was using a virtual camera driver left by another app. I removed it and "
        "Teams finds the built-in camera again.",
        "Leftover virtual camera from a screen recorder; uninstalled remotely.",
    ),
    Issue(
        "Password reset link has expired",
        "I requested a password reset yesterday and the link says it has expired. I "
        "can't get into my account.",
        "Can you confirm the last four digits of your employee number so I can verify it's you?",
        "I sent a new reset link, valid for 24 hours. Please use it today.",
        "Identity verified by phone call-back.",
    ),
    Issue(
        "Suspicious e-mail asking for my credentials",
        "I received an e-mail that looks like it's from IT asking me to confirm my "
        "password on an external site. I didn't click anything.",
        "Could you forward it as an attachment so we can see the headers?",
        "Thank you for reporting it. We blocked the sender and removed the message from "
        "all mailboxes.",
        "Phishing campaign, 14 recipients, nobody clicked per proxy logs.",
    ),
    Issue(
        "Laptop setup for a new starter next Monday",
        "We have a new colleague starting on Monday in the sales team. Please prepare a "
        "laptop, accounts and a phone.",
        "What is the new colleague's full name and who is the line manager?",
        "The laptop is imaged and the accounts are created; everything is at the front "
        "desk for Monday.",
        "Used the sales image v12; phone from stock.",
    ),
    Issue(
        "Wi-Fi in meeting room Atlas keeps dropping",
        "During meetings in room Atlas the Wi-Fi drops every few minutes for everyone.",
        "Does it happen at particular times, and do you know if people in the rooms next "
        "door have the same problem?",
        "The access point in Atlas had a failing power injector; it was replaced and the "
        "connection is stable now.",
        "AP-3F-07 rebooting every few minutes (PoE injector).",
    ),
    Issue(
        "Excel crashes when opening a large workbook",
        "Excel closes without a message when I open the quarterly forecast workbook (about 80 MB).",
        "Could you tell me whether other large workbooks open, and send the file's path?",
        "The 32-bit Office ran out of memory; I installed the 64-bit version and the "
        "workbook opens now.",
        "Migrate the finance team to 64-bit Office proactively.",
    ),
    Issue(
        "Lost my MFA app with my old phone",
        "I switched phones and the authenticator app didn't move over. Now I can't pass "
        "the second factor.",
        "Do you still have the old phone, even if it's reset?",
        "I reset your MFA registration; at the next login you'll be asked to set up the "
        "app on the new phone.",
        "Identity verified via manager; MFA methods cleared.",
    ),
    Issue(
        "Invoices stuck in the ERP approval queue",
        "About twenty supplier invoices have been 'pending approval' for three days, "
        "although they were approved.",
        "Can you give me two or three invoice numbers that are stuck?",
        "The approval job had stopped after a failed run. It's restarted and the "
        "invoices went through.",
        "Scheduler job died on a deadlock; added alerting.",
    ),
    Issue(
        "Contact form on the website returns error 500",
        "Customers tell us the contact form on the website shows an error when they submit it.",
        "Does it fail every time or only with attachments?",
        "The form's mail relay credentials had expired; they're renewed and the form works again.",
        "SMTP auth failure in the web logs since the 1st.",
    ),
    Issue(
        "Docking station does not charge the laptop",
        "When the laptop is on the docking station the screens work but the battery "
        "doesn't charge.",
        "Which dock model is it (label underneath), and is it the 90 W power supply?",
        "The dock had the wrong power supply. I swapped it for a 130 W one; charging works.",
        "Docks in the east wing got the 90 W PSUs by mistake; check the others.",
    ),
    Issue(
        "Mailbox full, cannot send e-mail",
        "I get 'mailbox full' warnings and now my messages stay in the outbox.",
        "Would you like us to enable the archive, or do you prefer to clean up first?",
        "I enabled the online archive with a two-year policy; you have plenty of space again.",
        "Archive policy applied; mailbox was at 49.8 of 50 GB.",
    ),
    Issue(
        "Please install Visio",
        "I need Microsoft Visio for process diagrams in the new project.",
        "Is Visio Plan 1 (web) enough, or do you need the desktop app?",
        "Visio is installed from the company portal; it's in your start menu.",
        "Licence assigned from the project cost centre.",
    ),
    Issue(
        "CRM export to CSV times out",
        "Exporting the customer list from the CRM stops with a timeout after a minute.",
        "How many records are you exporting, roughly, and with which filters?",
        "Large exports now run in the background and are mailed to you when done.",
        "Raised the export to the async job queue; vendor ticket opened.",
    ),
    Issue(
        "Badge doesn't open the garage door",
        "My badge works at the main entrance but not at the garage door since Monday.",
        "What is the number printed on the back of your badge?",
        "The garage zone was missing from your badge profile; it's added.",
        "Access profile rebuilt after the HR department move.",
    ),
    Issue(
        "Meeting room display shows 'offline'",
        "The room booking display outside Orion shows 'offline' and we can't book from it.",
        "Is the display's screen on, and does it show a network icon?",
        "The display's device certificate had expired; it was re-enrolled and shows the "
        "bookings again.",
        "Renew the other displays' certificates before they expire in the same week.",
    ),
    Issue(
        "Coffee spilled on the keyboard",
        "I spilled coffee on my laptop keyboard; several keys stick and the space bar "
        "doesn't work.",
        "Could you bring the laptop to the service desk on the 2nd floor today?",
        "The keyboard was replaced under the accidental damage cover.",
        "Accidental damage claim filed with the vendor.",
    ),
    Issue(
        "Restore a deleted project folder",
        "I accidentally deleted the 'Q3 campaign' folder on the marketing share "
        "yesterday afternoon.",
        "Do you know roughly when it was deleted and what the full path was?",
        "The folder is restored from last night's backup to its original place.",
        "Restored from the 02:00 snapshot; nothing newer existed.",
    ),
    Issue(
        "External meeting invites show the wrong time",
        "Invites from a partner in New York appear one hour off in my calendar.",
        "Could you forward one of the invites so I can check its time zone data?",
        "The partner's invites carry an outdated time zone definition. I set your "
        "calendar to use the server's definitions; the times are right now.",
        "Legacy VTIMEZONE from the partner's old scheduling tool.",
    ),
]

ACCESS_SYSTEMS = [
    ("the GitHub organisation", "write access to the platform repositories"),
    ("Salesforce", "a Sales Cloud licence"),
    ("the Finance shared drive", "read access to the reporting folder"),
    ("the AWS production account", "read-only console access"),
    ("Jira project PAY", "the developer role"),
    ("the HR system", "the manager view for my team"),
    ("Tableau", "a creator licence"),
    ("my laptop", "local administrator rights"),
    ("the support@ shared mailbox", "send-as access"),
    ("Figma", "an editor seat"),
    ("the payroll reports", "read access"),
    ("the data warehouse", "an analyst account"),
]
ACCESS_REASONS = [
    "for the quarterly reporting project",
    "because I moved to the platform team",
    "to cover for a colleague on parental leave",
    "to onboard a new customer next week",
    "for the audit preparation",
]

ACKNOWLEDGEMENTS = [
    "Hi {first}, thanks for reporting this. I'm looking into it now.",
    "Hi {first}, thank you — I've picked this up and will get back to you shortly.",
    "Hello {first}, thanks for the details. I'm on it.",
]
QUESTION_OPENERS = ["Hi {first}, ", "Thanks {first}. ", "Hello {first}, quick question: "]
REQUESTER_REPLIES = [
    "Here you go: {answer}",
    "Sure — {answer}",
    "Thanks for getting back to me. {answer}",
]
REQUESTER_ANSWERS = [
    "it happens every time, on the office network and at home.",
    "it only started this week; I attached a screenshot.",
    "yes, I tried that and it didn't change anything.",
    "it's the one I got last year, I haven't changed anything since.",
]
FOLLOW_UPS = [
    "Any update on this? It's blocking my work.",
    "Just checking in — is there anything you need from me?",
    "This is getting urgent for us, could someone have a look?",
]
REOPENS = [
    "Unfortunately it's happening again since this morning.",
    "It worked for a day, but the problem is back.",
]
THANKS = [
    "Works now, thank you!",
    "Confirmed, all good. Thanks for the quick help.",
    "Perfect, thanks a lot.",
]
DUPLICATE_CLOSE = (
    "Hi {first}, this is the same problem as your earlier ticket, which we're already "
    "working on, so I'm closing this one. We'll update you there."
)


def ticket_texts(*, access: bool) -> list[tuple[str, str]]:
    """Titles and descriptions for bulk tickets: access requests or service desk issues."""
    if not access:
        return [(issue.title, issue.description) for issue in ISSUES]
    return [
        (f"Access to {system}", f"Hi, I need {level} on {system} {reason}. Thanks!")
        for system, level in ACCESS_SYSTEMS
        for reason in ACCESS_REASONS
    ]


# --- Plans ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Person:
    username: str
    first_name: str
    company: str  # the e-mail domain: colleagues watch and approve each other's tickets
    role: str  # a Role, as the database has it


@dataclass(frozen=True)
class Step:
    """One thing that happens to a ticket, ``after`` its creation.

    ``kind`` is ``assign`` (target: the agent), ``comment`` / ``note`` (target: the
    body; a note is internal), ``transition`` (target: the stage name) or ``watch``
    (target: the watcher). ``actor`` None is the system (mail, automation).
    """

    after: timedelta
    kind: str
    actor: str | None
    target: str


@dataclass
class TicketPlan:
    workflow: str
    title: str
    description: str
    priority: Priority
    source: Source
    requester: str
    creator: str | None  # who opens it: the requester, or None for mail (the system)
    steps: list[Step] = field(default_factory=list)
    created: datetime = field(default_factory=timezone.now)  # set by Planner._date

    def at(self, hours: float, kind: str, actor: str | None, target: str) -> None:
        self.steps.append(Step(timedelta(hours=hours), kind, actor, target))


# Where the tickets end up: most are done, a realistic share is in progress.
SERVICE_DESK_FATES = {
    "New": 5,
    "Open": 9,
    "Waiting on requester": 5,
    "Resolved": 9,
    "Closed": 72,
}
ACCESS_FATES = {
    "Submitted": 4,
    "Awaiting approval": 9,
    "Provisioning": 6,
    "Granted": 9,
    "Closed": 57,
    "Rejected": 15,
}
PRIORITY_WEIGHTS = {Priority.LOW: 20, Priority.NORMAL: 55, Priority.HIGH: 18, Priority.URGENT: 7}
# Median hours to the first response, by priority (the spread is log-normal).
RESPONSE_HOURS = {
    Priority.URGENT: 0.25,
    Priority.HIGH: 1.0,
    Priority.NORMAL: 3.0,
    Priority.LOW: 8.0,
}
DEMO_DAYS = 90  # the reports' widest preset range: their charts have a full one


def _pick(rng: random.Random, weights: Mapping[K, int]) -> K:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _hours(rng: random.Random, median: float, spread: float = 0.8) -> float:
    """A log-normal duration: most near the median, a long tail of slow ones."""
    return max(0.05, rng.lognormvariate(0, spread) * median)


class Planner:
    """Plans the lives of demo tickets; deterministic for a given ``random.Random``."""

    def __init__(self, rng: random.Random, people: Sequence[Person]):
        self.rng = rng
        self.requesters = [p for p in people if p.role == Role.REQUESTER]
        self.agents = [p.username for p in people if p.role == Role.AGENT]
        # A few agents take most of the work, as in every real team.
        self.agent_weights = [max(1, 5 - n) for n in range(len(self.agents))]

    def agent(self) -> str:
        return self.rng.choices(self.agents, weights=self.agent_weights)[0]

    def colleague(self, of: Person) -> Person | None:
        others = [p for p in self.requesters if p.company == of.company and p != of]
        return self.rng.choice(others) if others else None

    def plan(self, fate: str, workflow: str) -> TicketPlan:
        requester = self.rng.choice(self.requesters)
        priority = Priority(_pick(self.rng, PRIORITY_WEIGHTS))
        if workflow == ACCESS_REQUESTS:
            plan = self._access(requester, priority, fate)
        else:
            plan = self._service_desk(requester, priority, fate)
        self._date(plan, fate)
        return plan

    # The two lifecycles. `t` is hours since creation.
    def _service_desk(self, requester: Person, priority: Priority, fate: str) -> TicketPlan:
        rng, first = self.rng, requester.first_name
        issue = rng.choice(ISSUES)
        source = Source(_pick(rng, {"EMAIL": 45, "WEB": 30, "FORM": 15, "API": 10}))
        plan = TicketPlan(
            workflow=SERVICE_DESK,
            title=issue.title,
            description=issue.description,
            priority=priority,
            source=source,
            requester=requester.username,
            creator=None if source == Source.EMAIL else requester.username,
        )
        colleague = self.colleague(requester)
        if colleague and rng.random() < 0.2:  # a colleague in copy of the first mail
            plan.at(0.01, "watch", None, colleague.username)
        if priority in {Priority.HIGH, Priority.URGENT} and rng.random() < 0.6:
            plan.at(0.05, "watch", DISPATCHER, DISPATCHER)
        t = _hours(rng, RESPONSE_HOURS[priority])
        if fate == "New":
            if rng.random() < 0.4:
                plan.at(t, "comment", requester.username, rng.choice(FOLLOW_UPS))
            return plan
        agent = self.agent()
        plan.at(t, "assign", rng.choice([agent, DISPATCHER]), agent)
        if fate == "Closed" and rng.random() < 0.06:  # a duplicate, closed straight away
            plan.at(t + 0.1, "comment", agent, DUPLICATE_CLOSE.format(first=first))
            plan.at(t + 0.11, "transition", agent, "Closed")
            return plan
        plan.at(t + 0.01, "transition", agent, "Open")
        t = self._first_response(
            plan, t + 0.02, fate=fate, requester=requester, agent=agent, issue=issue
        )
        if fate in {"Open", "Waiting on requester"}:
            return plan
        t = self._resolve(plan, t, requester=requester, agent=agent, issue=issue)
        if fate == "Resolved":
            return plan
        t += _hours(rng, 30, 0.6)
        if rng.random() < 0.45:  # the requester confirms; otherwise the desk auto-closes
            plan.at(t, "comment", requester.username, rng.choice(THANKS))
            plan.at(t + 0.01, "transition", requester.username, "Closed")
        else:
            plan.at(max(t, 72.0), "transition", None, "Closed")
        return plan

    def _first_response(
        self, plan: TicketPlan, t: float, *, fate: str, requester: Person, agent: str, issue: Issue
    ) -> float:
        """The agent answers: a question (and the wait for the reply) or an acknowledgement,
        then works on it. Returns the time reached."""
        rng, first = self.rng, requester.first_name
        if fate == "Waiting on requester" or rng.random() < 0.25:
            opener = rng.choice(QUESTION_OPENERS).format(first=first)
            plan.at(t, "comment", agent, opener + issue.question)
            plan.at(t + 0.01, "transition", agent, "Waiting on requester")
            if fate == "Waiting on requester":
                return t
            t += _hours(rng, 5, 1.0)
            answer = rng.choice(REQUESTER_ANSWERS)
            reply = rng.choice(REQUESTER_REPLIES).format(answer=answer)
            plan.at(t, "comment", requester.username, reply)
            plan.at(t + 0.2, "transition", agent, "Open")
        else:
            plan.at(t, "comment", agent, rng.choice(ACKNOWLEDGEMENTS).format(first=first))
        t += _hours(rng, 6, 1.0)
        if rng.random() < 0.5:
            plan.at(t, "note", agent, issue.note)
        return t

    def _resolve(
        self, plan: TicketPlan, t: float, *, requester: Person, agent: str, issue: Issue
    ) -> float:
        """The fix, and now and then the problem coming back once. Returns the time."""
        rng, first = self.rng, requester.first_name
        t += _hours(rng, 4, 1.0)
        plan.at(t, "comment", agent, f"Hi {first}, {issue.fix[0].lower()}{issue.fix[1:]}")
        plan.at(t + 0.01, "transition", agent, "Resolved")
        if rng.random() < 0.07:  # it came back: the requester reopens
            t += _hours(rng, 20)
            plan.at(t, "comment", requester.username, rng.choice(REOPENS))
            plan.at(t + 0.01, "transition", requester.username, "Open")
            t += _hours(rng, 6)
            plan.at(t, "note", agent, "Second occurrence; applied the fix again and monitoring.")
            plan.at(t + 0.01, "comment", agent, f"Hi {first}, I applied the fix again.")
            plan.at(t + 0.02, "transition", agent, "Resolved")
        return t

    def _access_request(
        self, requester: Person, priority: Priority
    ) -> tuple[TicketPlan, str, str, Person]:
        """An access request as submitted: the plan, the system, the level and the
        requester's manager (who watches it)."""
        rng = self.rng
        system, level = rng.choice(ACCESS_SYSTEMS)
        manager = self.colleague(requester) or requester
        plan = TicketPlan(
            workflow=ACCESS_REQUESTS,
            title=f"Access to {system}",
            description=(
                f"Hi, I need {level} on {system} {rng.choice(ACCESS_REASONS)}. My manager "
                f"is {manager.first_name}."
            ),
            priority=Priority.HIGH if priority == Priority.URGENT else priority,
            source=Source(_pick(rng, {"FORM": 70, "WEB": 20, "EMAIL": 10})),
            requester=requester.username,
            creator=requester.username,
        )
        if plan.source == Source.EMAIL:
            plan.creator = None
        if manager != requester:  # the manager follows the request
            plan.at(0.01, "watch", None, manager.username)
        return plan, system, level, manager

    def _access(self, requester: Person, priority: Priority, fate: str) -> TicketPlan:
        rng, first = self.rng, requester.first_name
        plan, system, level, manager = self._access_request(requester, priority)
        t = _hours(rng, 2)
        if fate == "Submitted":
            return plan
        agent = self.agent()
        plan.at(t, "assign", agent, agent)
        plan.at(t + 0.01, "note", agent, f"Approval requested from {manager.first_name}.")
        plan.at(
            t + 0.02,
            "comment",
            agent,
            f"Hi {first}, we've asked {manager.first_name} to approve {level} on {system}.",
        )
        plan.at(t + 0.03, "transition", agent, "Awaiting approval")
        if fate == "Awaiting approval":
            return plan
        t += _hours(rng, 18, 1.0)
        if fate == "Rejected":
            plan.at(t, "note", agent, f"{manager.first_name} declined: not needed for the role.")
            plan.at(
                t + 0.01,
                "comment",
                agent,
                f"Hi {first}, {manager.first_name} didn't approve this request, so I'm "
                "closing it. Please talk to them if your tasks change.",
            )
            plan.at(t + 0.02, "transition", agent, "Rejected")
            return plan
        plan.at(t, "note", agent, f"Approved by {manager.first_name} by e-mail.")
        plan.at(t + 0.01, "transition", agent, "Provisioning")
        if fate == "Provisioning":
            return plan
        t += _hours(rng, 4)
        plan.at(t, "comment", agent, f"Hi {first}, you now have {level} on {system}.")
        plan.at(t + 0.01, "transition", agent, "Granted")
        if fate == "Granted":
            return plan
        t += _hours(rng, 24, 0.6)
        if rng.random() < 0.4:
            plan.at(t, "comment", requester.username, rng.choice(THANKS))
            plan.at(t + 0.01, "transition", requester.username, "Closed")
        else:
            plan.at(max(t, 72.0), "transition", None, "Closed")
        return plan

    def _date(self, plan: TicketPlan, fate: str) -> None:
        """Place the ticket in the last ``DEMO_DAYS`` days so that its last step is past.

        Done tickets spread over the whole window; of the tickets still in progress, two
        in five had their last step recently and the others have waited days or weeks
        (every backlog has a tail, which the backlog report's age buckets show; and the
        volume report's days stay alike rather than peak in the last three).
        """
        last = max((s.after for s in plan.steps), default=timedelta(0))
        window = timedelta(days=DEMO_DAYS)
        done = fate in {"Closed", "Rejected"}
        if done:
            idle = (window - last) * self.rng.random() if last < window else timedelta(0)
        elif self.rng.random() < 0.6:
            idle = timedelta(days=self.rng.uniform(2, 30))
        else:
            idle = timedelta(hours=min(_hours(self.rng, 10, 1.0), 60))
        if last + idle > window:  # a very slow ticket: squeeze its steps into the window
            scale = (window * 0.95) / (last + idle)
            plan.steps = [Step(s.after * scale, s.kind, s.actor, s.target) for s in plan.steps]
            last, idle = last * scale, idle * scale
        plan.created = timezone.now() - (last + idle + timedelta(minutes=5))


def fates(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """(workflow, final stage) for ``count`` tickets: every stage of both workflows first,
    so that even a small demo shows each one, then drawn by the weights above."""
    chosen = [(SERVICE_DESK, s) for s in SERVICE_DESK_FATES] + [
        (ACCESS_REQUESTS, s) for s in ACCESS_FATES
    ]
    chosen = chosen[:count]
    for _ in range(count - len(chosen)):
        if rng.random() < 0.75:
            chosen.append((SERVICE_DESK, _pick(rng, SERVICE_DESK_FATES)))
        else:
            chosen.append((ACCESS_REQUESTS, _pick(rng, ACCESS_FATES)))
    return chosen


# --- Running the plans ------------------------------------------------------------------
class _Clock:
    """Maps the real times the services stamp to the planned times of the demo.

    ``mark(planned)`` is called right before each service call. Whatever that call
    stamps lies between its mark and the next one, so a real timestamp maps to the
    planned time of the last mark at or before it.
    """

    def __init__(self) -> None:
        self._real: list[datetime] = []
        self._planned: list[datetime] = []

    def mark(self, planned: datetime) -> None:
        self._real.append(timezone.now())
        self._planned.append(planned)

    @overload
    def planned(self, real: datetime) -> datetime: ...
    @overload
    def planned(self, real: None) -> None: ...
    def planned(self, real: datetime | None) -> datetime | None:
        if real is None:
            return None
        index = bisect_right(self._real, real) - 1
        if index < 0:
            raise ValueError(f"{real} was stamped before the demo started.")
        return self._planned[index]


def demo_people() -> list[Person]:
    return [
        Person(username, first, email.split("@")[1], role)
        for username, email, role, first, _last in DEMO_USERS
    ]


def demo_requester_usernames() -> list[str]:
    return [u[0] for u in DEMO_USERS if u[2] == Role.REQUESTER]


def demo_tickets_exist() -> bool:
    return Ticket.objects.filter(requester__username__in=demo_requester_usernames()).exists()


def demo_workflows() -> dict[str, tuple[Workflow, dict[str, Stage]]] | None:
    """The two demo workflows with their stages by name; None when they were changed so
    much that the plans no longer fit (the demo then skips tickets rather than guess)."""
    expected = {SERVICE_DESK: set(SERVICE_DESK_FATES), ACCESS_REQUESTS: set(ACCESS_FATES)}
    found = {}
    for name, names in expected.items():
        workflow = Workflow.objects.filter(name=name, is_active=True).first()
        if workflow is None:
            return None
        stages = {s.name: s for s in workflow.stages.all()}
        if not names <= set(stages):
            return None
        found[name] = (workflow, stages)
    return found


class WorkflowsChangedError(Exception):
    """The demo workflows were edited so that the demo's plans no longer fit them."""


@transaction.atomic
def build_demo_tickets(*, count: int, seed: int) -> Counter[str]:
    """Create ``count`` demo tickets through the services and date them into the past.

    Returns how many tickets ended in each "workflow: stage". One transaction: the demo
    appears whole or not at all, and a second run sees the tickets and skips.
    """
    workflows = demo_workflows()
    if workflows is None:
        raise WorkflowsChangedError(
            f"the {SERVICE_DESK!r} and {ACCESS_REQUESTS!r} workflows don't have their "
            "demo stages any more"
        )
    rng = random.Random(seed)  # noqa: S311 -- demo data, not secrets
    people = demo_people()
    users = {u.username: u for u in User.objects.filter(username__in=[p.username for p in people])}
    # Roles as they are in the database: a demo username may belong to someone else.
    people = [replace(p, role=users[p.username].role) for p in people]
    planner = Planner(rng, people)
    plans = [planner.plan(fate, workflow) for workflow, fate in fates(rng, count)]
    # Ticket numbers grow with time, as they would have in a real desk.
    plans.sort(key=lambda p: p.created)

    clock = _Clock()
    ticket_ids = []
    outcome: Counter[str] = Counter()
    for plan in plans:
        workflow, stages = workflows[plan.workflow]
        clock.mark(plan.created)
        ticket = services.ticket_create(
            requester=users[plan.requester],
            title=plan.title,
            description=plan.description,
            priority=plan.priority,
            workflow=workflow,
            source=plan.source,
            actor=users[plan.creator] if plan.creator else None,
        )
        if tags := demo_tags(plan.title, plan.workflow):
            ticket = services.ticket_tags_set(ticket=ticket, tags=tags, actor=None)
        for step in plan.steps:
            clock.mark(plan.created + step.after)
            ticket = _run(step, ticket, users, stages)
        ticket_ids.append(ticket.pk)
        outcome[f"{plan.workflow}: {ticket.stage.name}"] += 1
    _backdate(ticket_ids, clock)
    return outcome


# Words of a demo ticket's title -> the tags it gets (issue 17): the list and its "By tag"
# filter have something to show on first run.
DEMO_TAGS = {
    "vpn": "VPN",
    "wi-fi": "network",
    "drive": "network",
    "outlook": "e-mail",
    "e-mail": "e-mail",
    "mailbox": "e-mail",
    "printer": "hardware",
    "laptop": "hardware",
    "monitor": "hardware",
    "docking": "hardware",
    "keyboard": "hardware",
    "password": "accounts",
    "mfa": "accounts",
    "log in": "accounts",
    "suspicious": "security",
    "credentials": "security",
    "new starter": "onboarding",
}


def demo_tags(title: str, workflow: str) -> list[str]:
    text = title.lower()
    tags = {tag for word, tag in DEMO_TAGS.items() if word in text}
    if workflow == ACCESS_REQUESTS:
        tags.add("access")
    return sorted(tags)


def _run(step: Step, ticket: Ticket, users: dict[str, User], stages: dict[str, Stage]) -> Ticket:
    actor = users[step.actor] if step.actor else None
    if step.kind == "assign":
        return services.ticket_assign(ticket=ticket, assignee=users[step.target], actor=actor)
    if step.kind == "transition":
        return services.ticket_transition(ticket=ticket, to_stage=stages[step.target], actor=actor)
    if step.kind == "watch":
        services.ticket_watch(ticket=ticket, user=users[step.target], actor=actor)
        return ticket
    if step.kind in {"comment", "note"} and actor is not None:
        services.comment_create(
            ticket=ticket, author=actor, body=step.target, is_internal=step.kind == "note"
        )
        return ticket
    raise ValueError(f"cannot run step {step!r}")


def _backdate(ticket_ids: Iterable[int], clock: _Clock) -> None:
    ids = list(ticket_ids)
    tickets = list(Ticket.objects.filter(pk__in=ids))
    ticket_fields = ["created", "updated", "first_response_at", "resolved_at", "closed_at"]
    for ticket in tickets:
        for name in ticket_fields:
            setattr(ticket, name, clock.planned(getattr(ticket, name)))
    Ticket.objects.bulk_update(tickets, ticket_fields, batch_size=500)
    _backdate_created(Comment, ids, clock)
    _backdate_created(HistoryLog, ids, clock)
    _backdate_created(TicketWatcher, ids, clock)


_Created = TypeVar("_Created", Comment, HistoryLog, TicketWatcher)


def _backdate_created(model: type[_Created], ids: list[int], clock: _Clock) -> None:
    rows = list(model.objects.filter(ticket_id__in=ids).only("pk", "created"))
    for row in rows:
        row.created = clock.planned(row.created)
    model.objects.bulk_update(rows, ["created"], batch_size=1000)


# --- Teams --------------------------------------------------------------------------------
# name, assignment mode, members (the first is the lead), routed workflow (None: default)
DEMO_TEAMS: list[tuple[str, str, list[str], str | None]] = [
    ("Service desk", "round_robin", ["alice", "bob", "priya"], None),
    ("Access management", "least_open", ["marcus", "sofia", "kenji"], ACCESS_REQUESTS),
]


def ensure_demo_teams() -> str:
    """The demo's two teams (a default one taking everything by round-robin, one the
    access requests are routed to by fewest open tickets) and the rule between them,
    unless a team exists; the demo tickets already there go to the team the rule gives
    them (written directly, like the backdating: they are the desk's past). Returns the
    line ``seed_demo`` prints."""
    from nixflow.models import AssignmentMode, Team
    from nixflow.services import routing_rule_create, team_create

    if Team.objects.exists():
        return "Demo teams created: none (teams exist)"
    users = {u.username: u for u in User.objects.filter(role=Role.AGENT)}
    lines = []
    with transaction.atomic():
        for name, mode, members, workflow_name in DEMO_TEAMS:
            rows = [
                {"user": users[username], "is_lead": n == 0}
                for n, username in enumerate(members)
                if username in users
            ]
            team = team_create(
                actor=None,
                data={
                    "name": name,
                    "is_default": workflow_name is None,
                    "assignment_mode": AssignmentMode(mode),
                    "max_open_per_agent": 25,
                    "reassign_when_away": True,
                },
                members=rows,
            )
            workflow = (
                Workflow.objects.filter(name=workflow_name).first() if workflow_name else None
            )
            if workflow is not None:
                routing_rule_create(
                    actor=None,
                    data={"name": f"{workflow.name} to {name}", "team": team, "workflow": workflow},
                )
                Ticket.objects.filter(workflow=workflow, team=None).update(team=team)
            lines.append(
                f"{name} ({team.get_assignment_mode_display().lower()}: {', '.join(members)})"
            )
        default = Team.objects.get(is_default=True)
        Ticket.objects.filter(team=None).update(team=default)
    return "Demo teams created: " + "; ".join(lines)
