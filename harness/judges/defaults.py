"""Default values of judge options, shared by the backends that use them and by the options models
that list them (harness.judges.options), so declaring a backend's options loads no backend."""

from __future__ import annotations

#: Consecutive endpoint failures that take an endpoint out of rotation (judge option `dead_after`).
DEAD_AFTER = 3
#: Seconds before an endpoint out of rotation gets one probe call (`probe_after_s`; 0: never).
PROBE_AFTER_S = 30.0

#: Connect failures in a row (judge option `unreachable_after`; 0: never stop early).
UNREACHABLE_AFTER = 8
#: ... spanning at least this many seconds (judge option `unreachable_after_s`).
UNREACHABLE_AFTER_S = 10.0

#: `options.transport` when the judge sets none (tests run the backend over both paths).
DEFAULT_TRANSPORT = "auto"

#: Judge options passed to `vllm.LLM(...)`, with the type each is read as.
ENGINE_OPTIONS: dict[str, type] = {
    "gpu_memory_utilization": float, "tensor_parallel_size": int, "pipeline_parallel_size": int,
    "max_model_len": int, "dtype": str, "quantization": str, "kv_cache_dtype": str, "max_num_seqs": int,
    "enforce_eager": bool, "trust_remote_code": bool, "enable_prefix_caching": bool, "seed": int,
    "download_dir": str, "revision": str, "tokenizer": str, "cpu_offload_gb": float, "kv_cache_memory_bytes": int,
}
#: Judge options once passed to `vllm.LLM` that are now dropped, with why. `swap_space` only ever
#: served V0's `best_of`; V1 ignores it, vLLM 0.18 deprecated it and later releases reject it.
DROPPED_OPTIONS: dict[str, str] = {
    "swap_space": "has no effect on vLLM's V1 engine and recent vLLM rejects it; it is not passed on",
}
