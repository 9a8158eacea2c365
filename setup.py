import re
import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py


class BuildWithConfigs(build_py):
    """
    Ships the top-level `training_configs/` inside the package (`mft_plugin/training_configs`),
    so that an installed wheel has the configs and experiment files that `mft-experiment` and
    `allennlp train` use (`mft-configs` prints the folder). A clone and an editable install read
    the top-level folder itself (`mft_plugin.settings.training_configs_dir`).
    """

    def run(self):
        super().run()
        if not self.dry_run:
            target = Path(self.build_lib) / "mft_plugin" / "training_configs"
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(
                Path(__file__).resolve().parent / "training_configs",
                target,
                ignore=shutil.ignore_patterns("*.pyc", "__pycache__"),
            )


def package_version() -> str:
    """The version, written once: `__version__` in mft_plugin/__init__.py (read, not imported)."""
    text = (Path(__file__).resolve().parent / "mft_plugin" / "__init__.py").read_text()
    return re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE).group(1)


setup(
    name="mft-plugin",
    version=package_version(),
    description=(
        "Meta Fine-Tuning (MFT, EMNLP 2020) for multi-domain text mining, as an AllenNLP plugin: "
        "multi-domain readers, typicality-weighted and skip-layer domain-corruption losses, "
        "a prototype callback, predictors and experiment configs."
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    packages=find_packages(exclude=["tests", "tests.*", "benchmarks", "benchmarks.*"]),
    # Python 3.11-3.13 with the default stack (`make install`: uv lifts AllenNLP's pins through
    # requirements/overrides.txt); Python 3.10 also takes AllenNLP's own pins with plain pip.
    python_requires=">=3.10,<3.14",
    install_requires=[
        "allennlp==2.10.1",
        "allennlp-models==2.10.1",
        # AllenNLP's own pins (torch 1.12, spaCy 3.3, datasets 2.10) are only installable on 3.10:
        # torch 1.12 and spaCy's thinc are built against the numpy 1.x ABI, and datasets 2.10
        # uses pyarrow.PyExtensionType (gone in pyarrow 21).
        'numpy<2; python_version < "3.11"',
        'numpy; python_version >= "3.11"',
        'pyarrow<20; python_version < "3.11"',
        # huggingface-hub 1.x dropped `HfFolder` and `Repository`, which `import allennlp` needs.
        # A requirement, not an override, so that datasets' own bound on it still applies.
        "huggingface-hub<1.0",
        "jsonnet",
        "safetensors",
        "scikit-learn",
        "matplotlib",
        "nltk",
        "psutil",
        # py-rouge, which allennlp-models imports, needs pkg_resources (gone in setuptools 81).
        "setuptools<81",
    ],
    extras_require={
        # accelerate: transformers.Trainer needs it from 4.27 on (the speed benchmark's
        # baseline). Not on Python 3.10: transformers 4.20 imports any accelerate it finds, and
        # the ones that fit the default stack need a newer huggingface-hub than 4.20's.
        "dev": [
            "pytest",
            "pytest-xdist",
            "black==22.12.0",
            "flake8",
            # `make typecheck`; the configuration is pyproject.toml's [tool.mypy]
            "mypy",
            'accelerate; python_version >= "3.11"',
        ],
    },
    entry_points={
        "console_scripts": [
            "mft-prepare-encoder=mft_plugin.commands.prepare_encoder:main",
            "mft-wordnet-pairs=mft_plugin.commands.wordnet_pairs:main",
            "mft-experiment=mft_plugin.commands.scripts:experiment_main",
            "mft-typicality=mft_plugin.commands.scripts:typicality_main",
            "mft-configs=mft_plugin.commands.scripts:configs_main",
        ]
    },
    cmdclass={"build_py": BuildWithConfigs},
    include_package_data=True,
)
