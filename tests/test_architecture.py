"""How the modules depend on each other, checked on the source tree: the core names no protocol,
imports form no cycle, and reading a report loads none of the run machinery."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from harness.plugins import load_plugins
from harness.registry import Registry
from tests.reports.test_report_command import make_pairwise_run

REPO = Path(__file__).resolve().parent.parent
#: Importers turn other tools' files into runs of the built-in protocols, and harness.testing's
#: planted judges answer them, so both name them; an item's `checklist` (questions a dataset may
#: carry, for any protocol) shares a protocol's name.
NAMES_PROTOCOLS = {"importers", "testing"}
ITEM_FIELD = {("harness.datasets", "checklist"), ("harness.models", "checklist")}


def modules() -> dict[str, Path]:
    """Every module of the harness and harness_plugins packages, by dotted name."""
    found = {}
    for base, package in ((REPO / "harness", "harness"), (REPO / "plugins", "harness_plugins")):
        for path in base.rglob("*.py"):
            if "answer_match" in path.parts:  # a separate distribution
                continue
            parts = [package, *path.relative_to(base).with_suffix("").parts]
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported(path: Path, known: set[str], *, type_only: bool = True) -> set[str]:
    """Modules of `known` that `path` imports, at module level or inside functions (a lazy import
    is still a dependency), and in `if TYPE_CHECKING:` blocks unless `type_only` is False (a
    type-only import is still a dependency of the reader, and of mypy)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if not type_only and isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.ImportFrom) and child.module:
                found.update({child.module, *(f"{child.module}.{alias.name}" for alias in child.names)})
            elif isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found & known


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_imports_form_no_cycle_counting_type_only_imports() -> None:
    mods = modules()
    # The package's own __init__ (imported before any of its modules anyway) is left out.
    known = set(mods) - {"harness", "harness_plugins"}
    graph = {name: imported(path, known) - {name} for name, path in mods.items() if name in known}
    assert cycles(graph) == []


def test_the_core_names_no_protocol() -> None:
    protocols = set(Registry.collect(load_plugins(autoload=False).manager).task_kinds)
    assert {"pairwise", "rubric", "checklist"} <= protocols
    named = []
    for name, path in modules().items():
        if not name.startswith("harness.") or name.split(".")[1] in NAMES_PROTOCOLS:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in protocols and (name, node.value) not in ITEM_FIELD:
                named.append(f"{name}:{node.lineno} {node.value!r}")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("harness_plugins"):
                named.append(f"{name}:{node.lineno} imports {node.module}")
    assert named == []


def test_reading_a_report_loads_no_run_machinery(tmp_path: Path) -> None:
    run = make_pairwise_run(tmp_path / "run")
    script = (
        "import sys\n"
        "from harness.reports.report import build_report\n"
        "from harness.reports.compare_output import build_comparison\n"
        f"build_report({str(run)!r}, out={str(tmp_path / 'out')!r}, n_rounds=20)\n"
        f"build_comparison([{str(run)!r}, {str(run)!r}], n_rounds=20)\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.split())
    assert "harness.reports.report" in loaded and "harness_plugins.pairwise.report" in loaded
    machinery = {"harness.running.execute", "harness.running.runner", "harness.running.cache", "harness.pricing", "harness.running.ratelimit",
                 "harness.api", "tenacity", "openai", "aiohttp"}
    assert loaded & machinery == set()


def test_the_architecture_table_names_every_module() -> None:
    """docs/architecture.md's table is where a newcomer looks a module up: each module of the core
    is named there by its file (`execute.py`, `running/execute.py` or `harness/running/execute.py`)."""
    table = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = [str(path.relative_to(REPO)) for path in sorted((REPO / "harness").rglob("*.py"))
               if path.name != "__init__.py" and f"{path.name}`" not in table and f"/{path.name}" not in table]
    assert missing == []


def test_the_core_keeps_few_flat_modules() -> None:
    """Modules that belong together live in a package named for what they hold (running, panel,
    protocol, judges, reports, ...); what stays flat in harness/ is the shared ground they use."""
    flat = sorted(path.stem for path in (REPO / "harness").glob("*.py") if path.name != "__init__.py")
    assert len(flat) <= 24, flat


def test_moved_modules_still_import_with_a_warning() -> None:
    """A plugin importing a module from its old place gets the module at its new one, warned."""
    from harness.moved_modules import MOVED

    script = (
        "import importlib, sys, warnings\n"
        "warnings.simplefilter('error', DeprecationWarning)\n"
        f"for old, new in {sorted(MOVED.items())!r}:\n"
        "    try:\n"
        "        importlib.import_module(old)\n"
        "    except DeprecationWarning as warning:\n"
        "        assert new in str(warning), warning\n"
        "    else:\n"
        "        raise SystemExit(f'{old}: no warning')\n"
        "warnings.simplefilter('ignore', DeprecationWarning)\n"
        f"for old, new in {sorted(MOVED.items())!r}:\n"
        "    assert importlib.import_module(old) is importlib.import_module(new), old\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_registering_the_builtin_judges_loads_no_backend() -> None:
    """Each backend module (and its SDK) loads only when that backend is used: declaring the
    backends' options reads their defaults from harness.judges.defaults, not from the backends."""
    script = (
        "import sys\n"
        "from harness.plugins import load_plugins\n"
        "from harness.registry import Registry\n"
        "registry = Registry.collect(load_plugins(autoload=False).manager)\n"
        "assert {'local', 'openai', 'vllm'} <= set(registry.judges)\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.split())
    backends = {"harness.judges.openai_compat", "harness.judges.balanced", "harness.judges.vllm_engine",
                "harness.judges.local", "harness.judges.llama_worker", "harness.judges.reachability", "openai", "aiohttp"}
    assert loaded & backends == set()
