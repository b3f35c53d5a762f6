"""Run the course on the device ``course_lib.device.get_device()`` picks; write a report page.

    make gpu-report                                   # everything, on this machine's device
    python scripts/gpu_report.py run --out DIR [--notebooks NB ...] [--jobs J] [--no-scaled]
    python scripts/gpu_report.py render RESULTS.json [--cpu-junit JUNIT.xml] --page PAGE.md

``run`` re-executes every lesson and instructor notebook under nbval (the same checked cells as
``make test``: a checked cell passes only if its output equals the committed, CPU-made one, so
a pass is CPU/GPU agreement), runs the CUDA tests, and runs the training-heavy notebooks again
with their ``parameters`` scaled up (a cell injected after the ``parameters`` cell, as papermill
does). It writes ``DIR/results.json``. ``render`` turns results into the book's appendix page,
next to the CPU time of each notebook from a ``make test`` JUnit file of the same commit.
On a machine without a GPU the report says that it ran on the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_GLOBS = ("chapters/*/*.ipynb", "solutions/*/*.ipynb")
CUDA_TESTS = ("tests/test_device.py", "tests/test_device_agreement.py", "tests/test_train.py")
# Knobs raised for a GPU: only the names a notebook's `parameters` cell defines are applied.
SCALED_PARAMETERS = {
    "chapters/05_training_cnns/05_6_digits-cnn-and-hyperparameters.ipynb":
        {"NUM_EPOCHS": 120, "NOISE_SEEDS": (1, 2, 3, 4, 5, 6, 7, 8, 9)},
    "chapters/06_regularization/06_7_regularization-experiment-and-recipe.ipynb":
        {"SEEDS": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]},
    "chapters/07_architectures/07_3_resnet.ipynb": {"NUM_EPOCHS": 30},
    "chapters/08_transfer_learning/08_4_label-budget-experiment.ipynb":
        {"LABEL_BUDGETS": (1, 5, 10, 50), "SEEDS": (0, 1, 2, 3, 4),
         "LARGEST_BUDGET_SEEDS": (0, 1, 2, 3, 4)},
}
NOTEBOOK_TIMEOUT = 900  # seconds for one notebook under nbval
GLUE_MIME = "application/papermill.record/text/plain"


def environment() -> dict:
    """Device, driver and library versions of this machine, as plain data."""
    import torch

    from course_lib.device import get_device

    device = get_device()
    info = {"python": platform.python_version(), "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "device": str(device), "torch": torch.__version__,
            "torch_cuda": torch.version.cuda, "commit": _git_commit()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["capability"] = ".".join(map(str, torch.cuda.get_device_capability(device)))
        info["driver"] = _command(["nvidia-smi", "--query-gpu=driver_version",
                                   "--format=csv,noheader"])
    for name in ("tensorflow", "keras"):
        try:
            module = __import__(name)
            info[name] = module.__version__
        except Exception as error:  # noqa: BLE001 - any failure to import is the finding
            info[name] = f"not available ({type(error).__name__}: {error})"
    info["keras_backend"] = os.environ.get("KERAS_BACKEND", "tensorflow")
    return info


def _command(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError) as error:
        return f"unavailable ({error})"


def _git_commit() -> str:
    return os.environ.get("COURSE_COMMIT") or _command(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"])


def notebooks() -> list[str]:
    """Every lesson and instructor notebook, as repository-relative paths."""
    return sorted(str(p.relative_to(REPO_ROOT)) for pattern in NOTEBOOK_GLOBS
                  for p in REPO_ROOT.glob(pattern))


def checked_cells(notebook: str) -> set[int]:
    """nbval's numbers (code cells, from 0) of the cells marked ``# NBVAL_CHECK_OUTPUT``."""
    import nbformat

    cells = [c for c in nbformat.read(REPO_ROOT / notebook, as_version=4).cells
             if c.cell_type == "code"]
    return {number for number, cell in enumerate(cells)
            if any(line.strip() == "# NBVAL_CHECK_OUTPUT"
                   for line in cell.source.splitlines())}


def classify(message: str) -> str:
    """A failing cell's cause in a few words, from its nbval failure text."""
    if "No module named 'tensorflow'" in message or "No module named 'keras'" in message:
        return "TensorFlow/Keras missing"
    if "Cell outputs differ" in message or "outputs differ" in message.lower():
        return "checked output differs"
    if "NameError" in message:
        return "follows an earlier failure"
    if "Timeout" in message or "timed out" in message:
        return "timeout"
    return "error"


def junit_cases(path: Path) -> list[dict]:
    """Every testcase of a JUnit file: file, name, time and failure text (empty if passed)."""
    cases = []
    for case in ET.parse(path).getroot().iter("testcase"):
        problem = next((child for child in case if child.tag in ("failure", "error")), None)
        skipped = any(child.tag == "skipped" for child in case)
        text = "" if problem is None else (problem.get("message", "") + "\n"
                                           + (problem.text or ""))
        cases.append({"classname": case.get("classname", ""), "name": case.get("name", ""),
                      "time": float(case.get("time", 0)), "failure": text,
                      "skipped": skipped})
    return cases


def run_notebook(notebook: str, out: Path) -> dict:
    """One notebook under nbval in a fresh pytest process; per-cell outcome and wall time."""
    junit = out / "junit" / (notebook.replace("/", "__") + ".xml")
    junit.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        subprocess.run([sys.executable, "-m", "pytest", "-p", "no:xdist", "-q", notebook,
                        f"--junitxml={junit}"], cwd=REPO_ROOT, capture_output=True,
                       timeout=NOTEBOOK_TIMEOUT, env=_child_env())
    except subprocess.TimeoutExpired:
        return {"notebook": notebook, "status": "timeout", "seconds": NOTEBOOK_TIMEOUT}
    seconds = round(time.perf_counter() - start, 1)
    if not junit.exists():
        return {"notebook": notebook, "status": "not run", "seconds": seconds}
    cases = [c for c in junit_cases(junit) if c["name"].startswith("Cell ")]
    checked = checked_cells(notebook)
    failures = {}
    for case in cases:
        if case["failure"]:
            failures[case["name"]] = classify(case["failure"])
    checked_failed = [n for n in checked if f"Cell {n}" in failures]
    return {"notebook": notebook, "status": "pass" if cases and not failures else "fail",
            "seconds": seconds, "cells": len(cases), "failed": len(failures),
            "checked": len(checked), "checked_agree": len(checked) - len(checked_failed),
            "causes": sorted(set(failures.values()))}


def _child_env() -> dict:
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "2")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def run_cuda_tests(out: Path, tests: tuple[str, ...] = CUDA_TESTS) -> dict:
    """The device tests (CUDA ones skip without a GPU); counts and each test's outcome."""
    junit = out / "junit" / "cuda-tests.xml"
    junit.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pytest", "-p", "no:xdist", "-q", *tests,
                    f"--junitxml={junit}"], cwd=REPO_ROOT, capture_output=True,
                   timeout=NOTEBOOK_TIMEOUT, env=_child_env())
    cases = junit_cases(junit)
    outcome = {f"{c['classname'].rsplit('.', 1)[-1]}::{c['name']}":
               "failed" if c["failure"] else "skipped" if c["skipped"] else "passed"
               for c in cases}
    cuda = {name: result for name, result in outcome.items()
            if "cuda" in name.lower() or "gpu" in name.lower()}
    return {"counts": {k: list(outcome.values()).count(k)
                       for k in ("passed", "failed", "skipped")}, "cuda_tests": cuda}


def run_scaled(notebook: str, overrides: dict) -> dict:
    """Execute ``notebook`` with ``overrides`` injected after its ``parameters`` cell."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(REPO_ROOT / notebook, as_version=4)
    for cell in nb.cells:  # a cell the run never reaches must not show the committed values
        if cell.cell_type == "code":
            cell.outputs = []
    where = next((i for i, c in enumerate(nb.cells)
                  if "parameters" in c.metadata.get("tags", [])), None)
    if where is None:
        return {"notebook": notebook, "status": "no parameters cell"}
    defined = nb.cells[where].source
    applied = {k: v for k, v in overrides.items()
               if re.search(rf"^{k}\s*=", defined, re.MULTILINE)}
    source = "\n".join(f"{k} = {v!r}" for k, v in applied.items())
    nb.cells.insert(where + 1, nbformat.v4.new_code_cell(
        source, metadata={"tags": ["injected-parameters"]}))
    start = time.perf_counter()
    try:
        NotebookClient(nb, timeout=NOTEBOOK_TIMEOUT, kernel_name="python3",
                       resources={"metadata": {"path": str((REPO_ROOT / notebook).parent)}}
                       ).execute()
        status = "pass"
    except Exception as error:  # noqa: BLE001 - the report records any failure
        status = f"fail ({type(error).__name__})"
    glued = {o["metadata"]["scrapbook"]["name"]: o["data"].get(GLUE_MIME)
             for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
             if "scrapbook" in o.get("metadata", {})}
    return {"notebook": notebook, "status": status, "parameters": applied,
            "seconds": round(time.perf_counter() - start, 1), "glued": glued}


def run(out: Path, selected: list[str], jobs: int, scaled: bool,
        tests: tuple[str, ...] = CUDA_TESTS) -> dict:
    """Everything ``run`` does; writes ``out/results.json`` as results arrive, returns it.

    Notebooks and scaled-up runs share ``jobs`` worker processes; the CUDA tests run first.
    """
    out.mkdir(parents=True, exist_ok=True)
    results = {"environment": environment(), "selected": list(selected), "notebooks": [],
               "scaled": []}

    def save() -> None:
        (out / "results.json").write_text(json.dumps(results, indent=1))

    save()
    results["cuda_tests"] = run_cuda_tests(out, tests)
    results["cuda_tests"]["files"] = list(tests)
    save()
    work = [("notebooks", run_notebook, (nb, out)) for nb in selected]
    if scaled:
        work += [("scaled", run_scaled, (nb, overrides))
                 for nb, overrides in SCALED_PARAMETERS.items() if nb in selected]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(function, *args): key for key, function, args in work}
        for future in as_completed(futures):  # saved as each finishes: a cut run keeps them
            results[futures[future]].append(future.result())
            save()
    for key in ("notebooks", "scaled"):
        results[key].sort(key=lambda row: row["notebook"])
    save()
    return results


def cpu_seconds(junit: Path) -> dict[str, float]:
    """Per-notebook time (sum of its cells) from a ``make test`` JUnit file."""
    totals: dict[str, float] = {}
    for case in junit_cases(junit):
        if case["name"].startswith("Cell "):
            notebook = case["classname"].replace(".", "/").replace("/ipynb", ".ipynb")
            totals[notebook] = totals.get(notebook, 0.0) + case["time"]
    return totals


def render(results: dict, cpu: dict[str, float] | None = None, notes: str = "") -> str:
    """The appendix page (MyST markdown) for ``results``; ``cpu``: seconds per notebook;
    ``notes``: the author's reading of the run (what differed and why), put after the
    device table."""
    env, cpu = results["environment"], cpu or {}
    on_gpu = env["device"].startswith("cuda")
    lines = ["# Appendix: the course on a GPU", "",
             (f"Run on **{env.get('gpu')}** (compute capability {env.get('capability')}, "
              f"driver {env.get('driver')})" if on_gpu else
              "**This run used the CPU: no CUDA GPU was found.** It checks that the report "
              "works; it says nothing about GPUs"),
             f"at commit `{env['commit']}`, by `make gpu-report` (`scripts/gpu_report.py`).", "",
             "| | |", "|---|---|"]
    for key in ("device", "torch", "torch_cuda", "tensorflow", "keras", "keras_backend",
                "python", "cpu_count", "platform"):
        lines.append(f"| {key} | {env.get(key)} |")
    if notes:
        lines += ["", notes.strip()]
    counts = results.get("cuda_tests", {}).get("counts", {})
    lines += ["", "## Device tests", "",
              f"`{' '.join(results.get('cuda_tests', {}).get('files', CUDA_TESTS))}`: "
              f"{counts.get('passed', 0)} passed, "
              f"{counts.get('failed', 0)} failed, {counts.get('skipped', 0)} skipped.", "",
              "| CUDA test | result |", "|---|---|"]
    lines += [f"| `{name}` | {outcome} |" for name, outcome in
              sorted(results.get("cuda_tests", {}).get("cuda_tests", {}).items())]
    finished = {row["notebook"] for row in results["notebooks"]}
    unfinished = [nb for nb in results.get("selected", []) if nb not in finished]
    rows = results["notebooks"] + [{"notebook": nb, "status": "not finished in the run's "
                                    "time limit"} for nb in unfinished]
    lines += _notebook_table(rows, cpu, on_gpu)
    lines += _scaled_table(results.get("scaled", []))
    return "\n".join(lines) + "\n"


def _notebook_table(rows: list[dict], cpu: dict[str, float], on_gpu: bool) -> list[str]:
    passed = sum(r["status"] == "pass" for r in rows)
    checked = sum(r.get("checked", 0) for r in rows)
    agree = sum(r.get("checked_agree", 0) for r in rows)
    device = "GPU" if on_gpu else "this run"
    lines = ["", "## Every notebook under nbval", "",
             f"{passed} of {len(rows)} notebooks passed every cell. Checked cells "
             f"(`# NBVAL_CHECK_OUTPUT`) that reproduced the committed CPU output: "
             f"{agree} of {checked}.", "",
             f"{device} s: wall time of one pytest process per notebook, Python, pytest and "
             "kernel start-up included, with other notebooks running beside it. CPU s: the "
             "notebook's cells summed from `make test`'s JUnit file (2 cores, 2 workers, "
             "kernel start-up excluded). They show where a notebook's time goes, not a "
             "clean speed-up.", "",
             f"| notebook | result | cells failed | checked cells agreeing | {device} s "
             "| CPU s (make test) | causes |", "|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        cpu_time = cpu.get(r["notebook"])
        lines.append(f"| `{r['notebook']}` | {r['status']} | {r.get('failed', '')} | "
                     f"{r.get('checked_agree', '')}/{r.get('checked', '')} | "
                     f"{r.get('seconds', '')} | "
                     f"{'' if cpu_time is None else round(cpu_time, 1)} | "
                     f"{', '.join(r.get('causes', []))} |")
    return lines


def _scaled_table(rows: list[dict]) -> list[str]:
    if not rows:
        return []
    lines = ["", "## Training-heavy notebooks, scaled up", "",
             "| notebook | parameters | result | seconds | glued values |",
             "|---|---|---|---:|---|"]
    for r in rows:
        values = r.get("glued") or {} if r["status"] == "pass" else {}
        glued = "; ".join(f"{k} = {_short(v)}" for k, v in sorted(values.items()))
        lines.append(f"| `{r['notebook']}` | `{r.get('parameters')}` | {r['status']} | "
                     f"{r.get('seconds', '')} | {glued} |")
    return lines


def _short(text) -> str:
    """A glued value's text with floats to 4 significant digits."""
    try:
        number = float(text)
    except (TypeError, ValueError):
        return str(text)
    return str(text) if number.is_integer() else f"{number:.4g}"


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="run notebooks and tests, write results.json")
    run_parser.add_argument("--out", type=Path, required=True)
    run_parser.add_argument("--notebooks", nargs="*", default=None)
    run_parser.add_argument("--jobs", type=int, default=1)
    run_parser.add_argument("--no-scaled", action="store_true")
    run_parser.add_argument("--tests", nargs="*", default=list(CUDA_TESTS))
    render_parser = commands.add_parser("render", help="write the appendix page")
    render_parser.add_argument("results", type=Path)
    render_parser.add_argument("--cpu-junit", type=Path, default=None)
    render_parser.add_argument("--page", type=Path, required=True)
    render_parser.add_argument("--notes", type=Path, default=None,
                               help="markdown with the reading of the run")
    args = parser.parse_args(argv)
    if args.command == "run":
        selected = args.notebooks or notebooks()
        unknown = [nb for nb in selected if not (REPO_ROOT / nb).is_file()]
        if unknown:
            parser.error(f"no such notebook(s): {', '.join(unknown)}")
        run(args.out, selected, args.jobs, scaled=not args.no_scaled, tests=tuple(args.tests))
    else:
        results = json.loads(args.results.read_text())
        cpu = cpu_seconds(args.cpu_junit) if args.cpu_junit else None
        notes = args.notes.read_text() if args.notes else ""
        args.page.write_text(render(results, cpu, notes))


if __name__ == "__main__":
    main(sys.argv[1:])
