"""`python -m harness.judges.llama_server_main [--use_extra_bufts=true] SERVER ARGS...`: llama.cpp's
OpenAI server (`python -m llama_cpp.server`) with the harness's choice of weight buffer types.

Why a launcher: llama_cpp.server has no setting for `use_extra_bufts`, and with it on (llama.cpp's
default) llama-cpp-python 0.3.36 crashes on AMX CPUs (see llama_load). The launcher sets the
process's model defaults, then hands the remaining arguments to the server's own main.
"""

from __future__ import annotations

import sys

FLAG = "--use_extra_bufts="


def main(argv: list[str]) -> None:
    from llama_cpp.server.__main__ import main as server_main

    from harness.judges import llama_load

    use_extra_bufts = False
    if argv and argv[0].startswith(FLAG):
        use_extra_bufts = argv.pop(0)[len(FLAG):].lower() in ("true", "1")
    llama_load.set_process_default(use_extra_bufts)
    sys.argv = [sys.argv[0], *argv]
    server_main()


if __name__ == "__main__":
    main(sys.argv[1:])
