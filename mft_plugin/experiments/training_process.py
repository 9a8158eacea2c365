"""
`allennlp train` for one run of an experiment, in a process of its own, without paying for
Python's start and AllenNLP's imports each time.

Every run trains in a fresh process, as `allennlp train` on the command line does: nothing one
run leaves behind (the global random state, caches, memory) reaches the next, and the run's
output goes to its own log. Starting Python and importing torch, transformers and every AllenNLP
module takes 15-20 s on 2 CPU cores, a quarter of a short stage-2 run, so the processes are
forked from a `multiprocessing` fork server that has imported them once. The server imports
modules only and runs nothing, so each child starts as a clean process would (its thread pools
and devices start in the child), with the caller's working directory and environment of the
moment, and runs `allennlp`'s own entry point. Where a fork server is not available (Windows),
each run is a `python -m allennlp` process as before.
"""
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

# What the fork server imports once: AllenNLP's commands (torch, transformers and every
# AllenNLP module they pull in), and this module, whose `_allennlp_main` the children run.
PRELOAD = ["allennlp.commands", __name__]


def allennlp_command(args: List[str]) -> List[str]:
    """The command line that `run_allennlp(args, ...)` is equivalent to (for logs and users)."""
    return [sys.executable, "-m", "allennlp", *args]


def run_allennlp_in_new_process(args: List[str], log_path: Path) -> int:
    """`python -m allennlp ARGS` as a new process, output appended to `log_path`; its exit code."""
    with open(log_path, "a", encoding="utf-8") as log:
        return subprocess.run(
            allennlp_command(args), stdout=log, stderr=subprocess.STDOUT
        ).returncode


def run_allennlp(args: List[str], log_path: Path) -> int:
    """
    Run `allennlp ARGS` (for example `["train", CONFIG, "-s", DIR]`) in a new process whose
    standard output and error are appended to `log_path`; returns its exit code. Interrupting
    the caller (Ctrl-C) stops the child too.

    As with any `multiprocessing` program, the child imports the caller's main module again
    before it starts: a script that calls this (or an experiment runner) must do so under
    `if __name__ == "__main__":`. A child that dies before it starts raises
    `ChildProcessError` saying so.
    """
    log_path = Path(log_path)
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return run_allennlp_in_new_process(args, log_path)
    context = multiprocessing.get_context("forkserver")
    # takes effect when the server starts (the first run of this process); later calls are no-ops
    context.set_forkserver_preload(PRELOAD)
    process = context.Process(
        target=_allennlp_main,
        args=(list(args), str(log_path), os.getcwd(), dict(os.environ)),
        name="allennlp " + " ".join(args[:1]),
    )
    logged_before = log_path.stat().st_size if log_path.exists() else 0
    process.start()
    try:
        process.join()
    except BaseException:
        process.terminate()
        process.join()
        raise
    exit_code = process.exitcode if process.exitcode is not None else 1
    logged = log_path.stat().st_size if log_path.exists() else 0
    if exit_code != 0 and logged == logged_before:
        raise ChildProcessError(
            f"The process for `allennlp {' '.join(args)}` ended (exit code {exit_code}) before "
            f"it started: nothing reached {log_path}. Its output above says why; the usual "
            'cause is a script that starts training outside `if __name__ == "__main__":` '
            "(the process imports the script's main module again, as multiprocessing does)."
        )
    return exit_code


def _allennlp_main(args: List[str], log_path: str, cwd: str, environment: Dict[str, str]) -> None:
    """The child: `allennlp ARGS` with the caller's directory and environment, output to the log."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(environment)
    sys.stdout.flush()
    sys.stderr.flush()
    with open(log_path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    sys.argv = ["allennlp", *args]
    # allennlp/__main__.py configures logging (on the redirected stderr) when imported
    from allennlp.__main__ import run

    run()
