"""The pytest plugin for plugin authors (harness.testing.pytest_plugin), run the way an author's
project runs it: pytester writes a test file that only uses the fixtures, and pytest finds them
through the `pytest11` entry point of the installed harness-eval."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytest_plugins = ["pytester"]

AUTHOR_TESTS = '''
from pydantic import BaseModel

from harness.hookspecs import hookimpl
from harness.models import JudgeRequest, Message
from harness.protocol import Aggregate, InvalidOutput, Task, TaskKind
from harness.testing import Reply


class Options(BaseModel):
    n_bootstrap: int = 0


class YesNoTask(Task):
    """A minimal protocol a plugin author might write: one call per answer, YES counts 1."""

    default_template = "unused.jinja"

    def build_requests(self):
        return [
            JudgeRequest(id=f"{item.id}::{model}", item_id=item.id, meta={"model": model},
                         messages=(Message(role="user", content=f"Is this right? {answer}"),))
            for item in self.items for model, answer in item.answers.items()
        ]

    def parse(self, request, response):
        word = response.text.strip().upper()
        if word not in ("YES", "NO"):
            raise InvalidOutput("not YES or NO")
        return {"yes": word == "YES"}

    def aggregate(self, verdicts):
        import pandas as pd

        rows = {}
        for v in verdicts:
            if v.status == "ok":
                rows.setdefault(v.data["model"], []).append(1.0 if v.data["yes"] else 0.0)
        scores = pd.DataFrame([{"model": m, "score": sum(x) / len(x), "ci_low": None, "ci_high": None,
                                "n": len(x)} for m, x in sorted(rows.items())])
        ranking = scores.assign(rank=range(1, len(scores) + 1))[["model", "rank", "score", "ci_low", "ci_high", "n"]]
        return Aggregate(scores=scores, ranking=ranking)


class YesNoPlugin:
    @hookimpl
    def harness_register_task_kinds(self, register):
        register(TaskKind(name="yesno", config_model=Options, task_class=YesNoTask))


ROWS = [
    {"id": "q1", "instruction": "1 + 1?", "answers": {"m1": "M1-Q1", "m2": "M2-Q1"}},
    {"id": "q2", "instruction": "2 + 2?", "answers": {"m1": "M1-Q2", "m2": "M2-Q2"}},
]


def test_run_through_the_fixtures(harness_judge_server, harness_run_task, harness_run_dir, tmp_path):
    harness_judge_server.when("M1-", "YES").when("M2-Q1", "NO").when("M2-Q2", Reply(text="maybe"))
    # the task file needs a template that exists; the protocol renders its own messages
    run = harness_run_task("yesno", ROWS, plugins=[YesNoPlugin()], files={"unused.jinja": "x"},
                           overrides=["template=unused.jinja"])
    assert run.directory == harness_run_dir and harness_run_dir.is_relative_to(tmp_path)
    assert (harness_run_dir / "run.json").is_file()
    assert dict(zip(run.scores["model"], run.scores["score"])) == {"m1": 1.0, "m2": 0.0}
    statuses = dict(zip(run.verdicts["request_id"], run.verdicts["status"]))
    assert statuses == {"q1::m1": "ok", "q1::m2": "ok", "q2::m1": "ok", "q2::m2": "invalid"}
    assert len(harness_judge_server.prompts) == 4
    assert run.manifest["protocol"]["name"] == "yesno"


def test_unscripted_prompts_fail_loudly(harness_judge_server, harness_run_task):
    import pytest
    from harness.errors import RunFailed

    harness_judge_server.when("M1-", "YES")
    with pytest.raises(RunFailed, match="no scripted answer for this prompt"):
        harness_run_task("yesno", ROWS, plugins=[YesNoPlugin()], files={"unused.jinja": "x"},
                         overrides=["template=unused.jinja"])


def test_unknown_protocol_is_bad_input(harness_run_task):
    import pytest
    from harness.errors import BadInput

    with pytest.raises(BadInput, match="unknown protocol 'nope'"):
        harness_run_task("nope", ROWS)


def test_run_dir_is_fresh(harness_run_dir):
    assert not harness_run_dir.exists()


def test_each_run_of_a_test_is_its_own(harness_judge_server, harness_run_task, harness_run_dir):
    """A second run with the judge scripted otherwise judges anew: it once resumed the first run's
    directory and returned its verdicts (the test then passed on stale numbers)."""
    harness_judge_server.otherwise("YES")
    first = harness_run_task("yesno", ROWS, plugins=[YesNoPlugin()], files={"unused.jinja": "x"},
                             overrides=["template=unused.jinja"])
    harness_judge_server.otherwise("NO")
    second = harness_run_task("yesno", ROWS, plugins=[YesNoPlugin()], files={"unused.jinja": "x"},
                              overrides=["template=unused.jinja"])
    assert first.directory == harness_run_dir and second.directory != harness_run_dir
    assert set(first.scores["score"]) == {1.0} and set(second.scores["score"]) == {0.0}
    assert len(harness_judge_server.prompts) == 8
'''


def test_author_tests_pass_with_the_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_author=AUTHOR_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=300)
    result.assert_outcomes(passed=5)


def test_fixtures_are_listed_and_documented(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider", timeout=120)
    text = result.stdout.str()
    for name in ("harness_judge_server", "harness_run_dir", "harness_run_task"):
        assert name in text
    assert "harness/testing/pytest_plugin.py" in text or "harness.testing.pytest_plugin" in text


def test_plugin_import_is_light() -> None:
    """pytest imports the plugin in every session: no pydantic, pandas or harness core at import."""
    code = textwrap.dedent("""
        import sys
        import harness.testing.pytest_plugin
        heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('pandas', 'pydantic', 'jinja2', 'openai')
                       or m in ('harness.models', 'harness.running.execute', 'harness.api'))
        print(heavy)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
