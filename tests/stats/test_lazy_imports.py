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


def components_by_csgraph(games):
    """The averaging operator as the solver made it for every incomplete graph before the
    baseline shortcut: scipy's connected components, graph by graph."""
    import numpy as np
    from scipy.sparse.csgraph import connected_components

    n_fits, m, _ = games.shape
    means = np.empty((n_fits, m, m))
    for k in range(n_fits):
        _, labels = connected_components((games[k] > 0) | np.eye(m, dtype=bool), directed=False)
        sizes = np.bincount(labels).astype(float)
        means[k] = (labels[:, None] == labels[None, :]) / sizes[labels][:, None]
    return means


def test_baseline_graphs_get_the_operator_csgraph_gives_them() -> None:
    """Star graphs (one model met all), complete-but-one graphs, split graphs and chains, mixed
    in one stack: the same operator, to the bit, as connected components give."""
    import numpy as np

    from harness.stats.bt_newton import _component_means

    rng = np.random.default_rng(7)
    m, stack = 6, []
    for _ in range(40):
        games = np.zeros((m, m))
        shape = rng.integers(4)
        if shape == 0:  # a baseline met everyone, nobody else met
            hub = rng.integers(m)
            games[hub, :] = games[:, hub] = rng.integers(1, 5, m)
        elif shape == 1:  # random sparse pairs: may be split
            for i, j in rng.integers(m, size=(4, 2)):
                games[i, j] = games[j, i] = 1
        elif shape == 2:  # a chain: connected, no hub
            for i in range(m - 1):
                games[i, i + 1] = games[i + 1, i] = 2
        else:  # a baseline plus some other pairs
            games[0, :] = games[:, 0] = 3
            games[2, 4] = games[4, 2] = 1
        np.fill_diagonal(games, 0)
        stack.append(games)
    games = np.array(stack)
    means = _component_means(games)
    assert means is not None
    assert np.array_equal(means, components_by_csgraph(games))


def test_a_baseline_design_needs_no_scipy_sparse() -> None:
    """AlpacaEval's shape: every model met the baseline only. Connected, so no components to find."""
    loaded = loaded_after(
        "import numpy as np\n"
        "from harness.stats.bt_newton import fit_bradley_terry\n"
        "wins = np.zeros((5, 4, 4)); wins[:, 0, 1:] = 3.0; wins[:, 1:, 0] = [1.0, 2.0, 4.0]\n"
        "fit_bradley_terry(wins)"
    )
    assert "scipy.special" in loaded
    assert not {"scipy.sparse", "scipy.sparse.csgraph", "scipy.linalg"} & loaded


def test_the_length_control_modules_load_no_optimizer() -> None:
    """A warm `harness aggregate` recalls both length-controlled win rates from the run's memo
    after importing their modules: scipy.optimize and scipy.sparse (a fifth of a second) load
    only when a fit is computed."""
    loaded = loaded_after("import harness.stats.length_control, harness.stats.alpaca_glm")
    assert "scipy.special" in loaded  # the modules did load
    assert not {"scipy.optimize", "scipy.sparse"} & loaded
