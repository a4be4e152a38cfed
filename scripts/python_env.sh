# Which interpreter and which virtualenv: sourced (POSIX sh or bash) by bootstrap.sh,
# test.sh, run.sh and `make lint`. Sets PYTHON (a command that runs), PYTHON_VERSION
# ("3.13") and VENV.
#
# NixFlow runs on Python 3.11, 3.12 and 3.13 (requires-python in pyproject.toml; Django 5.2
# LTS supports all three). PYTHON picks one (`make test PYTHON=python3.13`); 3.11 is the
# default. Each minor version gets its own virtualenv, so a run on 3.13 leaves the everyday
# .venv alone: .venv for 3.11, .venv-3.12 and .venv-3.13 for the others. VENV overrides.

NIXFLOW_PYTHONS="3.11 3.12 3.13"

_nixflow_runs() {
    "$1" -c 'import sys' >/dev/null 2>&1
}

if [ -n "${PYTHON:-}" ]; then
    if ! _nixflow_runs "$PYTHON"; then
        # pyenv's shims (python3.13 on PATH) refuse to run a version that is installed but
        # not selected; the interpreter itself is there under $PYENV_ROOT/versions.
        _nixflow_minor=${PYTHON##*/}
        _nixflow_minor=${_nixflow_minor#python}
        _nixflow_found=""
        for _nixflow_candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$_nixflow_minor".*/bin/python"$_nixflow_minor"; do
            _nixflow_runs "$_nixflow_candidate" && _nixflow_found=$_nixflow_candidate
        done
        if [ -z "$_nixflow_found" ]; then
            echo "PYTHON=$PYTHON does not run, and no pyenv version provides it." >&2
            exit 1
        fi
        PYTHON=$_nixflow_found
    fi
else
    # Asked for nothing: 3.11, else whatever python3 is (the check below rejects a wrong one).
    PYTHON=python3.11
    _nixflow_runs "$PYTHON" || PYTHON=python3
fi

PYTHON_VERSION=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
case " $NIXFLOW_PYTHONS " in
    *" $PYTHON_VERSION "*) ;;
    *)
        echo "NixFlow needs Python 3.11, 3.12 or 3.13 (Django 5.2 LTS);" \
            "$PYTHON is $("$PYTHON" --version 2>&1)." >&2
        exit 1
        ;;
esac

if [ -z "${VENV:-}" ]; then
    if [ "$PYTHON_VERSION" = "${NIXFLOW_PYTHONS%% *}" ]; then
        VENV=.venv
    else
        VENV=.venv-$PYTHON_VERSION
    fi
fi
export PYTHON PYTHON_VERSION VENV
unset _nixflow_minor _nixflow_found _nixflow_candidate
