"""Which verdicts a report shows: a small, deterministic, stratified sample, never all of them.

A page with 100,000 verdicts inline would not open. The sample puts the verdicts a reader most
needs to see first (unparsable outputs, failed calls, then what the protocol's view calls the judge
contradicting itself or being unsure), then
fills up round-robin over categories in a fixed pseudo-random order (a hash of the request id),
so the same run always gives the same page.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from harness.reports.rundata import RunData


def sample_verdicts(run: RunData, n: int) -> pd.DataFrame:
    """Up to n verdict rows with a `reason` column: problem, disagreement or sample."""
    verdicts = run.verdicts
    if n <= 0 or verdicts.empty:
        return verdicts.iloc[0:0].assign(reason=pd.Series(dtype=object))
    sha1 = hashlib.sha1
    order = pd.Series([sha1(str(k).encode("utf-8")).hexdigest() for k in verdicts["request_id"]], index=verdicts.index)
    problem = verdicts["status"].isin(["invalid", "failed"]).to_numpy()
    disagreement = run.view.disagreements(run) & ~problem
    quota = {"problem": max(1, n // 3), "disagreement": max(1, n // 3)}
    chosen: list[tuple[str, list[int]]] = []
    taken = 0
    for reason, mask in (("problem", problem), ("disagreement", disagreement)):
        picked = _round_robin(verdicts, order, np.flatnonzero(mask), min(quota[reason], n - taken))
        chosen.append((reason, picked))
        taken += len(picked)
    unused = np.ones(len(verdicts), dtype=bool)
    unused[[i for _, picked in chosen for i in picked]] = False
    rest = np.flatnonzero(unused)
    if n - taken > 0 and len(rest):
        # The problem and disagreement strata may hold more than their quota: give them the space left
        # only after every category had its share of ordinary verdicts.
        chosen.append(("sample", _round_robin(verdicts, order, rest, n - taken)))
    frames = [verdicts.iloc[picked].assign(reason=reason) for reason, picked in chosen if picked]
    return pd.concat(frames) if frames else verdicts.iloc[0:0].assign(reason=pd.Series(dtype=object))


def _round_robin(verdicts: pd.DataFrame, order: pd.Series, positions: np.ndarray, limit: int) -> list[int]:
    """Up to `limit` positions, alternating between categories, each category in hash order."""
    if limit <= 0 or len(positions) == 0:
        return []
    categories = verdicts["category"].iloc[positions].fillna("(none)").astype(str).to_numpy().astype(str)
    hashes = order.iloc[positions].to_numpy().astype(str)
    ranked = np.lexsort((positions, hashes, categories))  # each category's queue, in hash order
    codes = np.unique(categories[ranked], return_inverse=True)[1]
    first = np.searchsorted(codes, codes)  # where each row's category queue starts
    depth = np.arange(len(ranked)) - first
    # depth 0 of every category (in category order), then depth 1, ...: the round robin
    robin = ranked[np.lexsort((codes, depth))]
    return [int(p) for p in positions[robin[:limit]]]
