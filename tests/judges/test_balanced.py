"""One judge on several endpoints: two real loopback OpenAI-compatible servers, one stopped mid-run.

Expected numbers come from the servers' own request logs and the dataset size, never from the
balancer: every request is judged exactly once, both servers took a fair share while both lived,
the stopped one is taken out of rotation (said once, in run.json), credentials in the URLs never
reach the run directory, and a run whose endpoints all die stops with exit 1, keeping its verdicts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from harness.models import JudgeSpec
from harness.running.execute import run_task
from harness.running.options import RunOptions
from harness.running.runner import RetryPolicy
from harness.testing import OpenAIServer, Reply
from harness.testing.tasks import write_task

REPO = Path(__file__).resolve().parents[2]
MODELS = ("base", "m1", "m2")
SECRET = "pw-Zk93-secret"


def task_file(directory: Path, n_items: int, judge: object = "openai:judge") -> Path:
    """n_items x 2 pairs against `base` x both orders = 4 * n_items requests."""
    rows = [{"id": f"q{i:03d}", "instruction": f"Question {i}?", "answers": {m: f"{m} answer {i}" for m in MODELS}}
            for i in range(n_items)]
    path = write_task(directory, name="balanced", protocol="pairwise", rows=rows,
                      options={"baselines": ["base"], "verdict_format": "binary", "n_bootstrap": 20})
    if judge != "openai:judge":
        spec = json.loads(path.read_text())
        spec["judge"] = judge
        path.write_text(json.dumps(spec))
    return path


def answer(body: dict) -> Reply:
    return Reply(text="Both are fine, the first is better. [[A]]")


def with_credentials(url: str) -> str:
    return url.replace("http://", f"http://judge:{SECRET}@")


def chat_count(server: OpenAIServer) -> int:
    return len(server.requests)


def cli(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_DEBUG"}
    env["OPENAI_API_KEY"] = "sk-balanced-test"
    return subprocess.Popen([sys.executable, "-m", "harness.cli", "run", *args, "--no-progress"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def stored_lines(out: Path) -> int:
    store = out / "store.jsonl"
    return store.read_bytes().count(b"\n") if store.exists() else 0


def test_base_urls_split_and_their_credentials_never_reach_public_dict() -> None:
    urls = ["http://judge:pw1@10.0.0.1:8000/v1", "https://10.0.0.2/v1?api_key=zz9&region=a,b"]
    for given in (urls, ",".join(urls), f"{urls[0]}, {urls[1]}"):
        spec = JudgeSpec.parse("openai:judge", base_url=given)
        assert spec.base_urls == tuple(urls)  # the comma inside the query did not split it
        public = spec.public_dict()["base_url"]
        assert public == "http://10.0.0.1:8000/v1,https://10.0.0.2/v1?region=a%2Cb"
    assert JudgeSpec.parse("openai:judge", base_url="http://one/v1").base_urls == ("http://one/v1",)
    assert JudgeSpec.parse("openai:judge").base_urls == ()


def test_calls_are_balanced_and_a_stopped_endpoint_leaves_rotation(tmp_path: Path) -> None:
    n_items = 25  # 100 requests
    out = tmp_path / "run"
    with OpenAIServer(answer, latency_s=0.03, model="judge") as a, OpenAIServer(answer, latency_s=0.03,
                                                                                model="judge") as b:
        process = cli(str(task_file(tmp_path, n_items)), "--judge", "openai:judge",
                      "--base-url", with_credentials(a.base_url), "--base-url", with_credentials(b.base_url),
                      "--concurrency", "2", "--out", str(out))
        wait_until(lambda: chat_count(b) >= 12 or process.poll() is not None)
        both_lived = (chat_count(a), chat_count(b))
        b.close()
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
        served_a, served_b = chat_count(a), chat_count(b)

    records = [json.loads(line) for line in (out / "verdicts.jsonl").read_text().splitlines()]
    assert len(records) == 4 * n_items
    assert len({r["request_id"] for r in records}) == 4 * n_items
    assert {r["status"] for r in records} == {"ok"}
    # While both lived, fewest-in-flight kept them within a few calls of each other.
    assert both_lived[1] >= 12 and abs(both_lived[0] - both_lived[1]) <= 4
    # After the stop, only `a` answered: it served everything `b` could not.
    assert served_b < 4 * n_items / 2 and served_a + served_b >= 4 * n_items
    assert served_a >= 4 * n_items - served_b
    manifest = json.loads((out / "run.json").read_text())
    out_notices = [n for n in manifest["judge_notices"] if "taken out of rotation" in n]
    assert len(out_notices) == 1 and b.base_url in out_notices[0] and a.base_url not in out_notices[0]
    assert stderr.count("taken out of rotation") == 1
    assert manifest["judge"]["endpoints"] == [a.base_url, b.base_url]
    everything = (out / "run.json").read_text() + (out / "verdicts.jsonl").read_text() + stdout + stderr
    assert SECRET not in everything


def test_when_every_endpoint_dies_the_run_stops_with_exit_1_and_keeps_verdicts(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with OpenAIServer(answer, latency_s=0.03) as a, OpenAIServer(answer, latency_s=0.03) as b:
        # The endpoints come from the task file's judge settings, as a list.
        task = task_file(tmp_path, 25, judge={"spec": "openai:judge", "base_url": [a.base_url, b.base_url],
                                              "concurrency": 2})
        process = cli(str(task), "--out", str(out))
        wait_until(lambda: stored_lines(out) >= 10 or process.poll() is not None)
        a.close()
        b.close()
        _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stderr
    assert "every endpoint of judge openai:judge is out of rotation" in stderr
    assert "Traceback" not in stderr
    stored = stored_lines(out)
    assert 10 <= stored < 100
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["status"] == "failed" and manifest["counts"]["ok"] >= 10


def test_an_endpoint_out_of_rotation_is_probed_and_comes_back(tmp_path: Path) -> None:
    """`b` fails its first 3 calls (HTTP 503), is taken out, and after probe_after_s answers again."""
    failures_left = [3]

    def flaky(body: dict) -> Reply:
        if failures_left[0] > 0:
            failures_left[0] -= 1
            return Reply(status=503, error="warming up")
        return answer(body)

    with OpenAIServer(answer, latency_s=0.02) as a, OpenAIServer(flaky, latency_s=0.02) as b:
        options = RunOptions(
            judge="openai:judge", base_url=f"{a.base_url},{b.base_url}", concurrency=1, progress=False,
            out=tmp_path / "run", judge_options={"dead_after": 3, "probe_after_s": 0.3},
            retry=RetryPolicy(initial_wait_s=0.01, max_wait_s=0.05),
        )
        result = run_task(task_file(tmp_path, 30), options)
        b_statuses = [s.status for s in b.served if s.path.endswith("/chat/completions")]

    verdicts = [json.loads(line) for line in (result.directory / "verdicts.jsonl").read_text().splitlines()]
    assert len(verdicts) == 120 and len({v["request_id"] for v in verdicts}) == 120
    assert {v["status"] for v in verdicts} == {"ok"}
    assert b_statuses[:3] == [503, 503, 503]
    assert b_statuses.count(200) >= 10  # back in rotation, sharing the load again
    notices = result.manifest["judge_notices"]
    assert any("taken out of rotation after 3 failures" in n and b.base_url in n for n in notices)
    assert any("answers again; back in rotation" in n and b.base_url in n for n in notices)
