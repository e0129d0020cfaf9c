"""harness.plugins, harness.registry, harness.hookspecs and `harness plugins`.

Third-party plugins are real distributions: a `NAME-VERSION.dist-info` folder with METADATA and
entry_points.txt next to the plugin's modules, found through sys.path / PYTHONPATH exactly as an
installed package is.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import subprocess
import sys
import textwrap
import types
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness import hookspecs
from harness.errors import BadInput
from harness.hookspecs import hookimpl
from harness.models import JudgeRequest, JudgeSpec, Message
from harness.plugins import BUILTIN_DISTRIBUTION, DISABLE_AUTOLOAD_ENV, load_plugins, new_plugin_manager
from harness.registry import Registry

#: The judge backends harness itself registers (harness/judges/builtin.py), named here by hand.
BUILTIN_JUDGES = {"local", "openai", "vllm", "vllm-server", "llama-server", "replay"}

BROKEN = """
raise ImportError("hx_broken needs pip install 'frobnicate[fast]' [/oops]")
"""

EXTRA = """
from pydantic import BaseModel

from harness.hookspecs import hookimpl
from harness.judges.base import JudgeBackend
from harness.models import JudgeResponse
from harness.protocol import Aggregate, Task, TaskKind


class EchoConfig(BaseModel):
    loud: bool = False


class EchoTask(Task):
    def build_requests(self):
        return []

    def parse(self, request, response):
        return {"text": response.text}

    def aggregate(self, verdicts):
        raise NotImplementedError


class EchoBackend(JudgeBackend):
    async def complete(self, request):
        return JudgeResponse(text="echo: " + request.messages[-1].content, model=self.spec.model)


@hookimpl
def harness_register_task_kinds(register):
    register(TaskKind(name="echo", config_model=EchoConfig, task_class=EchoTask, description="echoes"))


@hookimpl
def harness_register_judges(register):
    register("echo-judge", EchoBackend)
"""

TYPO = """
from harness.hookspecs import hookimpl


@hookimpl
def harness_regster_judges(register):
    register("typo-judge", None)
"""

DUPLICATE = """
from pydantic import BaseModel

from harness.hookspecs import hookimpl
from harness.protocol import TaskKind
from harness_plugins.pairwise.task import PairwiseTask


class Options(BaseModel):
    pass


@hookimpl
def harness_register_task_kinds(register):
    register(TaskKind(name="pairwise", config_model=Options, task_class=PairwiseTask))
"""

THIRD_PARTY_MODULES = ("hx_broken", "hx_extra", "hx_typo", "hx_dup")


def make_distribution(site: Path, name: str, entry_points: dict[str, str], modules: dict[str, str]) -> Path:
    """A distribution as pip leaves it in site-packages (metadata + modules)."""
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(
        "[harness]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items()), encoding="utf-8"
    )
    (info / "RECORD").write_text("", encoding="utf-8")
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return site


def extras_site(root: Path) -> Path:
    return make_distribution(
        root / "site_extras", "harness-extras",
        {"broken": "hx_broken", "extra": "hx_extra", "typo": "hx_typo"},
        {"hx_broken": BROKEN, "hx_extra": EXTRA, "hx_typo": TYPO},
    )


def dup_site(root: Path) -> Path:
    return make_distribution(root / "site_dup", "harness-dup", {"dup": "hx_dup"}, {"hx_dup": DUPLICATE})


def run_harness(args: list[str], cwd: Path, pythonpath: Path | None = None,
                extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HARNESS_DEBUG", DISABLE_AUTOLOAD_ENV)}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    env.update(extra_env or {})
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def builtin_plugins() -> set[str]:
    """The plugins the project's own distribution declares as entry points (read from its metadata)."""
    from importlib.metadata import entry_points

    declared = {ep.name for ep in entry_points(group="harness") if ep.dist and ep.dist.metadata["Name"] == BUILTIN_DISTRIBUTION}
    assert {"judges", "pairwise"} <= declared
    return declared


def builtin_protocols() -> set[str]:
    """Every built-in plugin but the judges, the importers and `harness audit` registers one
    protocol under its own name."""
    return builtin_plugins() - {"judges", "importers", "audit"}


def listed(stdout: str, label: str) -> set[str]:
    """The names on a `label: a, b, c` line of `harness plugins`."""
    [line] = [line for line in stdout.splitlines() if line.startswith(label + ":")]
    return {name.strip() for name in line.split(":", 1)[1].split(",") if name.strip()}


def table_rows(stdout: str) -> dict[str, str]:
    """Plugin name -> the text of its table row (continuation lines joined)."""
    rows: dict[str, str] = {}
    current = None
    for line in stdout.splitlines():
        if not line.startswith("│"):
            current = None
            continue
        first = line.strip("│").split("│")[0].strip()
        if first:
            current = first
            rows[current] = line
        elif current:
            rows[current] += " " + line
    return rows


# -- the CLI, in subprocesses run concurrently ---------------------------------------------------


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess[str]]:
    root = tmp_path_factory.mktemp("plugin_sites")
    extras, dup = extras_site(root), dup_site(root)
    jobs = {
        "extras": (["plugins"], extras, None),
        "blocked": (["--block-plugin", "extra", "--block-plugin", "broken", "plugins"], extras, None),
        "no_autoload": (["plugins"], extras, {DISABLE_AUTOLOAD_ENV: "1"}),
        "dup": (["plugins"], dup, None),
    }
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(run_harness, args, root, site, env) for name, (args, site, env) in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


def test_cli_lists_builtins_and_third_party(cli) -> None:
    result = cli["extras"]
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    rows = table_rows(result.stdout)
    # built-ins still there, marked as such, from this project's distribution
    for name, hook in (("judges", "harness_register_judges"), ("pairwise", "harness_register_task_kinds")):
        assert BUILTIN_DISTRIBUTION in rows[name] and "built-in" in rows[name] and hook in rows[name]
    # (b) the working plugin: its hooks, its distribution, and what it registered
    assert "harness-extras 1.0" in rows["extra"] and "loaded" in rows["extra"]
    assert "harness_register_task_kinds" in rows["extra"] and "harness_register_judges" in rows["extra"]
    assert listed(result.stdout, "protocols") == builtin_protocols() | {"echo"}
    assert listed(result.stdout, "judge backends") == {*BUILTIN_JUDGES, "echo-judge"}
    # (a) the plugin whose import raises: skipped by name, with its reason
    assert "skipped" in rows["broken"]
    assert "'frobnicate[fast]'" in rows["broken"] and "[/oops]" in rows["broken"]  # shown as text, not markup
    # (c) the misspelled hook: skipped, and nothing it meant to register is there
    assert "skipped" in rows["typo"]
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == 2
    [broken] = [w for w in warnings if "'broken'" in w]
    assert "skipped" in broken and "'frobnicate[fast]' [/oops]" in broken
    [typo] = [w for w in warnings if "'typo'" in w]
    assert "skipped" in typo and "unknown hook" in typo and "harness_regster_judges" in typo


def test_cli_block_plugin(cli) -> None:
    result = cli["blocked"]
    assert result.returncode == 0, result.stderr
    rows = table_rows(result.stdout)
    assert "extra" not in rows and "broken" not in rows
    assert {"judges", "pairwise", "typo"} <= set(rows)
    assert listed(result.stdout, "protocols") == builtin_protocols()
    assert listed(result.stdout, "judge backends") == BUILTIN_JUDGES
    assert "'broken'" not in result.stderr and "'typo'" in result.stderr


def test_cli_autoload_disabled_keeps_builtins(cli) -> None:
    result = cli["no_autoload"]
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""
    assert set(table_rows(result.stdout)) == builtin_plugins()
    assert listed(result.stdout, "protocols") == builtin_protocols()
    assert listed(result.stdout, "judge backends") == BUILTIN_JUDGES


def test_cli_duplicate_protocol_is_a_clear_error(cli) -> None:
    result = cli["dup"]
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("harness: error: ")
    assert "'pairwise'" in line and "'dup'" in line and "--block-plugin" in line


def test_no_top_level_plugins_module(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    missing = subprocess.run([sys.executable, "-c", "import plugins"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0
    assert "No module named 'plugins'" in missing.stderr
    present = subprocess.run(
        [sys.executable, "-c", "import harness_plugins, harness_prompts; print(harness_plugins.__name__)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    assert present.returncode == 0, present.stderr
    assert present.stdout.strip() == "harness_plugins"


# -- in-process: the same distributions through load_plugins ------------------------------------


@pytest.fixture
def forget_third_party() -> Iterator[None]:
    yield
    for name in THIRD_PARTY_MODULES:
        sys.modules.pop(name, None)


@pytest.fixture
def extras_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forget_third_party: None) -> Path:
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    site = extras_site(tmp_path)
    monkeypatch.syspath_prepend(str(site))
    return site


def test_builtins_load_through_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    loaded = load_plugins()
    infos = {p.name: p for p in loaded.plugins}
    assert {"judges", "pairwise"} <= set(infos)
    assert infos["judges"].builtin and infos["pairwise"].builtin
    assert infos["judges"].source.startswith(f"{BUILTIN_DISTRIBUTION} ")
    assert "harness.judges.builtin" in infos["judges"].source
    assert "harness_plugins.pairwise" in infos["pairwise"].source
    assert infos["judges"].hooks == ["harness_register_judges"]
    assert infos["pairwise"].hooks == ["harness_register_task_kinds"]
    assert infos["judges"].error is None and infos["pairwise"].error is None
    assert loaded.manager.get_plugin("pairwise") is sys.modules["harness_plugins.pairwise"]
    registry = Registry.collect(loaded.manager)
    assert "pairwise" in registry.task_kinds
    assert {"local", "openai"} <= set(registry.judges)


def test_fresh_manager_per_call() -> None:
    class Observer:
        @hookimpl
        def harness_verdict_recorded(self, verdict):
            pass

    first = load_plugins(extra=[Observer()])
    second = load_plugins()
    assert first.manager is not second.manager
    assert any(p.name == "Observer" for p in first.plugins)
    assert not any(p.name == "Observer" for p in second.plugins)
    assert len(first.manager.hook.harness_verdict_recorded.get_hookimpls()) == 1
    assert second.manager.hook.harness_verdict_recorded.get_hookimpls() == []


def test_third_party_distribution_in_process(extras_on_path: Path) -> None:
    loaded = load_plugins()
    infos = {p.name: p for p in loaded.plugins}
    names = [p.name for p in loaded.plugins]
    assert names.index("pairwise") < names.index("extra")  # built-ins first
    assert infos["extra"].error is None and not infos["extra"].builtin
    assert infos["extra"].source == "harness-extras 1.0 (entry point hx_extra)"
    assert infos["extra"].hooks == ["harness_register_judges", "harness_register_task_kinds"]
    assert "frobnicate" in infos["broken"].error and infos["broken"].hooks == []
    assert "unknown hook" in infos["typo"].error
    assert {p.name for p in loaded.failures} == {"broken", "typo"}
    assert loaded.manager.get_plugin("typo") is None  # unregistered again
    assert loaded.manager.get_plugin("broken") is None

    registry = Registry.collect(loaded.manager)
    assert set(registry.task_kinds) == builtin_protocols() | {"echo"}
    assert registry.task_kinds["echo"].description == "echoes"
    assert "typo-judge" not in registry.judges
    backend = registry.judge_factory("echo-judge")(JudgeSpec.parse("echo-judge:parrot"))
    request = JudgeRequest(id="r", item_id="i", messages=(Message(role="user", content="ping"),))
    response = asyncio.run(backend.complete(request))
    assert (response.text, response.model) == ("echo: ping", "parrot")


def test_blocked_and_autoload_in_process(extras_on_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = load_plugins(blocked=("extra", "typo"))
    assert {p.name for p in blocked.plugins} == builtin_plugins() | {"broken"}
    assert "echo" not in Registry.collect(blocked.manager).task_kinds
    only_builtins = load_plugins(autoload=False)
    assert {p.name for p in only_builtins.plugins} == builtin_plugins()
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    assert {p.name for p in load_plugins().plugins} == builtin_plugins()
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "0")
    assert "extra" in {p.name for p in load_plugins().plugins}
    # a built-in can be blocked too (then its protocol is gone)
    assert "pairwise" not in Registry.collect(load_plugins(blocked=("pairwise",), autoload=False).manager).task_kinds


def test_duplicate_protocol_names_both_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               forget_third_party: None) -> None:
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    monkeypatch.syspath_prepend(str(dup_site(tmp_path)))
    loaded = load_plugins()
    assert "dup" in {p.name for p in loaded.plugins} and not loaded.failures
    with pytest.raises(BadInput) as info:
        Registry.collect(loaded.manager)
    assert "'pairwise'" in str(info.value) and "'dup'" in str(info.value)
    assert "pairwise" in Registry.collect(load_plugins(blocked=("dup",)).manager).task_kinds


def test_duplicate_judge_backend() -> None:
    class Again:
        @hookimpl
        def harness_register_judges(self, register):
            register("openai", lambda spec: None)

    loaded = load_plugins(extra=[Again()], autoload=False)
    with pytest.raises(BadInput, match=r"judge backend 'openai'.*'judges'.*'Again'|judge backend 'openai'.*'Again'.*'judges'"):
        Registry.collect(loaded.manager)


def test_plugin_whose_hook_raises_is_named() -> None:
    class Exploding:
        @hookimpl
        def harness_register_task_kinds(self, register):
            raise RuntimeError("kaboom")

    loaded = load_plugins(extra=[Exploding()], autoload=False)
    with pytest.raises(BadInput) as info:
        Registry.collect(loaded.manager)
    assert "'Exploding'" in str(info.value) and "kaboom" in str(info.value)


def test_misspelled_hook_without_marker_is_rejected() -> None:
    plugin = types.ModuleType("typo_module")
    plugin.harness_register_judge = lambda register: None  # missing "s", no @hookimpl
    loaded = load_plugins(extra=[plugin], autoload=False)
    [info] = [p for p in loaded.plugins if p.name == "typo_module"]
    assert "unknown hook 'harness_register_judge'" in info.error
    assert not loaded.manager.is_registered(plugin)


def test_extra_plugin_with_a_taken_name() -> None:
    impostor = types.ModuleType("pairwise")
    loaded = load_plugins(extra=[impostor], autoload=False)
    errors = [p.error for p in loaded.plugins if p.name == "pairwise" and p.error]
    assert errors and "already loaded" in errors[0]
    assert not loaded.manager.is_registered(impostor)


def test_unknown_names_in_registry() -> None:
    registry = Registry.collect(load_plugins(autoload=False).manager)
    known = ", ".join(sorted(builtin_protocols()))
    with pytest.raises(BadInput, match=rf"task.yaml: protocol: unknown protocol 'rubrik' \(known: {known}\)"):
        registry.task_kind("rubrik", "task.yaml: protocol")
    with pytest.raises(BadInput, match=r"unknown judge backend 'gpt'.*local, openai"):
        registry.judge_factory("gpt")


def test_hookspecs_are_prefixed_and_documented() -> None:
    specs = {name: fn for name, fn in vars(hookspecs).items()
             if inspect.isfunction(fn) and hasattr(fn, "harness_spec")}
    assert {"harness_register_task_kinds", "harness_register_judges"} <= set(specs)
    for name, fn in specs.items():
        assert name.startswith("harness_"), name
        assert (inspect.getdoc(fn) or "").strip(), f"{name} has no docstring"
    # every hook the manager knows comes from these specs
    pm = new_plugin_manager()
    hook_names = {name for name in vars(pm.hook) if not name.startswith("_")}
    assert hook_names == set(specs)
    # no plain function in the module is an undecorated would-be spec
    plain = {name for name, fn in vars(hookspecs).items()
             if inspect.isfunction(fn) and name.startswith("harness_") and name not in specs}
    assert plain == set()
