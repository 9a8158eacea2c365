from setuptools import find_packages, setup

setup(
    name="mft-plugin",
    version="0.1.0",
    description=(
        "Meta Fine-Tuning (MFT, EMNLP 2020) for multi-domain text mining, as an AllenNLP plugin: "
        "multi-domain readers, typicality-weighted and skip-layer domain-corruption losses, "
        "a prototype callback, predictors and experiment configs."
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    packages=find_packages(exclude=["tests", "tests.*", "benchmarks", "benchmarks.*"]),
    python_requires=">=3.8,<3.11",
    install_requires=[
        "allennlp==2.10.1",
        "allennlp-models==2.10.1",
        # torch 1.12 and spaCy's thinc are built against the numpy 1.x ABI.
        "numpy<2",
        "jsonnet",
        "safetensors",
        "scikit-learn",
        "matplotlib",
        "nltk",
        "psutil",
        # AllenNLP pulls in datasets 2.10, which uses pyarrow.PyExtensionType (gone in pyarrow 21);
        # transformers.Trainer imports it (the speed benchmark compares against the Trainer).
        "pyarrow<20",
    ],
    extras_require={
        "dev": ["pytest", "pytest-xdist", "black==22.12.0", "flake8"],
    },
    entry_points={
        "console_scripts": [
            "mft-prepare-encoder=mft_plugin.encoder:main",
            "mft-wordnet-pairs=mft_plugin.data.wordnet_pairs:main",
        ]
    },
    include_package_data=True,
)
