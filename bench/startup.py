"""Start-up cost of the harness commands (issue 21): what a user waits for before any number is
computed, and the whole small command, each in a fresh process.

    python bench/startup.py [--repeat 5] [--reference PYTHON] [--alpaca DIR] [--only TEXT]

Rows, each the median of `--repeat` fresh processes (wall and CPU = user + system of the child):
- `harness --help`: the CLI with its plugins and nothing else;
- `imports of CMD`: a fresh interpreter importing, in the same order, every module that `CMD`
  had loaded when it finished (collected once per interpreter: lazy imports made during the
  command count), so the start-up of each command without its arithmetic;
- `harness import alpaca_eval`, `harness aggregate RUN`, `harness report RUN`: the whole
  commands on the small case, the 6-model AlpacaEval import of ../shared/data (4,830 verdicts).

With `--reference PYTHON` (the interpreter of a venv with the harness version to compare with)
its rows are measured too, alternately with this interpreter's in every repetition (a busy
machine slows both alike), and the ratios this / reference printed: of the medians, and the
median of each repetition's own CPU ratio (the two runs next to each other in time, which a
load that comes and goes disturbs least). Each side imports the run
it aggregates and reports on with its own harness.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ALPACA = Path(__file__).resolve().parents[2] / "shared" / "data" / "alpaca_eval"
#: Run a harness command in this interpreter as the console script does, then print the names of
#: the modules it loaded, in import order, as JSON on the last line of stderr.
COLLECT = (
    "import json, sys\n"
    "from harness.cli import main\n"
    "try:\n    code = main(sys.argv[1:])\n"
    "finally:\n    print(json.dumps([m for m, v in sys.modules.items() if getattr(v, '__file__', None)]), file=sys.stderr)\n"
)
#: Import the modules named in argv[1] (a JSON file), in order; one that fails alone is skipped.
IMPORT_ALL = (
    "import importlib, json, sys\n"
    "for name in json.load(open(sys.argv[1])):\n"
    "    try:\n        importlib.import_module(name)\n"
    "    except Exception:\n        pass\n"
)


def timed(argv: list[str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one child process (it must succeed)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, cwd=cwd)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode not in (0, 1):  # 1: an incomplete run, still a full command
        raise SystemExit(f"{' '.join(argv[:4])}...: exit {result.returncode}\n{result.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


class Side:
    """One interpreter's commands, on its own copy of the small run."""

    def __init__(self, python: str, work: Path, files: list[Path]):
        """Every child runs in `work`: `python -c` puts its working directory first on sys.path,
        so started in a checkout, the reference's interpreter would import that checkout's harness."""
        self.python = python
        self.work = work
        work.mkdir(parents=True)
        self.files = files
        self.run = work / "run"
        cli = [python, "-c", "import sys; from harness.cli import main; sys.exit(main(sys.argv[1:]))"]
        self.commands: dict[str, list[str]] = {
            "harness --help": [*cli, "--help"],
            "harness import alpaca_eval": [*cli, "import", "alpaca_eval", *map(str, files), "--out", str(work / "imported")],
            "harness aggregate RUN": [*cli, "aggregate", str(self.run)],
            "harness report RUN": [*cli, "report", str(self.run), "--out", str(work / "report")],
        }
        subprocess.run([*cli, "import", "alpaca_eval", *map(str, files), "--out", str(self.run)],
                       check=True, capture_output=True, cwd=work)
        for name in ("harness import alpaca_eval", "harness aggregate RUN", "harness report RUN"):
            listing = work / f"{name.split()[1]}.modules.json"
            done = subprocess.run([python, "-c", COLLECT, *self.commands[name][3:]], capture_output=True, text=True, cwd=work)
            listing.write_text(done.stderr.strip().splitlines()[-1])
            self.commands[f"imports of {name.removeprefix('harness ')}"] = [python, "-c", IMPORT_ALL, str(listing)]
            self.clean()

    def clean(self) -> None:
        """Remove what the timed commands write, so every repetition starts alike."""
        for name in ("imported", "report"):
            subprocess.run(["rm", "-rf", str(self.work / name)], check=True)

    def measure(self, name: str) -> tuple[float, float]:
        figures = timed(self.commands[name], self.work)
        self.clean()
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="fresh processes per row and interpreter (default 5)")
    parser.add_argument("--reference", help="python of a venv with the harness version to compare with")
    parser.add_argument("--alpaca", type=Path, default=ALPACA, help="AlpacaEval folder (<model>/annotations.json)")
    parser.add_argument("--only", action="append", metavar="TEXT",
                        help="time only the rows whose name contains TEXT (repeatable), e.g. --only imports")
    args = parser.parse_args()
    files = sorted(args.alpaca.glob("*/annotations.json"))
    if not files:
        raise SystemExit(f"{args.alpaca}: no */annotations.json (the shared data folder is absent?)")
    with tempfile.TemporaryDirectory() as tmp:
        sides = {"this": Side(sys.executable, Path(tmp) / "this", files)}
        if args.reference:
            sides["reference"] = Side(args.reference, Path(tmp) / "reference", files)
        rows = [row for row in sides["this"].commands if not args.only or any(text in row for text in args.only)]
        times: dict[tuple[str, str], list[tuple[float, float]]] = {(s, r): [] for s in sides for r in rows}
        for _ in range(args.repeat):
            for row in rows:
                for side_name, side in sides.items():  # alternately, row by row
                    times[side_name, row].append(side.measure(row))
    median = {key: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for key, v in times.items()}
    print(f"{len(files)} AlpacaEval files; medians of {args.repeat} fresh processes; wall / CPU seconds")
    header = f"{'':32s} {'this wall':>10s} {'this CPU':>9s}"
    if args.reference:
        header += f" {'ref wall':>9s} {'ref CPU':>8s} {'wall ratio':>11s} {'CPU ratio':>10s} {'paired CPU':>11s}"
    print(header)
    for row in rows:
        wall, cpu = median["this", row]
        line = f"{row:32s} {wall:10.3f} {cpu:9.3f}"
        if args.reference:
            ref_wall, ref_cpu = median["reference", row]
            paired = statistics.median(a[1] / b[1] for a, b in zip(times["this", row], times["reference", row], strict=True))
            line += f" {ref_wall:9.3f} {ref_cpu:8.3f} {wall / ref_wall:11.2f} {cpu / ref_cpu:10.2f} {paired:11.2f}"
        print(line)
    print(json.dumps({f"{side}|{row}": value for (side, row), value in median.items()}))


if __name__ == "__main__":
    main()
