"""A million verdicts end to end (issue 21): import, aggregate and report of a synthetic AlpacaEval-
shaped leaderboard, with wall time, CPU time and peak RSS of every step, and the numbers checked
against another harness version on a subsample.

    python bench/million_verdicts.py [--models 100] [--items 5000] [--answer-chars 1500]
                                     [--repeat 3] [--reference PYTHON] [--sample-models 4]
                                     [--work DIR] [--alpaca DIR]

1. Writes `--models` AlpacaEval files (`<model>/annotations.json`), `--items` instructions each,
   against one baseline: answers of realistic length (log-normal around `--answer-chars`
   characters), soft preferences drawn from the length-controlled GLM with planted strengths.
2. `harness import alpaca_eval` of those files (one verdict per (model, item), baseline in A).
3. Adds every verdict's other presentation order (model in A, level and distribution mirrored)
   to the imported store: models x items x 2 verdicts (1,000,000 with the defaults).
4. `harness aggregate` and `harness report` of that run directory, `--repeat` times each, cold
   (the run directory's memo of bootstraps removed before each: everything computed) and warm
   (the memo an earlier command left, as a user's second command meets it).
   Each step runs in a fresh process; peak RSS is that process's (getrusage of the children
   of a one-step launcher).
5. With `--reference PYTHON` (the interpreter of a venv holding the harness version to compare
   with, e.g. the last release), the first `--sample-models` models' verdicts are aggregated
   by both (import, other order added, aggregate) and every number of scores.csv and ranking.csv
   must agree to 1e-9 (the CSV files are compared byte for byte too, verdicts.jsonl by its records).
6. `--alpaca DIR`: also import, aggregate and report a real AlpacaEval folder (e.g. the one
   bench/alpaca_case.py writes, the 58-model case): medians of `--repeat` runs; with
   `--reference`, the reference's steps too (alternately, CPU ratios printed) and every file of
   the two run directories compared. `--models 0` times only that folder.

Prints medians (wall, CPU) and the largest peak RSS of each step (MiB and decimal GB), whether
each meets the issue's target, and the report page's size.
Both harness versions are byte-compiled first, as an installed package is (see `byte_compile`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

BASELINE = "baseline-model"
#: The issue's limits: every step of the million-verdict run under 30 s and 2 GB (decimal) of
#: peak RSS; the 58-model AlpacaEval case's import under 3 s, aggregate and report under 2 s.
MILLION_TARGET = (30.0, 2e9)
ALPACA_TARGET_S = {"import alpaca_eval": 3.0, "aggregate": 2.0, "report": 2.0}
MIRROR = {"A>>B": "B>>A", "A>B": "B>A", "A=B": "A=B", "B>A": "A>B", "B>>A": "A>>B"}
#: Runs one command and prints its wall time, CPU time and peak RSS (kB) as JSON on the last line.
LAUNCHER = (
    "import json, resource, subprocess, sys, time\n"
    "start = time.perf_counter()\n"
    "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)\n"
    "wall = time.perf_counter() - start\n"
    "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(json.dumps({'rc': done.returncode, 'wall': wall, 'cpu': usage.ru_utime + usage.ru_stime,\n"
    "                  'rss_kb': usage.ru_maxrss, 'stderr': done.stderr[-2000:]}))\n"
)


def write_alpaca_files(folder: Path, models: int, items: int, answer_chars: int, seed: int = 0) -> list[Path]:
    """AlpacaEval annotation files with planted GLM preferences; returns their paths."""
    rng = np.random.default_rng(seed)
    filler = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz      .,\n"), 1 << 16))
    filler = filler * (1 + 8 * answer_chars // len(filler))

    def text(length: int, offset: int) -> str:
        start = offset % (len(filler) - length - 1)
        return filler[start:start + length]

    instructions = [f"Instruction {i}: " + text(int(rng.integers(40, 400)), i * 7919) for i in range(items)]
    gamma = rng.normal(0.0, 1.0, items)
    base_len = np.maximum(20, rng.lognormal(np.log(answer_chars), 0.5, items)).astype(int)
    base_out = [text(int(n), i * 104729) for i, n in enumerate(base_len)]
    paths = []
    for m in range(models):
        name = f"model-{m:03d}"
        theta, phi, psi = rng.normal(0, 0.8), abs(rng.normal(0.8, 0.3)), rng.normal(1.0, 0.2)
        lengths = np.maximum(20, rng.lognormal(np.log(answer_chars) + rng.normal(0, 0.3), 0.5, items)).astype(int)
        diff = lengths - base_len
        z = theta + phi * np.tanh(diff / (diff.std() or 1.0)) + psi * gamma
        p = np.clip(1.0 / (1.0 + np.exp(-z)) + rng.normal(0, 0.05, items), 0.0, 1.0)
        rows = [{"instruction": instructions[i], "output_1": base_out[i], "generator_1": BASELINE,
                 "dataset": f"set-{i % 5}", "output_2": text(int(lengths[i]), (m + 1) * 7 + i * 31),
                 "generator_2": name, "annotator": "synthetic_judge", "preference": float(1.0 + p[i])}
                for i in range(items)]
        path = folder / name / "annotations.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rows))
        paths.append(path)
    return paths


def add_other_order(run: Path) -> int:
    """Append, for every stored verdict, the same judgment in the other presentation order;
    drop the export so the store's order is the run's. Returns the verdict count."""
    store = run / "store.jsonl"
    lines = store.read_bytes().splitlines()
    with store.open("ab") as handle:
        for raw in lines:
            record = json.loads(raw)
            data = dict(record["data"])
            data["model_a"], data["model_b"] = data["model_b"], data["model_a"]
            data["len_a"], data["len_b"] = data["len_b"], data["len_a"]
            data["order"] = "ab" if data["order"] == "ba" else "ba"
            if "level" in data:
                data["level"] = MIRROR[data["level"]]
            if "probs" in data:
                data["probs"] = {MIRROR[k]: v for k, v in data["probs"].items()}
            request_id = record["request_id"].rsplit("::", 1)[0] + "::" + data["order"]
            mirrored = {**record, "data": data, "request_id": request_id,
                        "request_key": hashlib.sha256(request_id.encode()).hexdigest()[:32]}
            handle.write(json.dumps(mirrored, ensure_ascii=False, sort_keys=True).encode() + b"\n")
    (run / "verdicts.jsonl").unlink(missing_ok=True)
    return 2 * len(lines)


def measure(command: list[str], python: str = sys.executable, cwd: Path | None = None) -> dict:
    """One step in a fresh process: wall, CPU and peak RSS; exits on a failed step."""
    # run outside any source tree, so `python -m harness.cli` imports the harness installed for `python`
    done = subprocess.run([python, "-c", LAUNCHER, *command], capture_output=True, text=True, check=True,
                          cwd=cwd or tempfile.gettempdir())
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["rc"] not in (0,):
        raise SystemExit(f"{' '.join(command)}: exit {result['rc']}: {result['stderr'].strip()[-500:]}")
    return result


def timed(label: str, command: list[str], repeat: int, before=None, python: str = sys.executable,
          cwd: Path | None = None, target: tuple[float, float | None] | None = None) -> dict:
    """Median wall and CPU, largest peak RSS of `repeat` runs. `target`: (seconds, bytes or None),
    the issue's limits, said met or not after the figures. getrusage's ru_maxrss is in KiB: the
    peak is printed in MiB and in decimal GB (the unit of "< 2 GB")."""
    runs = []
    for _ in range(repeat):
        if before is not None:
            before()
        runs.append(measure(command, python=python, cwd=cwd))
    peak_bytes = max(r["rss_kb"] for r in runs) * 1024
    summary = {"step": label, "wall_s": statistics.median(r["wall"] for r in runs),
               "cpu_s": statistics.median(r["cpu"] for r in runs), "peak_rss_mb": peak_bytes / 2**20}
    verdict = ""
    if target is not None:
        seconds, limit = target
        met = summary["wall_s"] < seconds and (limit is None or peak_bytes < limit)
        verdict = (f"   target < {seconds:g} s" + (f", < {limit / 1e9:g} GB" if limit else "")
                   + (": met" if met else ": NOT met"))
    print(f"  {label:<34} wall {summary['wall_s']:7.2f} s   cpu {summary['cpu_s']:7.2f} s   "
          f"peak RSS {summary['peak_rss_mb']:6.0f} MiB = {peak_bytes / 1e9:5.2f} GB   (median of {repeat}){verdict}",
          flush=True)
    return summary


def harness_cli(python: str = sys.executable) -> list[str]:
    return [python, "-m", "harness.cli"]


def both_orders_run(python: str, files: list[str], out: Path) -> dict:
    """Import `files` with the harness of `python`, add the other order, aggregate; the aggregate's figures."""
    measure([*harness_cli(python), "import", "alpaca_eval", *files, "--out", str(out)], python=python)
    add_other_order(out)
    return measure([*harness_cli(python), "aggregate", str(out)], python=python)


def compare_numbers(ours: Path, theirs: Path) -> float:
    """The largest difference between the numbers of two runs' scores.csv and ranking.csv;
    exits when their columns or non-numeric cells differ."""
    import pandas as pd

    worst = 0.0
    for name in ("scores.csv", "ranking.csv"):
        a, b = pd.read_csv(ours / name), pd.read_csv(theirs / name)
        if list(a.columns) != list(b.columns) or a.shape != b.shape:
            raise SystemExit(f"{name}: columns or shape differ: {list(a.columns)} vs {list(b.columns)}")
        for column in a.columns:
            if pd.api.types.is_numeric_dtype(a[column]) and pd.api.types.is_numeric_dtype(b[column]):
                x, y = a[column].to_numpy(float), b[column].to_numpy(float)
                if not np.array_equal(np.isnan(x), np.isnan(y)):
                    raise SystemExit(f"{name}: {column}: missing values differ")
                both = ~np.isnan(x)
                worst = max(worst, float(np.max(np.abs(x[both] - y[both]), initial=0.0)))
            elif not a[column].fillna("").astype(str).equals(b[column].fillna("").astype(str)):
                raise SystemExit(f"{name}: {column}: text differs")
        same = (ours / name).read_bytes() == (theirs / name).read_bytes()
        print(f"  {name}: byte-identical: {same}")
    same = (ours / "verdicts.jsonl").read_bytes() == (theirs / "verdicts.jsonl").read_bytes()
    # a version that copies the store's own lines writes the other order's lines as add_other_order
    # wrote them (sorted keys): other bytes, the same records
    records = same or jsonl_records(ours / "verdicts.jsonl") == jsonl_records(theirs / "verdicts.jsonl")
    print(f"  verdicts.jsonl: byte-identical: {same}; the same records in the same order: {records}")
    if not records:
        raise SystemExit("verdicts.jsonl: the records differ")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--answer-chars", type=int, default=1500, help="median answer length")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each step (medians printed)")
    parser.add_argument("--reference", help="python of a venv with the harness version to compare numbers with")
    parser.add_argument("--sample-models", type=int, default=4, help="models in the equality subsample")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one, removed)")
    parser.add_argument("--alpaca", type=Path, help="also time a real AlpacaEval folder (<model>/annotations.json)")
    args = parser.parse_args()
    work = (args.work or Path(tempfile.mkdtemp(prefix="million-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    try:
        run(args, work)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


def alpaca_steps(folder: Path, work: Path, repeat: int, reference: str | None) -> None:
    """Import, aggregate and report a real AlpacaEval folder: medians of `repeat` runs, with the
    reference harness's steps timed alternately in the same run (CPU ratios printed), and every
    file of both run directories compared (run.json without its timestamps)."""
    files = sorted(str(p) for p in folder.glob("*/annotations.json"))
    print(f"AlpacaEval folder {folder}: {len(files)} files")
    pythons = {"this": sys.executable, **({"reference": reference} if reference else {})}
    runs = {label: work / label / "alpaca-run" for label in pythons}
    for out in runs.values():
        out.parent.mkdir(parents=True, exist_ok=True)
    # each step runs in its run's parent folder and names the run relatively: the report shows the
    # path it was given, so both reports show the same text
    # "cold": the run directory's memo (.memo/, the bootstraps an earlier command kept) removed
    # first, so every number is computed; "warm": as a user meets it, after the import's aggregate
    steps = {
        "import alpaca_eval": ["import", "alpaca_eval", *files, "--out", "alpaca-run"],
        "aggregate, cold": ["aggregate", "alpaca-run"],
        "aggregate, warm": ["aggregate", "alpaca-run"],
        "report, cold": ["report", "alpaca-run"],
        "report, warm": ["report", "alpaca-run"],
    }
    for step, arguments in steps.items():
        figures = {}
        for label, python in pythons.items():
            out = runs[label]
            clear = (lambda out=out: shutil.rmtree(out, ignore_errors=True)) if step.startswith("import") else (
                (lambda out=out: shutil.rmtree(out / ".memo", ignore_errors=True)) if step.endswith("cold") else None)
            figures[label] = timed(f"{step} ({label})", [*harness_cli(python), *arguments], repeat, before=clear,
                                   python=python, cwd=out.parent,
                                   target=(ALPACA_TARGET_S[step.split(",")[0]], None) if label == "this" else None)
        if reference:
            print(f"  {step}: CPU this / reference = {figures['this']['cpu_s'] / figures['reference']['cpu_s']:.2f}")
    if reference:
        differing = differing_files(runs["this"], runs["reference"])
        print(f"  run directories: {'every file identical' if not differing else 'DIFFER: ' + ', '.join(differing)}")


def differing_files(ours: Path, theirs: Path) -> list[str]:
    """Files that differ between two run directories (run.json compared without timestamps,
    JSON Lines files by their records)."""
    def without_times(value: object) -> object:
        if isinstance(value, dict):
            return {k: without_times(v) for k, v in value.items() if k != "at"}
        return [without_times(v) for v in value] if isinstance(value, list) else value

    names = {p.relative_to(d) for d in (ours, theirs) for p in d.rglob("*")
             if p.is_file() and p.name != ".lock" and ".memo" not in p.relative_to(d).parts}  # a cache
    differing = []
    for name in sorted(names):
        a, b = ours / name, theirs / name
        if not (a.is_file() and b.is_file()):
            differing.append(f"{name} (in one only)")
        elif name.name == "run.json":
            if without_times(json.loads(a.read_bytes())) != without_times(json.loads(b.read_bytes())):
                differing.append(str(name))
        elif name.suffix == ".jsonl":  # the same records: the lines' spacing and key order may differ by version
            if a.read_bytes() != b.read_bytes() and jsonl_records(a) != jsonl_records(b):
                differing.append(str(name))
        elif a.read_bytes() != b.read_bytes():
            differing.append(str(name))
    return differing


def jsonl_records(path: Path) -> list[object]:
    """A JSON Lines file's records, parsed (NaN as the standard library reads it)."""
    with path.open("rb") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def byte_compile(python: str) -> None:
    """Compile the harness `python` imports to bytecode, as pip does when it installs a wheel.
    An editable checkout is otherwise compiled by every command it runs whenever bytecode
    writing is off (PYTHONDONTWRITEBYTECODE, as on this project's machines): 90 modules, a
    sixth of a second of each step, which no installed harness pays."""
    code = ("import compileall, os, harness, harness_plugins\n"
            "for package in (harness, harness_plugins):\n"
            "    for folder in package.__path__:\n"
            "        compileall.compile_dir(folder, quiet=1)\n")
    subprocess.run([python, "-c", code], check=True, stdout=subprocess.DEVNULL)


def editable(python: str) -> bool:
    """Whether `python` imports the harness from an editable install (pip install -e): its import
    hook costs each command about 0.3 s of start-up that an installed wheel does not pay, so
    timings of an editable checkout against a wheel are not like for like."""
    code = ("import importlib.metadata as m, json\n"
            "text = m.distribution('harness-eval').read_text('direct_url.json') or '{}'\n"
            "print(json.loads(text).get('dir_info', {}).get('editable', False))\n")
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=tempfile.gettempdir())
    return done.stdout.strip() == "True"


def run(args: argparse.Namespace, work: Path) -> None:
    cli = harness_cli()
    for python in (sys.executable, *([args.reference] if args.reference else [])):
        byte_compile(python)
    if args.reference and editable(sys.executable) != editable(args.reference):
        print("note: one of the two versions is an editable install, the other not: each command of the editable "
              "one starts about 0.3 s later; install both the same way (pip install DIR) to compare them")
    if args.alpaca:
        alpaca_steps(args.alpaca, work, args.repeat, args.reference)
        if args.models == 0:
            return
    print(f"synthetic: {args.models} models x {args.items} items, answers ~{args.answer_chars} characters")
    files = [str(p) for p in write_alpaca_files(work / "alpaca", args.models, args.items, args.answer_chars)]
    sample = [shutil.copytree(Path(f).parent, work / "sample" / Path(f).parent.name) / "annotations.json"
              for f in files[: args.sample_models]]
    size = sum(Path(f).stat().st_size for f in files) / 1e6
    imported = work / "imported"
    timed(f"import ({len(files)} files, {size:.0f} MB)", [*cli, "import", "alpaca_eval", *files, "--out", str(imported)],
          1, before=lambda: shutil.rmtree(imported, ignore_errors=True), target=MILLION_TARGET)
    shutil.rmtree(work / "alpaca")
    big = work / "both-orders"
    shutil.copytree(imported, big)
    count = add_other_order(big)
    print(f"run directory with both orders: {count:,} verdicts, store {(big / 'store.jsonl').stat().st_size / 1e6:.0f} MB")
    memo = big / ".memo"
    timed("aggregate, cold", [*cli, "aggregate", str(big)], args.repeat, before=lambda: shutil.rmtree(memo, True),
          target=MILLION_TARGET)
    timed("aggregate, warm", [*cli, "aggregate", str(big)], args.repeat, target=MILLION_TARGET)
    timed("report, cold", [*cli, "report", str(big)], args.repeat, before=lambda: shutil.rmtree(memo, True),
          target=MILLION_TARGET)
    timed("report, warm", [*cli, "report", str(big)], args.repeat, target=MILLION_TARGET)
    print(f"  report.html: {(big / 'report.html').stat().st_size / 1e6:.2f} MB")
    if not args.reference:
        print("numbers: not compared (give --reference PYTHON, a venv with the version to compare with)")
        return
    ours, theirs = work / "sample-ours", work / "sample-reference"
    both_orders_run(sys.executable, [str(p) for p in sample], ours)
    reference = both_orders_run(args.reference, [str(p) for p in sample], theirs)
    print(f"subsample of {len(sample)} models, both orders: reference aggregate {reference['wall']:.1f} s")
    worst = compare_numbers(ours, theirs)
    print(f"  largest difference of any number: {worst:.3g} ({'OK' if worst <= 1e-9 else 'ABOVE 1e-9'})")


if __name__ == "__main__":
    main()
