"""Paths shared by the tests, and the plugin imported once so every component is registered."""
from pathlib import Path

import pytest

from mft_plugin.settings import environment_defaults  # no AllenNLP import: see pytest_configure


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    # The processes that run tests import the plugin (registering its readers, models, callbacks
    # and predictors) before collecting; pytest-xdist's controller runs none, and importing
    # AllenNLP there would hold up the start of the workers by 20 s.
    if not config.pluginmanager.hasplugin("dsession"):
        import mft_plugin.plugin  # noqa: F401


PROJECT_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = PROJECT_ROOT / "tests" / "fixtures"
FIXTURE_DATA = FIXTURES / "data"
TINY_BERT = str(FIXTURES / "tiny_bert")
# The real data lives beside the project; tests that read it skip when it is absent.
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"

requires_shared_data = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"real data not found at {SHARED_DATA}"
)

# The shipped training configs, pointed at the tiny BERT and the fixture data; every other
# MFT_* variable at its documented default.
TINY_ENVIRONMENT = dict(
    environment_defaults(), MFT_ENCODER=TINY_BERT, MFT_DATA_DIR=str(FIXTURE_DATA)
)
CONFIGS = PROJECT_ROOT / "training_configs"


@pytest.fixture
def tiny_env(monkeypatch):
    for name, value in TINY_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
