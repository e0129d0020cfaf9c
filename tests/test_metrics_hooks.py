"""The hooks that add to or observe a run: metrics and reporters (collected by the Registry, merged
by harness.metrics / run by harness.reporters), and the observation hooks, exercised through real
runs of the rubric protocol against a scripted judge on loopback (the harness_* pytest fixtures)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.errors import BadInput
from harness.hookspecs import hookimpl
from harness.metrics import apply_metrics, verdicts_frame
from harness.plugins import load_plugins
from harness.registry import Registry
from harness.reporters import run_reporters
from harness.store import STORE_FILE, read_store

ROWS = [
    {"id": "q1", "instruction": "Name a prime.", "reference": "7",
     "answers": {"a": "answer a1", "b": "answer b1"}},
    {"id": "q2", "instruction": "Name an even number.", "reference": "2",
     "answers": {"a": "answer a2", "b": "answer b2"}},
]
RUBRIC = {"preset": "prometheus", "n_bootstrap": 50}


def registry_of(*plugins: Any) -> Registry:
    return Registry.collect(load_plugins(extra=list(plugins), autoload=False).manager)


class OkCounts:
    """Counts each model's ok verdicts; a second metric covers only model a."""

    @hookimpl
    def harness_register_metrics(self, register):
        def ok_verdicts(verdicts: pd.DataFrame, scores: pd.DataFrame, manifest: dict) -> pd.DataFrame:
            ok = verdicts[verdicts["status"] == "ok"].groupby("model").size()
            return pd.DataFrame({"model": ok.index, "ok_verdicts": ok.to_numpy()})

        def only_a(verdicts: pd.DataFrame, scores: pd.DataFrame, manifest: dict) -> pd.DataFrame:
            assert "ok_verdicts" in scores.columns  # sees the previous metric's column
            return pd.DataFrame({"model": ["a"], "protocol_seen": [manifest["protocol"]["name"]]})

        register("ok_verdicts", ok_verdicts)
        register("only_a", only_a)


class NotMine:
    @hookimpl
    def harness_register_metrics(self, register):
        register("not_mine", lambda verdicts, scores, manifest: None)


class Overwriter:
    @hookimpl
    def harness_register_metrics(self, register):
        register("rescore", lambda verdicts, scores, manifest: pd.DataFrame({"model": ["a"], "score": [99.0]}))


class Crashing:
    @hookimpl
    def harness_register_metrics(self, register):
        register("divide", lambda verdicts, scores, manifest: 1 / 0)


class ModelList:
    @hookimpl
    def harness_register_reporters(self, register):
        def write(run: Any, out_dir: Path) -> list[Path]:
            path = out_dir / "models.txt"
            path.write_text(",".join(sorted(run.scores["model"])), encoding="utf-8")
            return [path]

        register("models", write)


class Liar:
    @hookimpl
    def harness_register_reporters(self, register):
        register("liar", lambda run, out_dir: [out_dir / "never-written.html"])


@pytest.fixture
def scored_run(harness_judge_server, harness_run_task):
    """a: 5 and 3; b: 2 and an unreadable reply (invalid)."""
    judge = harness_judge_server
    judge.when("answer a1", "Fine.\n[[5]]").when("answer a2", "Weak.\n[[3]]")
    judge.when("answer b1", "Poor.\n[[2]]").when("answer b2", "I cannot grade this.")
    return harness_run_task("rubric", ROWS, options=RUBRIC)


# -- metrics --------------------------------------------------------------------------------------


def test_metric_columns_land_in_the_merged_scores(scored_run) -> None:
    scores = scored_run.scores
    assert dict(zip(scores["model"], scores["score"])) == {"a": 4.0, "b": 2.0}  # (5 + 3) / 2; 2 alone
    merged = apply_metrics(registry_of(OkCounts(), NotMine()), scored_run.verdicts, scores, scored_run.manifest)
    assert list(merged.columns) == [*scores.columns, "ok_verdicts", "protocol_seen"]
    rows = merged.set_index("model")
    assert rows.loc["a", "ok_verdicts"] == 2 and rows.loc["b", "ok_verdicts"] == 1
    assert rows.loc["a", "protocol_seen"] == "rubric" and pd.isna(rows.loc["b", "protocol_seen"])
    pd.testing.assert_frame_equal(merged[scores.columns], scores)  # protocol columns untouched
    assert "ok_verdicts" not in scores.columns  # the input is not modified


def test_no_metrics_leaves_scores_as_they_are(scored_run) -> None:
    merged = apply_metrics(registry_of(NotMine()), scored_run.verdicts, scored_run.scores, scored_run.manifest)
    pd.testing.assert_frame_equal(merged, scored_run.scores)


def test_verdicts_frame_matches_what_load_run_reads(scored_run) -> None:
    stored = read_store(scored_run.directory / STORE_FILE).values()
    fresh = verdicts_frame(stored).sort_values("request_id").reset_index(drop=True)
    loaded = scored_run.verdicts.sort_values("request_id").reset_index(drop=True)
    assert sorted(fresh.columns) == sorted(loaded.columns)
    assert {"model", "score", "status", "item_id"} <= set(fresh.columns)
    pd.testing.assert_frame_equal(fresh[loaded.columns], loaded, check_dtype=False)


def test_metric_overwriting_a_column_is_an_error_naming_the_plugin(scored_run) -> None:
    with pytest.raises(BadInput) as info:
        apply_metrics(registry_of(Overwriter()), scored_run.verdicts, scored_run.scores, scored_run.manifest)
    message = str(info.value)
    assert "'rescore'" in message and "'Overwriter'" in message and "score" in message and "only add" in message


def test_metric_that_raises_is_named(scored_run) -> None:
    with pytest.raises(BadInput, match=r"metric 'divide' of plugin 'Crashing' failed: ZeroDivisionError"):
        apply_metrics(registry_of(Crashing()), scored_run.verdicts, scored_run.scores, scored_run.manifest)


@pytest.mark.parametrize(("rows", "problem"), [
    ([1, 2], "not a DataFrame"),
    (pd.DataFrame({"name": ["a"], "x": [1]}), "no 'model' column"),
    (pd.DataFrame({"model": ["a", "a"], "x": [1, 2]}), "more than one row"),
])
def test_malformed_metric_results(rows: Any, problem: str) -> None:
    class Odd:
        @hookimpl
        def harness_register_metrics(self, register):
            register("odd", lambda verdicts, scores, manifest: rows)

    scores = pd.DataFrame({"model": ["a"], "score": [1.0]})
    with pytest.raises(BadInput, match=problem):
        apply_metrics(registry_of(Odd()), pd.DataFrame(), scores, {})


# -- registration ---------------------------------------------------------------------------------


def test_registry_collects_metrics_and_reporters_with_owners() -> None:
    registry = registry_of(OkCounts(), ModelList())
    assert list(registry.metrics) == ["ok_verdicts", "only_a"]
    assert list(registry.reporters) == ["models"]
    assert registry.owner("metric", "only_a") == "OkCounts" and registry.owner("reporter", "models") == "ModelList"


@pytest.mark.parametrize(("first", "second", "what"), [
    (OkCounts, OkCounts, "metric 'ok_verdicts'"),
    (ModelList, ModelList, "reporter 'models'"),
])
def test_name_clashes_name_both_plugins(first: type, second: type, what: str) -> None:
    one, two = first(), second()
    loaded = load_plugins(autoload=False)
    loaded.manager.register(one, name="first_plugin")
    loaded.manager.register(two, name="second_plugin")
    with pytest.raises(BadInput) as info:
        Registry.collect(loaded.manager)
    message = str(info.value)
    assert f"two plugins register the {what}" in message
    assert "'first_plugin'" in message and "'second_plugin'" in message and "--block-plugin" in message


def test_registering_something_not_callable_is_an_error() -> None:
    class Bad:
        @hookimpl
        def harness_register_reporters(self, register):
            register("html", "report.html")

    with pytest.raises(BadInput, match=r"'Bad' registers the reporter 'html' as str, not a callable"):
        registry_of(Bad())


# -- reporters ------------------------------------------------------------------------------------


def test_reporter_writes_and_returns_its_files(scored_run, tmp_path: Path) -> None:
    out = tmp_path / "report"
    out.mkdir()
    [path] = run_reporters(registry_of(ModelList()), scored_run, out)
    assert path == out / "models.txt" and path.read_text() == "a,b"


def test_reporter_listing_a_file_it_did_not_write_is_named(scored_run, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"reporter 'liar' of plugin 'Liar' lists .*never-written.html"):
        run_reporters(registry_of(Liar()), scored_run, tmp_path)


# -- observation hooks, in a real run -------------------------------------------------------------


class Observer:
    """Adds a jinja filter, judges only model a, and records what the run reports back."""

    def __init__(self) -> None:
        self.environments: list[Any] = []
        self.seen_requests: list[str] = []
        self.recorded: list[str] = []
        self.finished: list[Any] = []

    @hookimpl
    def harness_prepare_jinja_environment(self, env):
        env.filters["shout"] = lambda text: text.upper()
        self.environments.append(env)

    @hookimpl
    def harness_modify_requests(self, task, requests):
        self.seen_requests.extend(r.id for r in requests)
        return [r for r in requests if r.meta["model"] == "a"]

    @hookimpl
    def harness_verdict_recorded(self, verdict):
        self.recorded.append(verdict.request_id)

    @hookimpl
    def harness_run_finished(self, run):
        self.finished.append(run)


def test_observation_hooks_in_a_real_run(harness_judge_server, harness_run_task) -> None:
    judge = harness_judge_server
    # the template shouts the answer, so only the shouted text has a scripted reply
    judge.when("ANSWER A1", "[[4]]").when("ANSWER A2", "[[2]]")
    observer = Observer()
    template = "{% block user %}Grade: {{ answer | shout | fence('response') }}\nReply [[N]].{% endblock %}"
    run = harness_run_task("rubric", ROWS, options=RUBRIC, plugins=[observer],
                           files={"shout.jinja": template}, overrides=["template=shout.jinja"])
    assert len(observer.environments) == 1 and "shout" in observer.environments[0].filters
    assert sorted(observer.seen_requests) == ["q1::a", "q1::b", "q2::a", "q2::b"]
    assert sorted(observer.recorded) == ["q1::a", "q2::a"]  # model b's requests were dropped
    assert len(judge.prompts) == 2 and all("answer a" not in p for p in judge.prompts)
    [finished] = observer.finished
    assert finished.directory == run.directory and finished.manifest["status"] == "finished"
    scores = run.scores.set_index("model")
    assert scores.loc["a", "score"] == 3.0
    # model b's requests were dropped: it stays in the table, with no verdict and no score
    assert scores.loc["b", "n"] == 0 and pd.isna(scores.loc["b", "score"]) and not run.complete


def test_a_failing_metric_keeps_the_runs_files_and_fails_the_run(tmp_path: Path) -> None:
    """Issue 19, item 8: a plugin metric that raises after every call was made still leaves
    scores.csv, ranking.csv and verdicts.jsonl (without its columns), run.json says failed and
    why, and the error is one line naming the metric and its plugin; the other metrics' columns
    stay."""
    from harness.errors import RunFailed
    from harness.running.execute import run_task
    from harness.running.options import RunOptions
    from harness.testing import OpenAIServer, Reply
    from harness.testing.tasks import write_task

    class Counts:
        @hookimpl
        def harness_register_metrics(self, register):
            register("rows", lambda verdicts, scores, manifest: pd.DataFrame({"model": scores["model"], "rows": len(verdicts)}))

    task = write_task(tmp_path, name="t", protocol="pairwise", rows=ROWS, options={"n_bootstrap": 20})
    out = tmp_path / "run"
    plugins = load_plugins(extra=[Crashing(), Counts()], autoload=False)
    with OpenAIServer(lambda body: Reply(text="[[2]]")) as server, pytest.raises(RunFailed) as info:
        run_task(task, RunOptions(judge="openai:j", base_url=server.base_url, out=out, progress=False, cache=False),
                 plugins)
    message = str(info.value)
    assert "\n" not in message and "metric 'divide' of plugin 'Crashing' failed: ZeroDivisionError" in message
    assert "--block-plugin Crashing" in message
    scores = pd.read_csv(out / "scores.csv")
    assert sorted(scores["model"]) == ["a", "b"] and "rows" in scores.columns
    assert (out / "ranking.csv").is_file() and len((out / "verdicts.jsonl").read_text().splitlines()) == 4
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["status"] == "failed" and manifest["invocations"][-1]["status"] == "failed"
    assert manifest["metric_failures"] == [message.split("; every other file")[0]]


def test_metrics_run_in_registration_order_each_seeing_the_previous_columns() -> None:
    """docs/plugins.md: built-ins first, then plugins in the order they were registered; a metric
    sees the columns of those before it (pluggy's own order, last registered first, ran them
    backwards: the second plugin's metric could not read the first's column)."""

    class First:
        @hookimpl
        def harness_register_metrics(self, register):
            register("first", lambda frame, scores, manifest: pd.DataFrame({"model": scores["model"], "first_col": 1.0}))

    class Second:
        @hookimpl
        def harness_register_metrics(self, register):
            def second(frame, scores, manifest):
                return pd.DataFrame({"model": scores["model"], "second_col": scores["first_col"] + 1.0})
            register("second", second)

    registry = Registry.collect(load_plugins(extra=(First(), Second())).manager)
    assert list(registry.metrics) == ["first", "second"]
    scores = pd.DataFrame({"model": ["a", "b"], "score": [1.0, 2.0]})
    out = apply_metrics(registry, pd.DataFrame(), scores, {})
    assert out["second_col"].tolist() == [2.0, 2.0]


@pytest.mark.parametrize(("returned", "said"), [
    (lambda scores: pd.DataFrame({"model": range(len(scores)), "x": 1.0}), "model names that are not the run's"),
    (lambda scores: pd.DataFrame({("model", ""): scores["model"], ("x", "y"): 1.0}), "columns that are not names"),
    (lambda scores: pd.DataFrame([[m, 1.0, 2.0] for m in scores["model"]], columns=["model", "zz", "zz"]),
     "returned the column 'zz' twice"),
])
def test_a_malformed_metric_table_is_one_line_naming_the_metric(returned: Any, said: str) -> None:
    """A metric's table with model numbers, tuple columns or a column twice: an internal error
    (or a scores.csv with the column four times) before; now one line naming the metric."""

    class Odd:
        @hookimpl
        def harness_register_metrics(self, register):
            register("odd", lambda frame, scores, manifest: returned(scores))

    registry = Registry.collect(load_plugins(extra=(Odd(),)).manager)
    with pytest.raises(BadInput, match=f"metric 'odd'.*{said}"):
        apply_metrics(registry, pd.DataFrame(), pd.DataFrame({"model": ["a", "b"], "score": [1.0, 2.0]}), {})
