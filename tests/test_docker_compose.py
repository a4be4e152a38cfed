"""The container deployment: docker-compose.yml, the Dockerfile and .dockerignore.

No Docker engine runs on these machines, so the files are parsed and checked for what
the schema guard and a deploy without downtime depend on: the pre-deploy `migrate` runs,
and must succeed, before any process that refuses a drifted schema starts; the
post-deploy step runs only once the new web, worker and beat are healthy; production
settings get everything they require; and the commands name modules, apps and
management commands that exist.
"""

from __future__ import annotations

import ast
import base64
import fnmatch
import importlib.util
import os
import re
import secrets
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from celery import Celery
from celery.app.utils import find_app
from django.conf import settings

REPO = Path(__file__).resolve().parent.parent
INFRASTRUCTURE = ("postgres", "redis")
APP_PROCESSES = ("web", "worker", "beat", "relay")  # long-running; each refuses a drifted schema
POST_DEPLOY = "migrate-post-deploy"  # one-shot contract step after the rollout
RUNS_THE_CODE = ("migrate", *APP_PROCESSES, POST_DEPLOY)
# What nixflow/settings.py raises ImproperlyConfigured without when NIXFLOW_ENV=production.
PRODUCTION_REQUIRED = ("SECRET_KEY", "NIXFLOW_SECRET_KEYS", "ALLOWED_HOSTS", "DATABASE_URL")
# What an operator exports before `docker compose up`: only the variable without a default.
OPERATOR_ENV = {
    "SECRET_KEY": secrets.token_urlsafe(50),
    "NIXFLOW_SECRET_KEYS": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
}

_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


# --- Helpers --------------------------------------------------------------------------


def interpolate(value: str, environ: dict[str, str]) -> str:
    """Resolve ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}`` the way Compose does
    (``$$`` is a literal ``$``); a missing ``:?`` variable raises LookupError."""

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        current = environ.get(name)
        unset = current is None or (current == "" and op is not None and op.startswith(":"))
        if unset and op and op.endswith("?"):
            raise LookupError(f"{name}: {arg}")
        if unset and op and op.endswith("-"):
            return arg
        return current or ""

    escaped = value.replace("$$", "\0")
    return _VARIABLE.sub(substitute, escaped).replace("\0", "$")


def argv(command: str | list[Any]) -> list[str]:
    """A Compose ``command`` or healthcheck string as the argument list it becomes."""
    return shlex.split(command) if isinstance(command, str) else [str(arg) for arg in command]


def shell_steps(command: str | list[Any]) -> list[list[str]]:
    """The commands of an ``sh -c "a && b"`` command, or the single command it is."""
    args = argv(command)
    if args[:2] != ["sh", "-c"]:
        return [args]
    script = args[2]
    # Only `&&`: with `;` or `||` a failed migrate could still exit 0 and start the rest.
    assert ";" not in script, script
    assert "||" not in script, script
    return [shlex.split(step) for step in script.split("&&")]


def environment(service: dict[str, Any], environ: dict[str, str]) -> dict[str, str]:
    raw = service.get("environment", {})
    assert isinstance(raw, dict), "environment is written as a mapping"
    return {name: interpolate(str(value), environ) for name, value in raw.items()}


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """Dependency name -> condition. The short list form means ``service_started``."""
    raw = service.get("depends_on", {})
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {name: options["condition"] for name, options in raw.items()}


def transitive_dependencies(services: dict[str, Any], name: str) -> set[str]:
    seen: set[str] = set()
    pending = list(depends_on(services[name]))
    while pending:
        dependency = pending.pop()
        if dependency not in seen:
            seen.add(dependency)
            pending.extend(depends_on(services[dependency]))
    return seen


def healthcheck_command(service: dict[str, Any]) -> list[str]:
    test = service["healthcheck"]["test"]
    if isinstance(test, str):
        return shlex.split(test)
    assert test[0] in {"CMD", "CMD-SHELL"}, test
    return shlex.split(test[1]) if test[0] == "CMD-SHELL" else [str(arg) for arg in test[1:]]


def celery_app_name(args: list[str]) -> str:
    assert args[0] == "celery", args
    return args[args.index("-A") + 1]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in (REPO / "Dockerfile").read_text().splitlines():
        if line.strip().startswith("#") or not line.strip():
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).strip().partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def dockerfile_arguments(keyword: str) -> list[str]:
    return [args for name, args in dockerfile_instructions() if name == keyword]


def dockerignore_patterns() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def dockerignored(path: str) -> bool:
    """Whether .dockerignore keeps ``path`` (or a folder holding it) out of the context;
    the last matching pattern wins, so ``!pattern`` re-includes."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for line in dockerignore_patterns():
        negated = line.startswith("!")
        pattern = line.removeprefix("!").strip("/")
        forms = {pattern, pattern.removeprefix("**/")}
        if any(fnmatch.fnmatchcase(c, form) for c in candidates for form in forms):
            excluded = not negated
    return excluded


# --- Fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


# --- docker-compose.yml: the service graph --------------------------------------------


def test_compose_defines_the_database_broker_migrate_job_and_three_app_processes(
    services: dict[str, Any],
) -> None:
    assert set(services) == {*INFRASTRUCTURE, *RUNS_THE_CODE}


def test_migrate_plans_applies_pre_deploy_migrations_then_checks_and_fails_if_any_step_fails(
    services: dict[str, Any],
) -> None:
    assert shell_steps(services["migrate"]["command"]) == [
        ["python", "manage.py", "deploy_plan"],
        ["python", "manage.py", "migrate", "--pre-deploy", "--noinput"],
        ["python", "manage.py", "check", "--deploy"],
    ]
    assert (REPO / "manage.py").is_file()


def test_post_deploy_step_runs_once_the_new_web_worker_and_beat_are_healthy(
    services: dict[str, Any],
) -> None:
    job = services[POST_DEPLOY]
    assert shell_steps(job["command"]) == [
        ["python", "manage.py", "migrate", "--post-deploy", "--noinput"],
        ["python", "manage.py", "check", "--deploy"],
    ]
    assert job["restart"] == "no"
    assert depends_on(job) == {
        "migrate": "service_completed_successfully",
        **dict.fromkeys(APP_PROCESSES, "service_healthy"),
    }
    for name in APP_PROCESSES:
        assert POST_DEPLOY not in transitive_dependencies(services, name)


def test_compose_commands_name_management_commands_and_options_that_exist(
    services: dict[str, Any],
) -> None:
    from django.core.management import get_commands, load_command_class

    commands = get_commands()
    for name in ("migrate", POST_DEPLOY):
        for step in shell_steps(services[name]["command"]):
            assert step[:2] == ["python", "manage.py"], step
            command = load_command_class(commands[step[2]], step[2])
            parser = command.create_parser("manage.py", step[2])
            parser.parse_args(step[3:])  # exits on an unknown option


def test_migrate_is_a_one_shot_job_that_waits_for_a_healthy_postgres(
    services: dict[str, Any],
) -> None:
    # Quoted in the file: YAML 1.1 parsers (PyYAML among them) read a bare `no` as False.
    assert services["migrate"]["restart"] == "no"
    assert depends_on(services["migrate"]) == {"postgres": "service_healthy"}
    assert transitive_dependencies(services, "migrate") == {"postgres"}


@pytest.mark.parametrize("name", APP_PROCESSES)
def test_app_process_starts_only_after_migrate_completed_successfully(
    services: dict[str, Any], name: str
) -> None:
    assert depends_on(services[name]) == {
        "migrate": "service_completed_successfully",
        "postgres": "service_healthy",
        "redis": "service_healthy",
    }
    # Nothing that must be up before migrate finishes can pull the app process up early.
    for earlier in ("migrate", *INFRASTRUCTURE):
        assert name not in transitive_dependencies(services, earlier), earlier


def test_every_other_service_running_the_code_waits_for_migrate(
    services: dict[str, Any],
) -> None:
    # A service added later (flower, a second worker) must not start on a drifted schema.
    built = {name for name, service in services.items() if "build" in service}
    assert built == set(RUNS_THE_CODE)
    for name in built - {"migrate"}:
        assert depends_on(services[name])["migrate"] == "service_completed_successfully"


@pytest.mark.parametrize("name", [*INFRASTRUCTURE, *APP_PROCESSES])
def test_long_running_service_restarts_unless_stopped_and_has_a_healthcheck(
    services: dict[str, Any], name: str
) -> None:
    service = services[name]
    assert service["restart"] == "unless-stopped"
    assert not service["healthcheck"].get("disable", False)
    assert healthcheck_command(service)


def test_postgres_healthcheck_asks_pg_isready_for_the_application_user_over_tcp(
    services: dict[str, Any],
) -> None:
    command = healthcheck_command(services["postgres"])
    assert command[0] == "pg_isready"
    user = services["postgres"]["environment"]["POSTGRES_USER"]
    assert command[command.index("-U") + 1] == user
    assert command[command.index("-h") + 1] == "127.0.0.1"
    assert any(volume.startswith("postgres-data:") for volume in services["postgres"]["volumes"])


def test_redis_healthcheck_pings_redis(services: dict[str, Any]) -> None:
    assert healthcheck_command(services["redis"]) == ["redis-cli", "ping"]


def test_web_is_healthy_only_while_readyz_answers_on_the_port_gunicorn_binds(
    services: dict[str, Any],
) -> None:
    web = services["web"]
    command = healthcheck_command(web)
    assert command[:2] == ["python", "-c"]
    ast.parse(command[2])  # valid Python
    # urlopen raises on a 503, so the probe fails whenever /readyz reports drift.
    assert "urllib.request.urlopen('http://127.0.0.1:8000/readyz'" in command[2]
    args = argv(web["command"])
    assert args[args.index("--bind") + 1] == "0.0.0.0:8000"
    assert "8000:8000" in web["ports"]


@pytest.mark.parametrize("allowed_hosts", [None, "desk.example.com"])
def test_web_healthcheck_host_is_allowed_whatever_the_operator_sets(
    services: dict[str, Any], allowed_hosts: str | None
) -> None:
    environ = dict(OPERATOR_ENV)
    if allowed_hosts:
        environ["ALLOWED_HOSTS"] = allowed_hosts
    hosts = environment(services["web"], environ)["ALLOWED_HOSTS"].split(",")
    assert "127.0.0.1" in hosts
    assert (allowed_hosts or "localhost") in hosts


def test_worker_healthcheck_pings_its_own_node_through_the_broker(
    services: dict[str, Any],
) -> None:
    test = services["worker"]["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL", "the container's shell must expand $HOSTNAME"
    # `$$` stops Compose from interpolating HOSTNAME (empty on the host) at parse time.
    assert healthcheck_command(services["worker"]) == [
        "celery",
        "-A",
        "nixflow",
        "inspect",
        "ping",
        "-d",
        "celery@$$HOSTNAME",
    ]


def test_beat_healthcheck_runs_the_schema_guard(services: dict[str, Any]) -> None:
    assert healthcheck_command(services["beat"]) == [
        "python",
        "manage.py",
        "check",
        "--tag",
        "database",
    ]


def test_beat_keeps_the_guarded_scheduler_from_settings(services: dict[str, Any]) -> None:
    args = argv(services["beat"]["command"])
    assert args[:4] == ["celery", "-A", "nixflow", "beat"]
    assert not [arg for arg in args if arg.startswith(("-S", "--scheduler"))], args
    assert settings.CELERY_BEAT_SCHEDULER == "nixflow.platform.beat:GuardedDatabaseScheduler"


def test_worker_runs_the_nixflow_celery_worker(services: dict[str, Any]) -> None:
    assert argv(services["worker"]["command"])[:4] == ["celery", "-A", "nixflow", "worker"]


def test_named_volumes_are_declared(compose: dict[str, Any], services: dict[str, Any]) -> None:
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/", "~")):
                assert source in compose["volumes"], f"{name}: volume {source} not declared"


# --- docker-compose.yml: the environment ----------------------------------------------


@pytest.mark.parametrize("name", RUNS_THE_CODE)
def test_process_gets_every_setting_production_requires(
    services: dict[str, Any], name: str
) -> None:
    raw = services[name]["environment"]
    assert raw["NIXFLOW_ENV"] == "production"  # literal: no stray shell variable downgrades it
    env = environment(services[name], OPERATOR_ENV)
    for variable in PRODUCTION_REQUIRED:
        assert env.get(variable), f"{name}: {variable} missing"


def test_secret_key_has_no_default_and_compose_refuses_to_start_without_it(
    services: dict[str, Any],
) -> None:
    for name in RUNS_THE_CODE:
        raw = services[name]["environment"]["SECRET_KEY"]
        assert re.fullmatch(r"\$\{SECRET_KEY:\?[^}]+\}", raw), raw
        with pytest.raises(LookupError):
            environment(services[name], {})
        assert environment(services[name], OPERATOR_ENV)["SECRET_KEY"] == OPERATOR_ENV["SECRET_KEY"]


@pytest.mark.parametrize("password", [None, "s3cret-pw"])
def test_database_url_matches_the_postgres_service_and_broker_url_the_redis_service(
    services: dict[str, Any], password: str | None
) -> None:
    environ = {**OPERATOR_ENV, **({"POSTGRES_PASSWORD": password} if password else {})}
    postgres = environment(services["postgres"], environ)
    for name in RUNS_THE_CODE:
        env = environment(services[name], environ)
        database = urlsplit(env["DATABASE_URL"])
        assert database.scheme in {"postgres", "postgresql"}
        assert (database.hostname, database.port) == ("postgres", 5432)
        assert database.username == postgres["POSTGRES_USER"]
        assert database.password == postgres["POSTGRES_PASSWORD"]
        assert database.path == "/" + postgres["POSTGRES_DB"]
        broker = urlsplit(env["CELERY_BROKER_URL"])
        assert (broker.scheme, broker.hostname) == ("redis", "redis")


def test_production_settings_load_and_pass_check_deploy_with_the_compose_environment(
    services: dict[str, Any], tmp_path: Path
) -> None:
    # migrate's second step, minus the schema comparison (that needs the real database).
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        **environment(services["migrate"], OPERATOR_ENV),
        "NIXFLOW_VAR_DIR": str(tmp_path / "var"),
    }
    outcome = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--skip-schema"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr


# --- docker-compose.yml: commands name what exists ------------------------------------


def test_every_built_service_uses_the_dockerfile(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if "build" not in service:
            continue
        build = service["build"]
        if isinstance(build, str):
            build = {"context": build}
        dockerfile = REPO / build["context"] / build.get("dockerfile", "Dockerfile")
        assert dockerfile == REPO / "Dockerfile", name
        assert dockerfile.is_file()


def test_web_command_serves_a_wsgi_application_that_exists(services: dict[str, Any]) -> None:
    args = argv(services["web"]["command"])
    assert args[0] == "gunicorn"
    assert importlib.util.find_spec("gunicorn") is not None
    module, attribute = args[1].split(":")
    # Located, not imported: importing nixflow.wsgi runs the schema guard on the database.
    spec = importlib.util.find_spec(module)
    assert spec is not None
    assert spec.origin is not None
    assert Path(spec.origin) == REPO / "nixflow" / "wsgi.py"
    tree = ast.parse(Path(spec.origin).read_text())
    assigned = {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert attribute in assigned


@pytest.mark.parametrize("name", ["worker", "beat"])
def test_celery_commands_name_the_nixflow_app(services: dict[str, Any], name: str) -> None:
    commands = [argv(services[name]["command"])]
    if name == "worker":
        commands.append(healthcheck_command(services[name]))
    for args in commands:
        app = find_app(celery_app_name(args))  # how `celery -A` resolves it
        assert isinstance(app, Celery)
        assert app.main == "nixflow"
    assert (REPO / "nixflow" / "celery.py").is_file()


# --- Dockerfile and .dockerignore -----------------------------------------------------


def test_image_builds_on_python_311() -> None:
    (base,) = dockerfile_arguments("FROM")
    assert base.startswith("python:3.11"), base


def test_image_runs_as_a_user_it_creates_other_than_root() -> None:
    user = dockerfile_arguments("USER")[-1]
    assert user.split(":")[0] not in {"root", "0"}
    assert any("useradd" in run and run.split()[-1] == user for run in dockerfile_arguments("RUN"))


def test_image_exposes_port_8000() -> None:
    assert "8000" in " ".join(dockerfile_arguments("EXPOSE")).split()


def test_image_installs_the_runtime_dependencies_without_dev_extras() -> None:
    installs = [run for run in dockerfile_arguments("RUN") if "pip install" in run]
    assert installs
    assert any(run.split()[-1] == "." for run in installs)
    assert not [run for run in installs if "[dev]" in run]


def test_image_collects_static_files_at_build_with_production_settings(tmp_path: Path) -> None:
    """Runs the Dockerfile's collectstatic step with the build-time values it sets."""
    (run,) = [run for run in dockerfile_arguments("RUN") if "collectstatic" in run]
    (step,) = [step for step in run.split("&&") if "collectstatic" in step]
    words = shlex.split(step)
    build_env = dict(word.split("=", 1) for word in words if re.match(r"^\w+=", word))
    command = [word for word in words if not re.match(r"^\w+=", word)]
    assert command == ["python", "manage.py", "collectstatic", "--noinput"]
    assert build_env["NIXFLOW_ENV"] == "production"

    static_root = tmp_path / "static"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        **build_env,
        "STATIC_ROOT": str(static_root),
        "NIXFLOW_VAR_DIR": str(tmp_path / "var"),
    }
    outcome = subprocess.run(
        [sys.executable, *command[1:]],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    # The manifest that production's CompressedManifestStaticFilesStorage serves from.
    assert (static_root / "staticfiles.json").is_file()
    assert (static_root / "admin").is_dir()
    # Nothing under var/ created as root at build time (the runtime user owns var/).
    assert not (tmp_path / "var").exists()


def test_files_the_dockerfile_copies_are_in_the_build_context() -> None:
    for copy in dockerfile_arguments("COPY"):
        *sources, _destination = copy.split()
        for source in sources:
            if source == ".":
                continue
            assert (REPO / source).exists(), source
            assert not dockerignored(source), f"{source} is in .dockerignore"


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    for path in (".venv", "var", ".git", "staticfiles", ".venv/bin/python", "var/postgres"):
        assert dockerignored(path), path


def test_dockerignore_keeps_what_the_image_needs() -> None:
    for path in ("pyproject.toml", "README.md", "manage.py", "nixflow/settings.py"):
        assert not dockerignored(path), path
