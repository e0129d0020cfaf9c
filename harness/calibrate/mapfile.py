"""The calibration file `harness calibrate` writes: the fitted map, the judge setup it is valid
for, and the figures that justify it. Read back (and checked) by `--calibration FILE`.

Its `kind` names the protocol whose calibrator wrote it, and only a loaded protocol with a
calibrator reads it back. The map is one of two shapes any protocol may fit: `platt` (slope and
intercept on the logit of a probability) or `isotonic` (knots and values, interpolated).
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import BadInput
from harness.stats.calibration import PlattMap

FORMAT = "harness-calibration"
VERSION = 1


@dataclass(frozen=True)
class Calibration:
    """A calibration file as read: the whole document, its map, where it came from."""

    document: dict[str, Any]
    path: Path

    @property
    def kind(self) -> str:
        return str(self.document["kind"])

    @property
    def judge(self) -> dict[str, Any]:
        return self.document["judge"]

    @property
    def method(self) -> str:
        return str(self.document["map"]["method"])

    def __call__(self, values: Any) -> np.ndarray:
        """Map judge values (what the protocol's calibrator reads: a probability, a score) to the
        human scale: a Platt map on probabilities, or an isotonic map interpolated between knots."""
        x = np.asarray(values, dtype=float)
        spec = self.document["map"]
        if spec["method"] == "platt":
            return PlattMap(slope=float(spec["slope"]), intercept=float(spec["intercept"]))(np.clip(x, 0.0, 1.0))
        return np.interp(x, np.asarray(spec["knots"], dtype=float), np.asarray(spec["values"], dtype=float))


def step_ends(knots: np.ndarray, values: np.ndarray) -> tuple[list[float], list[float]]:
    """The knots where an isotonic map's value changes (both ends of every flat step): the same
    interpolation with a fraction of the knots, so the file stays small."""
    keep = [
        i
        for i in range(len(knots))
        if i in (0, len(knots) - 1) or values[i] != values[i - 1] or values[i] != values[i + 1]
    ]
    return [float(knots[i]) for i in keep], [float(values[i]) for i in keep]


def clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def write_calibration(document: dict[str, Any], out: str | Path) -> Path:
    path = Path(out)
    if path.is_dir():
        raise BadInput(f"--out {path}: is a directory; give a file name such as calibration.json")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(
            json.dumps(clean({"format": FORMAT, "version": VERSION, **document}), indent=2) + "\n", encoding="utf-8"
        )
        tmp.replace(path)
    except OSError as exc:
        raise BadInput(f"--out {path}: cannot write ({exc.strerror})") from None
    return path


def read_calibration(path: str | Path, kinds: Collection[str], flag: str = "--calibration") -> Calibration:
    """The file at `path`, checked; `kinds`: the loaded protocols that can be calibrated."""
    source = Path(path)
    try:
        document = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"{flag} {source}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{flag} {source}: cannot read ({exc.__class__.__name__})") from None
    except json.JSONDecodeError as exc:
        raise BadInput(f"{flag} {source}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise BadInput(f"{flag} {source}: not a calibration file written by `harness calibrate`")
    _check(document, f"{flag} {source}", kinds)
    return Calibration(document=document, path=source)


def _check(document: dict[str, Any], where: str, kinds: Collection[str]) -> None:
    if document.get("version") != VERSION:
        raise BadInput(f"{where}: version {document.get('version')!r} is not {VERSION}")
    if not isinstance(document.get("kind"), str) or document["kind"] not in kinds:
        raise BadInput(f"{where}: kind: {document.get('kind')!r} is not {names(kinds, 'or')}")
    if not isinstance(document.get("judge"), dict) or "fingerprint" not in document["judge"]:
        raise BadInput(f"{where}: judge: missing the judge setup the map was made for")
    spec = document.get("map")
    if not isinstance(spec, dict):
        raise BadInput(f"{where}: map: missing")
    if spec.get("method") == "platt":
        for key in ("slope", "intercept"):
            if not isinstance(spec.get(key), (int, float)) or not math.isfinite(spec[key]):
                raise BadInput(f"{where}: map.{key}: not a number")
    elif spec.get("method") == "isotonic":
        knots, values = spec.get("knots"), spec.get("values")
        if (
            not isinstance(knots, list)
            or not isinstance(values, list)
            or not knots
            or len(knots) != len(values)
            or not all(isinstance(v, (int, float)) for v in [*knots, *values])
        ):
            raise BadInput(f"{where}: map: knots and values must be equally long lists of numbers")
        if any(b < a for a, b in zip(knots, knots[1:], strict=False)) or any(
            b < a for a, b in zip(values, values[1:], strict=False)
        ):
            raise BadInput(f"{where}: map: knots and values must be non-decreasing")
    else:
        raise BadInput(f"{where}: map.method: {spec.get('method')!r} is not isotonic or platt")


def names(kinds: Iterable[str], conjunction: str) -> str:
    """`pairwise and rubric`: the names sorted, for messages."""
    ordered = sorted(kinds)
    if not ordered:
        return "no loaded protocol"
    return ordered[0] if len(ordered) == 1 else f"{', '.join(ordered[:-1])} {conjunction} {ordered[-1]}"
