#!/usr/bin/env bash
# Regenerate the lock files that `make install` installs from, after a change to setup.py's
# dependencies or to requirements/overrides.txt. Needs uv (`pip install uv`); commit the result.
#   requirements/default.lock  the default stack, one universal resolution for Python 3.10-3.13,
#                              with AllenNLP's pins lifted by requirements/overrides.txt
#   requirements/classic.lock  AllenNLP's own pins on Python 3.10 (`make install STACK=classic`)
set -euo pipefail
cd "$(dirname "$0")/.."
UV="${UV:-uv}"
export UV_PYTHON_DOWNLOADS=never

"$UV" pip compile setup.py --extra dev --universal --python-version 3.10 \
    --override requirements/overrides.txt \
    --custom-compile-command "scripts/lock.sh" \
    --output-file requirements/default.lock

# A Python 3.10 builds the sdists of AllenNLP's 2022 pins (e.g. pathtools, for wandb 0.12).
PYTHON310="${PYTHON310:-$(ls "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/3.10.*/bin/python3.10 \
    2>/dev/null | tail -n 1)}"
PYTHON310="${PYTHON310:-$(command -v python3.10)}"
"$UV" pip compile setup.py --extra dev --python "$PYTHON310" --python-platform x86_64-manylinux_2_28 \
    --custom-compile-command "scripts/lock.sh" \
    --output-file requirements/classic.lock
