"""The Python versions NixFlow supports, said once in pyproject.toml and kept in step.

``requires-python`` is the source: the running interpreter, the classifiers, the README,
docs/python-versions.md, the scripts that pick an interpreter (scripts/python_env.sh) and
CI (.ci/run) must all agree with it. A version added or dropped in one place only fails here.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
REQUIRES = SpecifierSet(PYPROJECT["project"]["requires-python"])
# Every minor version that could plausibly be meant, filtered through requires-python.
CANDIDATES = [f"3.{minor}" for minor in range(8, 20)]
SUPPORTED = [version for version in CANDIDATES if Version(version) in REQUIRES]
# "Python 3.11, 3.12 or 3.13" / "Python 3.11, 3.12 and 3.13": a sentence listing versions.
VERSION_LIST = re.compile(r"Python ((?:3\.\d+, )*3\.\d+,? (?:and|or) 3\.\d+)")


def listed_versions(text: str) -> list[list[str]]:
    return [re.findall(r"3\.\d+", match) for match in VERSION_LIST.findall(text)]


def python_env(
    tmp_path: Path, python: str, *, path: str | None = None, pyenv_root: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Source scripts/python_env.sh the way the Makefile does (POSIX sh), print its result."""
    env = {"PATH": path or "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHON": python}
    if pyenv_root:
        env["PYENV_ROOT"] = str(pyenv_root)
    return subprocess.run(
        ["/bin/sh", "-c", '. scripts/python_env.sh && echo "$PYTHON_VERSION $VENV $PYTHON"'],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def fake_python(folder: Path, version: str, name: str = "python") -> Path:
    """An executable that answers python_env.sh's questions as Python ``version`` would."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / name
    script.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *print*) echo {version} ;; --version) echo "Python {version}.0" ;; esac\n'
    )
    script.chmod(0o755)
    return script


def test_the_running_interpreter_is_within_requires_python() -> None:
    running = ".".join(str(part) for part in sys.version_info[:3])
    assert Version(running) in REQUIRES, f"Python {running} is outside {REQUIRES}"


def test_the_classifiers_list_exactly_the_supported_versions() -> None:
    classifiers = PYPROJECT["project"].get("classifiers", [])
    prefix = "Programming Language :: Python :: "
    listed = sorted(
        (c.removeprefix(prefix) for c in classifiers if re.fullmatch(f"{prefix}3\\.\\d+", c)),
        key=Version,
    )
    assert listed == SUPPORTED


@pytest.mark.parametrize("document", ["README.md", "docs/python-versions.md"])
def test_the_documents_list_exactly_the_supported_versions(document: str) -> None:
    lists = listed_versions((ROOT / document).read_text())
    assert lists, f"{document} names no list of Python versions"
    for versions in lists:
        assert versions == SUPPORTED, f"{document} lists Python {versions}"


def test_lint_and_type_checks_target_the_lowest_supported_version() -> None:
    lowest = SUPPORTED[0]
    assert PYPROJECT["tool"]["ruff"]["target-version"] == "py" + lowest.replace(".", "")
    assert PYPROJECT["tool"]["mypy"]["python_version"] == lowest


def test_ci_runs_the_suite_on_the_lowest_and_the_highest_version() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    loop = re.search(r"^for python in (.+); do$", ci, re.MULTILINE)
    assert loop, ".ci/run has no loop over interpreters"
    assert loop.group(1).split() == [f"python{SUPPORTED[0]}", f"python{SUPPORTED[-1]}"]
    assert 'make test PYTHON="$python"' in ci


@pytest.mark.parametrize("version", CANDIDATES)
def test_the_scripts_accept_exactly_the_supported_versions(tmp_path: Path, version: str) -> None:
    result = python_env(tmp_path, str(fake_python(tmp_path / "bin", version)))
    if version in SUPPORTED:
        assert result.returncode == 0, result.stderr
        venv = ".venv" if version == SUPPORTED[0] else f".venv-{version}"
        assert result.stdout.split()[:2] == [version, venv]
    else:
        assert result.returncode != 0
        assert f"is Python {version}.0" in result.stderr


def test_the_scripts_find_a_pyenv_version_whose_shim_refuses_to_run(tmp_path: Path) -> None:
    # pyenv's shim for a version that is installed but not selected exits with an error.
    shims = tmp_path / "shims"
    shims.mkdir()
    shim = shims / "python3.13"
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.13: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    pyenv_root = tmp_path / "pyenv"
    real = fake_python(pyenv_root / "versions" / "3.13.0" / "bin", "3.13", "python3.13")

    result = python_env(
        tmp_path, "python3.13", path=f"{shims}:/usr/bin:/bin", pyenv_root=pyenv_root
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["3.13", ".venv-3.13", str(real)]


def test_the_scripts_refuse_a_python_that_does_not_exist(tmp_path: Path) -> None:
    result = python_env(tmp_path, "python3.12", pyenv_root=tmp_path / "no-pyenv")
    assert result.returncode != 0
    assert "PYTHON=python3.12 does not run" in result.stderr
