"""Start `python -m llama_cpp.server` with the embedded judge's model on a free loopback port.

A real OpenAI-compatible peer for tests of the openai backend: it sends what real servers send
(logprob layout, usage, error bodies), with no network and no mocks.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LLAMA_SERVER_KEY = "sk-llama-local-31337"
STARTUP_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_ready(process: subprocess.Popen[bytes], base_url: str, key: str, log: Path) -> None:
    """Poll GET /v1/models until it answers; raise early, with the log, if the server dies."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    request = urllib.request.Request(f"{base_url}/models", headers={"Authorization": f"Bearer {key}"})
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200 and json.load(response)["data"]:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.25)
    raise RuntimeError(f"llama_cpp.server not ready after {STARTUP_TIMEOUT_S:g}s:\n{log.read_text()[-3000:]}")


@contextmanager
def llama_server(log: Path, *, key: str = LLAMA_SERVER_KEY, alias: str = "smollm2", n_ctx: int = 4096) -> Iterator[str]:
    """Yield the base URL of a running server; always stop it afterwards."""
    from harness.judges.local import default_model_path

    port = free_port()
    # Through the harness's launcher: llama_cpp.server's own defaults crash on AMX CPUs (issue 25).
    command = [sys.executable, "-m", "harness.judges.llama_server_main", "--model", str(default_model_path()),
               "--model_alias", alias, "--host", "127.0.0.1", "--port", str(port),
               "--n_ctx", str(n_ctx), "--logits_all", "true", "--api_key", key, "--verbose", "false"]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_until_ready(process, base_url, key, log)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
