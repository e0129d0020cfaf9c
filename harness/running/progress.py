"""Progress of a run: a rich bar on a terminal, a plain line every few seconds elsewhere (CI).

Both show done/total, the rate, the ETA, and what a user paying for calls wants to see move:
cache hits, retries, re-asks, invalid outputs and failures.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


class Progress:
    """Counts finished calls; `advance(status)` after each stored verdict."""

    def __init__(self, total: int, already_done: int = 0, *, stream: TextIO | None = None, enabled: bool = True,
                 interval_s: float = 5.0, label: str = "judging"):
        #: What the bar says it is doing ("judging"; "generating" for `harness generate`).
        self.label = label
        self.total = total
        self.done = already_done
        self.counts = {"ok": 0, "invalid": 0, "failed": 0}
        self.retries = 0
        self.reasks = 0
        self.cache_hits = 0
        self.interval_s = interval_s
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self._started = time.monotonic()
        self._last_line = 0.0
        self._start_done = already_done
        self._rich: Any = None
        self._task_id: Any = None

    def __enter__(self) -> Progress:
        if not self.enabled:
            return self
        if self.stream.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._rich = RichProgress(
                TextColumn(self.label), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[extra]}"),
                console=Console(file=self.stream), transient=False,
            )
            self._rich.start()
            self._task_id = self._rich.add_task(self.label, total=self.total, completed=self.done, rate="", extra="")
        else:
            self._line(force=True)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._rich is not None:
            self._refresh()
            self._rich.stop()
        elif self.enabled:
            self._line(force=True)

    def advance(self, status: str) -> None:
        self.done += 1
        self.counts[status] = self.counts.get(status, 0) + 1
        if self._rich is not None:
            self._refresh()
        elif self.enabled:
            self._line()

    def grow(self, more: int, already_done: int = 0) -> None:
        """More requests became known (a multi-stage protocol's follow-ups), some already done."""
        self.total += more
        self.done += already_done
        self._start_done += already_done
        if self._rich is not None:
            self._rich.update(self._task_id, total=self.total)
            self._refresh()

    def retried(self) -> None:
        self.retries += 1

    def cached(self) -> None:
        self.cache_hits += 1

    def reasked(self) -> None:
        self.reasks += 1

    def _rate(self) -> float:
        elapsed = time.monotonic() - self._started
        return (self.done - self._start_done) / elapsed if elapsed > 0 else 0.0

    def _extra(self) -> str:
        return (f"cached {self.cache_hits} retries {self.retries} reasks {self.reasks} "
                f"invalid {self.counts['invalid']} failed {self.counts['failed']}")

    def _refresh(self) -> None:
        self._rich.update(self._task_id, completed=self.done, rate=f"{self._rate():.1f}/s", extra=self._extra())

    def _line(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_line < self.interval_s and self.done < self.total:
            return
        self._last_line = now
        rate = self._rate()
        remaining = (self.total - self.done) / rate if rate > 0 else float("nan")
        eta = f"{remaining:.0f}s" if remaining == remaining else "?"
        print(f"{self.label} {self.done}/{self.total} {rate:.2f}/s ETA {eta} {self._extra()}", file=self.stream, flush=True)
