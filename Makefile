# The two commands of the README: `make install`, then `make test`.
# STACK=classic selects AllenNLP's own pins on Python 3.10 (see scripts/install.sh).
.PHONY: install test lock lint typecheck results docs configs

STACK ?= default
export STACK

install:
	./scripts/install.sh

test:
	./scripts/test.sh

lock:
	./scripts/lock.sh

# Formatting (black, line length from pyproject.toml) and flake8 (.flake8), checked, not applied.
LINT_PATHS = mft_plugin tests benchmarks scripts setup.py examples
lint:
	$(if $(filter classic,$(STACK)),.venv-classic,.venv)/bin/black --check $(LINT_PATHS)
	$(if $(filter classic,$(STACK)),.venv-classic,.venv)/bin/flake8 $(LINT_PATHS)

# mypy over mft_plugin/ (configuration: pyproject.toml's [tool.mypy]).
typecheck:
	$(if $(filter classic,$(STACK)),.venv-classic,.venv)/bin/mypy

# Every experiment's results.md and results.png under benchmarks/results, from its results.json,
# and the results index docs/results.md (see mft_plugin/experiments/pages.py).
results:
	PYTHONPATH=$(CURDIR) $(if $(filter classic,$(STACK)),.venv-classic,.venv)/bin/python -m mft_plugin.experiments.pages benchmarks/results docs/results.md

# The generated parts of the docs: the results pages (above) and the tables of
# docs/configuration.md (the MFT_* variables and the stage settings; see mft_plugin/settings.py).
docs: results
	PYTHONPATH=$(CURDIR) $(if $(filter classic,$(STACK)),.venv-classic,.venv)/bin/python -m mft_plugin.settings docs/configuration.md

# Every shipped config under training_configs/ fully expanded to JSON, with the plugin's MFT_*
# defaults filled in, under build/configs/ (see mft_plugin/commands/expand_configs.py).
configs:
	rm -rf build/configs
	PYTHONPATH=$(CURDIR) $(if $(filter classic,$(STACK)),.venv-classic,.venv)/bin/python -m mft_plugin.commands.expand_configs training_configs build/configs
