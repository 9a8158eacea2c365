"""
The pip route for using the plugin outside the clone resolves matching pairs on every Python.

For each supported Python found on the machine (3.10-3.13; the others are skipped), a throwaway
virtualenv is made by that Python itself (3.11's comes with its stock setuptools 65.5, which rules
out torch 2.15), and each documented route is resolved into it with `uv pip install --dry-run`:

- "pinned":   uv pip install CLONE --override CLONE/requirements/overrides.txt
                  -c CLONE/requirements/default.lock
- "flexible": uv pip install CLONE --override CLONE/requirements/overrides.txt
- "classic":  (Python 3.10 only) the requirements of plain `pip install CLONE`, AllenNLP's own
              pins, resolved by uv without overrides

An override replaces every package's requirement on the overridden package, so nothing in the
resolver guarantees that torchvision still gets a torch it was built for, or datasets a
huggingface-hub it accepts. The test checks each pair against the packages' own requirements
on PyPI (uv resolves the two pinned versions alone, without overrides): the resolved torchvision
must accept the resolved torch, and datasets the resolved huggingface-hub (a mismatched
torch/torchvision pair makes every `allennlp` command fail with `operator torchvision::nms does
not exist`).

Needs uv and PyPI; skipped, saying which is missing, without them. Every resolution runs at
once, into one venv per Python (a dry run changes nothing in it), and uv keeps the metadata it
read from PyPI's files (which PyPI never changes) instead of asking again for each of the
thousands of versions the flexible route considers; the index pages, which list the versions,
are still asked for every time. With a warm cache that is a few seconds.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
OVERRIDES = ROOT / "requirements" / "overrides.txt"
LOCK = ROOT / "requirements" / "default.lock"
SUPPORTED = ("3.10", "3.11", "3.12", "3.13")
ROUTES = {
    "pinned": ["--override", str(OVERRIDES), "-c", str(LOCK)],
    "flexible": ["--override", str(OVERRIDES)],
    "classic": [],
}
# (dependent, dependency): the dependency's resolved version must satisfy the dependent's own
# requirement on it, as published on PyPI.
PAIRS = [("torchvision", "torch"), ("datasets", "huggingface-hub")]


def find_uv():
    candidates = [os.environ.get("MFT_UV"), shutil.which("uv")]
    # scripts/install.sh keeps its uv beside the environment, in VENV/.uv.
    candidates += [str(Path(sys.prefix) / ".uv" / "bin" / "uv")]
    candidates += [str(ROOT / venv / ".uv" / "bin" / "uv") for venv in (".venv", ".venv-classic")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def find_python(minor):
    """The interpreter for `minor` on PATH or among pyenv's versions, like scripts/install.sh."""
    candidates = [shutil.which(f"python{minor}")]
    roots = [os.environ.get("PYENV_ROOT"), str(Path.home() / ".pyenv")]
    for root in filter(None, roots):
        candidates += sorted(
            (str(p) for p in Path(root).glob(f"versions/{minor}.*/bin/python{minor}")),
            key=lambda p: Version(p.split("/versions/")[1].split("/")[0]),
            reverse=True,
        )
    for candidate in filter(None, candidates):
        try:
            out = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0 and out.stdout.strip() == minor:
            return candidate
    return None


def pypi_reachable():
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
        return True
    except OSError:
        return False


UV = find_uv()
PYTHONS = {minor: find_python(minor) for minor in SUPPORTED}
CASES = [
    (minor, route)
    for minor in SUPPORTED
    for route in ROUTES
    if route != "classic" or minor == "3.10"
]


def parse_changes(output):
    """`uv pip install --dry-run` lists ` + name==version` and ` - name==version` lines."""
    added, removed = {}, set()
    for sign, name, version in re.findall(r"^ ([+-]) ([A-Za-z0-9._-]+)==(\S+)", output, re.M):
        if sign == "+":
            added[canonicalize_name(name)] = version
        else:
            removed.add(canonicalize_name(name))
    return added, removed


# uv's settings for these resolutions, found in their working folder (project-level settings,
# merged with the user's own): PyPI's files are immutable (PyPI itself serves them as such), so
# the metadata uv read from a wheel stays valid; the index pages are revalidated as by default.
UV_SETTINGS = """\
[[index]]
name = "pypi"
url = "https://pypi.org/simple"
default = true
cache-control = { files = "max-age=365000000, immutable" }
"""


def uv_environment():
    return dict(os.environ, UV_PYTHON_DOWNLOADS="never", UV_NO_PROGRESS="1")


def make_venv(python, workdir):
    """A venv made by `python` itself (its stock pip and setuptools), and what it holds."""
    venv = workdir / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=300)
    venv_python = str(venv / "bin" / "python")
    frozen = subprocess.run(
        [UV, "pip", "freeze", "--python", venv_python],
        capture_output=True,
        text=True,
        env=uv_environment(),
        timeout=120,
        check=True,
    ).stdout
    versions = {}
    for line in frozen.splitlines():
        if "==" in line:
            name, version = line.split("==", 1)
            versions[canonicalize_name(name)] = version
    return venv_python, versions


def resolve(venv, route, workdir):
    """
    The packages `venv` (from `make_venv`) would hold after the route: (versions, uv's output).
    A dry run: the venv is left as it was, for the other routes.
    """
    venv_python, installed = venv
    command = [UV, "pip", "install", "--dry-run", "--python", venv_python, str(ROOT)]
    result = subprocess.run(
        command + ROUTES[route],
        capture_output=True,
        text=True,
        env=uv_environment(),
        cwd=workdir,
        timeout=600,
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        return None, output
    added, removed = parse_changes(output)
    versions = {name: version for name, version in installed.items() if name not in removed}
    versions.update(added)
    return versions, output


@pytest.fixture(scope="module")
def uv_workdir(tmp_path_factory):
    if UV is None:
        pytest.skip("uv not found (MFT_UV, PATH, or VENV/.uv/bin/uv from `make install`)")
    if not pypi_reachable():
        pytest.skip("PyPI (pypi.org:443) is not reachable: the route cannot be resolved")
    workdir = tmp_path_factory.mktemp("uv")
    (workdir / "uv.toml").write_text(UV_SETTINGS)
    return workdir


@pytest.fixture(scope="module")
def resolutions(uv_workdir):
    """Every case's resolution and its pairs' conflicts (`pair_conflict`), all at once."""
    minors = sorted({minor for minor, _ in CASES if PYTHONS[minor] is not None})
    with ThreadPoolExecutor(max_workers=len(CASES)) as pool:
        # the venvs are queued first, so the resolutions waiting on them never hold every thread
        venvs = {}
        for minor in minors:
            (uv_workdir / f"py{minor}").mkdir()
            venvs[minor] = pool.submit(make_venv, PYTHONS[minor], uv_workdir / f"py{minor}")

        def resolve_case(minor, route):
            return resolve(venvs[minor].result(), route, uv_workdir)

        jobs = {case: pool.submit(resolve_case, *case) for case in CASES if case[0] in venvs}
        resolved = {case: job.result() for case, job in jobs.items()}
        # every distinct pair, checked concurrently too; the tests read them from the cache
        pairs = {
            (dependent, versions[dependent], dependency, versions[dependency], minor)
            for (minor, _), (versions, _) in resolved.items()
            if versions is not None
            for dependent, dependency in PAIRS
            if dependent in versions and dependency in versions
        }
        for job in [pool.submit(pair_conflict, *pair, uv_workdir) for pair in pairs]:
            job.result()
    return resolved


@lru_cache(maxsize=None)
def pair_conflict(dependent, version, dependency, dependency_version, minor, workdir):
    """
    uv's explanation if `dependent==version` does not accept `dependency==dependency_version`
    by its own published requirements (no overrides), else None. PyPI serves no separate wheel
    metadata for these packages, so a resolution of just the two is the check.
    """
    pins = f"{dependent}=={version}\n{dependency}=={dependency_version}\n"
    result = subprocess.run(
        [UV, "pip", "compile", "-", "--python-version", minor, "--no-header", "--quiet"],
        input=pins,
        capture_output=True,
        text=True,
        env=uv_environment(),
        cwd=workdir,
        timeout=600,
    )
    return None if result.returncode == 0 else result.stderr.strip()


@pytest.mark.parametrize("minor,route", CASES, ids=[f"py{m}-{r}" for m, r in CASES])
def test_route_resolves_matching_pairs(resolutions, uv_workdir, minor, route):
    if PYTHONS[minor] is None:
        pytest.skip(f"no Python {minor} on this machine (PATH or pyenv)")
    versions, output = resolutions[minor, route]
    assert versions is not None, f"uv could not resolve the {route} route on {minor}:\n{output}"
    for dependent, dependency in PAIRS:
        assert dependent in versions and dependency in versions, (dependent, dependency, output)
        conflict = pair_conflict(
            dependent, versions[dependent], dependency, versions[dependency], minor, uv_workdir
        )
        assert conflict is None, (
            f"Python {minor}, {route} route resolves {dependent} {versions[dependent]} with "
            f"{dependency} {versions[dependency]}, which {dependent} does not accept:\n{conflict}"
        )
