"""`harness doctor` on the real local backends: what works, with versions, CPU features and options;
a crashing engine is reported and only the default judge decides the exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from harness.doctor import cpu_summary
from harness.judges.llama_worker import CRASH_HOOK

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def doctor(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", "doctor"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)


def line_of(stdout: str, judge: str) -> str:
    """The result line under `- JUDGE (...)`."""
    lines = stdout.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(f"- {judge} ("):
            return lines[i + 1]
    raise AssertionError(f"no line for {judge}:\n{stdout}")


def test_doctor_says_what_works_with_versions_features_and_options() -> None:
    result = doctor(dict(os.environ))
    assert result.returncode == 0, result.stdout + result.stderr
    assert line_of(result.stdout, "local").strip().startswith("ok: answered")
    assert f"llama-cpp-python {version('llama-cpp-python')}" in result.stdout
    assert "use_extra_bufts=False" in result.stdout and "n_ctx=4096" in result.stdout
    assert "llama.cpp sees: CPU :" in result.stdout
    name, flags = cpu_summary()
    assert f"CPU: {name}; features: {' '.join(flags)}" in result.stdout
    assert "llama-server (" in result.stdout  # the server judge is checked too (its extra is installed)


def test_a_crashing_default_judge_is_reported_and_exits_1() -> None:
    result = doctor({**os.environ, CRASH_HOOK: "SIGSEGV@1"})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "SIGSEGV" in line_of(result.stdout, "local")
    assert "Traceback" not in result.stdout + result.stderr
    assert line_of(result.stdout, "llama-server").strip().startswith("ok")  # the doctor went on
    assert "cannot answer" in result.stdout.splitlines()[-1]


def test_cpu_summary_reads_the_flags_that_matter(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu avx2 amx_int8 sse\n\n"
                       "processor\t: 1\nmodel name\t: Test CPU\nflags\t\t: fpu avx2 amx_int8 sse\n")
    assert cpu_summary(cpuinfo) == ("Test CPU", ["avx2", "amx_int8"])
