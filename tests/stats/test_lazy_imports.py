"""What importing a statistics module loads: each `harness aggregate` and `harness report` pays
for every library it imports, so a module loads pandas and scipy only when they are used, and
the package's re-exports still resolve to the functions of their modules."""

from __future__ import annotations

import importlib
import subprocess
import sys

import harness.stats


def loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running `code`."""
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_every_reexport_is_the_function_of_its_module() -> None:
    namespace: dict[str, object] = {}
    exec("from harness.stats import *", namespace)
    for name in harness.stats.__all__:
        home = importlib.import_module(f"harness.stats.{harness.stats._HOMES[name]}")
        assert namespace[name] is getattr(home, name) is getattr(harness.stats, name)
    assert set(harness.stats.__all__) <= set(dir(harness.stats))


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        harness.stats.no_such_statistic  # noqa: B018
    except AttributeError as exc:
        assert "no_such_statistic" in str(exc)
    else:  # pragma: no cover - the assertion that fails
        raise AssertionError("harness.stats.no_such_statistic resolved")


def test_reading_a_calibration_map_loads_neither_pandas_nor_scipy() -> None:
    loaded = loaded_after("import harness.calibrate.mapfile, harness.stats.calibration, harness.stats._normal")
    assert not {"pandas", "scipy"} & loaded


def test_a_connected_comparison_graph_needs_no_scipy_sparse() -> None:
    """The connected-components check (scipy.sparse.csgraph, which loads scipy.linalg) runs only
    for a stack where some pair never met; the fit itself still works when it must run."""
    loaded = loaded_after(
        "import numpy as np\n"
        "from harness.stats.bt_newton import fit_bradley_terry\n"
        "fit_bradley_terry(np.array([[0.0, 3.0, 1.0], [2.0, 0.0, 2.0], [1.0, 1.0, 0.0]]))"
    )
    assert "scipy.special" in loaded  # it did fit
    assert not {"scipy.sparse", "scipy.sparse.csgraph", "scipy.linalg"} & loaded


def test_a_disconnected_graph_still_finds_its_components() -> None:
    import numpy as np

    from harness.stats.bt_newton import fit_bradley_terry

    wins = np.zeros((4, 4))
    wins[0, 1], wins[1, 0], wins[2, 3], wins[3, 2] = 3.0, 1.0, 1.0, 2.0  # {0, 1} and {2, 3} never meet
    theta = fit_bradley_terry(wins)
    assert abs(theta[0] + theta[1]) < 1e-9 and abs(theta[2] + theta[3]) < 1e-9  # each component centred
    assert theta[0] > theta[1] and theta[3] > theta[2]
