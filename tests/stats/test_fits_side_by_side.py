"""Fits that run side by side: the pairwise aggregation starts its length-controlled fits on a
thread of their own while it computes the rest. They must run with BLAS at one thread (its limit
is process-wide, and only the thread that set it may change it: the aggregation holds it around
them), see the caller's memo, hand back their exception, and give the same numbers."""

from __future__ import annotations

import threading
from contextvars import ContextVar

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import harness_plugins.pairwise.aggregate as pairwise_aggregate
from harness.models import Verdict
from harness.stats.bt_newton import _single_threaded_blas
from harness.stats.soft_logistic import in_background
from harness_plugins.pairwise.config import PairwiseConfig


def blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_a_background_fit_sees_the_callers_context_and_hands_back_its_result() -> None:
    where: ContextVar[str] = ContextVar("where", default="nowhere")
    where.set("the run directory")
    assert in_background(lambda: (where.get(), threading.current_thread().name)).result(10) == (
        "the run directory", "harness-background-fit")


def test_a_background_fit_that_fails_raises_in_the_caller() -> None:
    def fails() -> None:
        raise ValueError("no usable verdict")

    with pytest.raises(ValueError, match="no usable verdict"):
        in_background(fails).result(10)


def lengths_verdicts(items: int = 40) -> list[Verdict]:
    """Two models against one baseline, every answer's length known: both LC fits apply."""
    rng = np.random.default_rng(5)
    verdicts = []
    for i in range(items):
        for model in ("long", "short"):
            length = int(rng.integers(100, 900)) * (2 if model == "long" else 1)
            wins = rng.random() < (0.7 if model == "long" else 0.4)
            request_id = f"q{i}::{model}::base::ab"
            verdicts.append(Verdict(
                request_id=request_id, request_key=request_id, item_id=f"q{i}", judge="j", status="ok",
                data={"model_a": model, "model_b": "base", "order": "ab", "len_a": length, "len_b": 500,
                      "category": None, "level": "A>B" if wins else "B>A"}))
    return verdicts


def test_the_aggregations_background_fits_run_with_blas_at_one_thread(monkeypatch) -> None:
    with _single_threaded_blas():  # this thread controls the limit, as the CLI's thread does
        pass
    before = blas_threads()
    seen: list[tuple[str, list[int]]] = []
    fit = pairwise_aggregate.length_controlled

    def watched(battles, config):
        seen.append((threading.current_thread().name, blas_threads()))
        return fit(battles, config)

    monkeypatch.setattr(pairwise_aggregate, "length_controlled", watched)
    config = PairwiseConfig(baselines=["base"], n_bootstrap=50, alpaca_eval_lc=True)
    result = pairwise_aggregate.aggregate_pairwise(lengths_verdicts(), config)
    assert seen == [("harness-background-fit", [1] * len(before))]
    assert blas_threads() == before
    scores = result.scores.set_index("model")
    fitted = scores.loc[["long", "short"], ["length_controlled_win_rate", "alpaca_eval_lc"]]
    assert fitted.notna().all().all()
    # the same numbers as the fits gave inline, one after the other
    monkeypatch.setattr(pairwise_aggregate, "in_background", inline)
    again = pairwise_aggregate.aggregate_pairwise(lengths_verdicts(), config).scores.set_index("model")
    assert scores.equals(again)


def inline(function):
    from concurrent.futures import Future

    future: Future[object] = Future()
    future.set_result(function())
    return future
