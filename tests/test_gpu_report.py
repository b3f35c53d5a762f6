"""``make gpu-report`` (scripts/gpu_report.py) runs and reports on a CPU too, saying so."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "scripts" / "gpu_report.py"
_spec = importlib.util.spec_from_file_location("gpu_report", SCRIPT)
gpu_report = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gpu_report)

SMALL_NOTEBOOK = "chapters/02_backprop/02_3_backprop.ipynb"  # PyTorch and numpy only


def _results(device="cpu", **env):
    environment = {"device": device, "commit": "abc1234", "torch": "2.x", **env}
    return {"environment": environment, "notebooks": [
        {"notebook": SMALL_NOTEBOOK, "status": "pass", "seconds": 3.0, "cells": 5,
         "failed": 0, "checked": 2, "checked_agree": 2, "causes": []},
        {"notebook": "chapters/x/y.ipynb", "status": "fail", "seconds": 1.0, "cells": 4,
         "failed": 4, "checked": 1, "checked_agree": 0,
         "causes": ["TensorFlow/Keras missing"]}],
        "scaled": [], "cuda_tests": {"counts": {"passed": 1}, "cuda_tests": {}}}


def test_cpu_report_says_it_ran_on_the_cpu():
    page = gpu_report.render(_results())
    assert "This run used the CPU" in page
    assert "1 of 2 notebooks passed every cell" in page
    assert "2 of 3" in page  # checked cells agreeing, summed over notebooks


def test_notebooks_a_cut_run_did_not_finish_are_listed():
    results = _results()
    results["selected"] = [SMALL_NOTEBOOK, "chapters/x/y.ipynb", "chapters/z/late.ipynb"]
    page = gpu_report.render(results)
    assert "1 of 3 notebooks passed every cell" in page
    assert "| `chapters/z/late.ipynb` | not finished in the run's time limit |" in page


def test_gpu_report_names_the_gpu_and_shows_cpu_times_beside_it():
    page = gpu_report.render(_results("cuda:0", gpu="NVIDIA H200", capability="9.0",
                                      driver="580"), cpu={SMALL_NOTEBOOK: 12.34})
    assert "NVIDIA H200" in page and "This run used the CPU" not in page
    row = next(line for line in page.splitlines() if SMALL_NOTEBOOK in line)
    assert "| 3.0 | 12.3 |" in row


@pytest.mark.parametrize(("message", "cause"), [
    ("ModuleNotFoundError: No module named 'tensorflow'", "TensorFlow/Keras missing"),
    ("Cell outputs differ\n...", "checked output differs"),
    ("NameError: name 'model' is not defined", "follows an earlier failure"),
    ("ZeroDivisionError", "error"),
])
def test_failing_cells_are_classified(message, cause):
    assert gpu_report.classify(message) == cause


def test_cpu_seconds_sums_a_notebooks_cells_from_junit(tmp_path):
    junit = tmp_path / "junit.xml"
    junit.write_text(
        '<testsuites><testsuite>'
        '<testcase classname="chapters.02_backprop.02_3_backprop.ipynb" name="Cell 0" '
        'time="1.5"/><testcase classname="chapters.02_backprop.02_3_backprop.ipynb" '
        'name="Cell 1" time="2.0"/><testcase classname="tests.test_x" name="test_y" '
        'time="9"/></testsuite></testsuites>')
    assert gpu_report.cpu_seconds(junit) == {SMALL_NOTEBOOK: 3.5}


@pytest.mark.slow
def test_run_then_render_on_this_machine(tmp_path):
    subprocess.run([sys.executable, str(SCRIPT), "run", "--out", str(tmp_path),
                    "--notebooks", SMALL_NOTEBOOK, "--no-scaled",
                    "--tests", "tests/test_device.py"],
                   cwd=REPO_ROOT, check=True, capture_output=True, timeout=600)
    results = json.loads((tmp_path / "results.json").read_text())
    [row] = results["notebooks"]
    assert row["status"] == "pass" and row["checked"] == row["checked_agree"] > 0
    assert results["cuda_tests"]["counts"]["passed"] > 0
    page = tmp_path / "page.md"
    subprocess.run([sys.executable, str(SCRIPT), "render", str(tmp_path / "results.json"),
                    "--page", str(page)], cwd=REPO_ROOT, check=True, timeout=60)
    expected = ("This run used the CPU" if results["environment"]["device"] == "cpu"
                else results["environment"]["gpu"])
    assert expected in page.read_text()
