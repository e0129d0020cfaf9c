"""A judgment cache shared by every run and task, so an identical judge call is never paid twice.

Content-addressed: the key hashes the judge (backend, model, base URL without credentials), the
full request (messages, sampling parameters, output constraint) and the protocol's version.
Only successful answers are cached; a failed call is never stored, so it is retried, and an
answer that did not parse is cached as what the judge said (asking again at temperature 0 would
say the same). SQLite in WAL mode with a busy timeout lets several processes share one file.

Answers are written in groups: `put` queues one, `flush` writes every queued answer in one
transaction (one SQLite commit per group instead of one per call: 0.015 instead of 0.021 ms of
CPU per call for a lookup and a write, in groups of 8). The runner flushes before it stores the verdicts the answers made, so an answer
is in the cache no later than its verdict is on disk, as when every put was its own commit; a
queued answer is found by `get` as if it were written, and `close` writes what is left.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from harness.models import SORTED_JSON, JudgeRequest, JudgeResponse, JudgeSpec, json_members, sha256_of_members

CACHE_ENV = "HARNESS_CACHE_DIR"
CACHE_FILE = "judgments.sqlite"


def default_cache_path() -> Path:
    """$HARNESS_CACHE_DIR, else $XDG_CACHE_HOME/harness, else ~/.cache/harness."""
    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root) / CACHE_FILE
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "harness" / CACHE_FILE


#: Judge options that change how calls are made, never what the judge answers: left out of the
#: key, so tuning rate limits or retries does not throw the cache away.
SCHEDULING_OPTIONS = frozenset({"transport", "rpm", "tpm", "max_retry_wait_s", "max_attempts",
                                "unreachable_after", "unreachable_after_s"})


class CacheKeys:
    """Cache keys for one judge and protocol version; the judge's part is built once per run."""

    def __init__(self, spec: JudgeSpec, protocol_version: str):
        judge = spec.public_dict()
        fixed = {
            "judge": {k: judge[k] for k in ("backend", "model", "base_url")},
            "judge_options": {k: v for k, v in judge["options"].items() if k not in SCHEDULING_OPTIONS},
            "protocol_version": protocol_version,
        }
        self._fixed = json_members({name: SORTED_JSON.encode(value) for name, value in fixed.items()})

    def __call__(self, request: JudgeRequest) -> str:
        """sha256 of json.dumps({judge part, **request.call_payload()}, sort_keys=True, ensure_ascii=False),
        put together from JSON the request already encoded for its own key."""
        return str(sha256_of_members({**self._fixed, **request.payload_json()}).hexdigest())


def cache_key(spec: JudgeSpec, request: JudgeRequest, protocol_version: str) -> str:
    return CacheKeys(spec, protocol_version)(request)


#: Keys looked up by one `prefetch` query: the runner's whole lookahead (PREFETCH, 512) in one, within
#: the 999 parameters a statement every SQLite build allows (32766 since 3.32).
_PREFETCH_BATCH = 999


class JudgmentCache:
    """get/put of judge responses by key; `refresh` ignores what is stored but still writes."""

    def __init__(self, path: Path, *, refresh: bool = False):
        self.path = path
        self.refresh = refresh
        self.hits = 0
        self.misses = 0
        #: Answers put but not yet written (key -> the response's JSON), in the order they came.
        self._queued: dict[str, str] = {}
        #: Keys `prefetch` found absent and `get` has not been asked for yet.
        self._absent: set[str] = set()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS judgments (key TEXT PRIMARY KEY, response TEXT NOT NULL, created REAL NOT NULL)"
        )

    def get(self, key: str) -> JudgeResponse | None:
        if self.refresh:
            self.misses += 1
            return None
        queued = self._queued.get(key)
        if queued is not None:
            self.hits += 1
            return JudgeResponse.model_validate_json(queued)
        if key in self._absent:
            self._absent.discard(key)  # once: a later get of the same key asks the file again
            self.misses += 1
            return None
        row = self._db.execute("SELECT response FROM judgments WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return JudgeResponse.model_validate_json(row[0])

    def prefetch(self, keys: list[str]) -> None:
        """Look up the keys about to be asked in one query per 999 of them, so that `get` answers
        those absent without a query of its own: on a first run every call is a miss, and one
        query per call was a tenth of a call's CPU. A key another process writes meanwhile is
        then seen as absent, as it would be had that process written it just after the `get`."""
        if self.refresh:
            return
        present: set[str] = set()
        for start in range(0, len(keys), _PREFETCH_BATCH):
            batch = keys[start:start + _PREFETCH_BATCH]
            marks = ",".join("?" * len(batch))
            present.update(row[0] for row in self._db.execute(f"SELECT key FROM judgments WHERE key IN ({marks})", batch))
        self._absent.difference_update(present)
        self._absent.update(key for key in keys if key not in present)

    def put(self, key: str, response: JudgeResponse) -> None:
        """Queue an answer; the next `flush` (or `close`) writes it."""
        self._absent.discard(key)  # a request with the same call, asked later in the run, finds it
        self._queued.pop(key, None)  # a later answer of the same key is written last, as it was
        self._queued[key] = response.model_dump_json()

    def flush(self) -> None:
        """Write every queued answer in one transaction."""
        if not self._queued:
            return
        created = time.time()
        rows = [(key, response, created) for key, response in self._queued.items()]
        self._queued = {}
        self._db.execute("BEGIN")
        try:
            self._db.executemany("INSERT OR REPLACE INTO judgments (key, response, created) VALUES (?, ?, ?)", rows)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._db.close()

    def stats(self) -> dict[str, object]:
        return {"path": str(self.path), "hits": self.hits, "misses": self.misses, "refresh": self.refresh}
