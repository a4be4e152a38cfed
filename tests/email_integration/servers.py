"""Real mail servers on loopback for the tests: Dovecot (IMAP, POP3) and aiosmtpd (SMTP).

Dovecot runs as a private instance from its own config in a temp dir, in the
foreground. What it needs to run unprivileged here: mail stored as uid 65534, a
world-searchable directory, short socket paths, and its TLS ports 993/995 switched off.
Users get a Maildir each; a test drops messages into it as a delivery agent would.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

from aiosmtpd.controller import Controller

MAIL_UID = 65534
PASSWORD = "secret-pass"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_greeting(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(64).startswith((b"* OK", b"+OK")):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"Dovecot did not answer on port {port}")


@dataclass
class Dovecot:
    root: Path
    imap_port: int
    pop3_port: int
    process: subprocess.Popen

    def maildir(self, user: str) -> Path:
        path = self.root / "home" / user / "Maildir"
        for sub in ("cur", "new", "tmp"):
            (path / sub).mkdir(parents=True, exist_ok=True)
        for folder in (self.root / "home" / user, path, *(path / s for s in ("cur", "new", "tmp"))):
            os.chown(folder, MAIL_UID, MAIL_UID)
        return path

    def deliver(self, user: str, raw: bytes) -> None:
        """Drop a message into the user's Maildir/new, as a delivery agent does."""
        maildir = self.maildir(user)
        name = f"{time.time_ns()}.{uuid.uuid4().hex}.test"
        tmp = maildir / "tmp" / name
        tmp.write_bytes(raw)
        os.chown(tmp, MAIL_UID, MAIL_UID)
        tmp.rename(maildir / "new" / name)

    def new_user(self) -> str:
        user = f"u{uuid.uuid4().hex[:10]}"
        self.maildir(user)
        return user

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.root, ignore_errors=True)


CONFIG = """
protocols = imap pop3
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
instance_name = nixflow-test-{name}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:~/Maildir
pop3_uidl_format = %08Xu%08Xv
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={uid} gid={uid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {pop3_port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
"""


def start_dovecot(template: str = CONFIG, files: Mapping[str, str] | None = None) -> Dovecot:
    """A private Dovecot from ``template`` (``CONFIG``'s placeholders), with ``files``
    (name → text, formatted like the template) written next to its config first."""
    if shutil.which("dovecot") is None:
        raise RuntimeError("Dovecot is not installed: run scripts/mail_deps.sh (make test does).")
    for _attempt in range(5):
        # Under /tmp (world-searchable), short: unix socket paths must stay < ~100 chars.
        root = Path(tempfile.mkdtemp(prefix="dc", dir="/tmp"))
        root.chmod(0o755)
        (root / "home").mkdir(mode=0o755)
        imap_port, pop3_port = free_port(), free_port()
        values = {
            "root": root,
            "name": root.name,
            "password": PASSWORD,
            "uid": MAIL_UID,
            "imap_port": imap_port,
            "pop3_port": pop3_port,
        }
        for name, text in (files or {}).items():
            (root / name).write_text(text.format(**values))
            (root / name).chmod(0o644)
        config = root / "dovecot.conf"
        config.write_text(template.format(**values))
        process = subprocess.Popen(
            ["dovecot", "-F", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for_greeting(imap_port)
            _wait_for_greeting(pop3_port)
        except RuntimeError:
            process.kill()
            process.wait()
            shutil.rmtree(root, ignore_errors=True)
            continue  # a port was taken meanwhile (exit 89): try others
        return Dovecot(root, imap_port, pop3_port, process)
    raise RuntimeError("Dovecot did not start on loopback")


@dataclass
class CapturingHandler:
    """aiosmtpd handler keeping every message it accepts."""

    messages: list = field(default_factory=list)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        self.messages.append(
            (
                envelope.mail_from,
                list(envelope.rcpt_tos),
                message_from_bytes(envelope.content, policy=default_policy),
            )
        )
        return "250 OK"


@dataclass
class SMTPServer:
    host: str
    port: int
    handler: CapturingHandler
    controller: Controller

    @property
    def messages(self) -> list:
        return self.handler.messages


def start_smtp() -> SMTPServer:
    handler = CapturingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, server_hostname="localhost")
    controller.start()
    return SMTPServer("127.0.0.1", port, handler, controller)


def running_dovecot() -> Iterator[Dovecot]:
    server = start_dovecot()
    try:
        yield server
    finally:
        server.stop()
