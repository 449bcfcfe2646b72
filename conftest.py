"""
pytest configuration shared by every path of the checkout (the tests, and the
docstring examples of ``ipvae_snn`` and ``equations``).

Importing Brian2 imports ``brian2.tests``, which replaces pytest's
``DoctestModule`` with a subclass meant for Brian2's own doctests; that
subclass cannot collect the doctests of a package's ``__init__.py``
(``IndexError``). Any test module that imports Brian2 would therefore break
the collection of the doctests collected after it. Every collector here
starts with pytest's own class put back.

It also defines the fast tier (``-m fast``; see docs/development.md).
"""

import sys

import pytest
from _pytest import doctest as _pytest_doctest


def _pytest_doctest_module():
    cls = _pytest_doctest.DoctestModule
    while cls.__module__ != _pytest_doctest.__name__:     # a plugin's subclass
        cls = cls.__base__
    return cls


_DOCTEST_MODULE = _pytest_doctest_module()


def pytest_collectstart(collector):
    _pytest_doctest.DoctestModule = _DOCTEST_MODULE


# ------------------------------------------------------------------ fast tier
# ``python -m pytest -m fast`` runs the tests that neither compile a Brian2
# program, nor start a Dask cluster, nor take more than a few seconds: every
# test without one of the markers below is marked ``fast`` here, so a new
# test joins the tier unless it says it is heavy. Two guards keep the tier
# honest where a marker is forgotten: a test that uses the ``cxx_compiler``
# fixture is marked ``standalone`` for it, and a ``fast`` test that starts a
# Brian2 compile or a Dask cluster in this process fails, naming the marker
# it needs (a compile that the cache spares goes unseen; a fresh cache sees
# it). The summary lists the ``fast`` tests that took longer than
# ``FAST_LIMIT_S``, to be marked ``slow``.

#: Markers that keep a test out of the fast tier.
HEAVY_MARKERS = ("standalone", "dask", "slow")
#: Fixtures whose use means that the test compiles a cpp_standalone program.
COMPILING_FIXTURES = ("cxx_compiler",)
#: Seconds (setup, call and teardown) above which a fast test is reported:
#: well above the few seconds that make a test `slow`, so that a loaded
#: machine does not list the ordinary ones.
FAST_LIMIT_S = 10.0


@pytest.hookimpl(tryfirst=True)      # before ``-m`` deselects by marker
def pytest_collection_modifyitems(config, items):
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if any(name in fixtures for name in COMPILING_FIXTURES) and \
                item.get_closest_marker("standalone") is None:
            item.add_marker(pytest.mark.standalone)
        if not any(item.get_closest_marker(name) for name in HEAVY_MARKERS):
            item.add_marker(pytest.mark.fast)


def _refuse(marker, what):
    def refuse(*args, **kwargs):
        pytest.fail(f"this test {what}: mark it '{marker}' (it is in the fast tier)",
                    pytrace=False)
    return refuse


@pytest.fixture(autouse=True)
def _fast_tier_guard(request, monkeypatch):
    """Fails a ``fast`` test that compiles a Brian2 program or starts a Dask cluster."""
    if request.node.get_closest_marker("fast") is None:
        return
    # only modules already imported (collection imports the tests' modules):
    # the guard itself costs no import
    if "brian2.devices.cpp_standalone.device" in sys.modules:
        device = sys.modules["brian2.devices.cpp_standalone.device"]
        monkeypatch.setattr(device.CPPStandaloneDevice, "compile_source",
                            _refuse("standalone", "compiles a Brian2 program"))
    if "distributed.deploy.spec" in sys.modules:
        spec = sys.modules["distributed.deploy.spec"]
        monkeypatch.setattr(spec.SpecCluster, "__init__",
                            _refuse("dask", "starts a Dask cluster"))


_FAST_DURATIONS = {}


def pytest_runtest_logreport(report):
    if "fast" in report.keywords:
        _FAST_DURATIONS[report.nodeid] = _FAST_DURATIONS.get(report.nodeid, 0.0) + \
            report.duration


def pytest_terminal_summary(terminalreporter):
    slow = sorted(((t, name) for name, t in _FAST_DURATIONS.items() if t > FAST_LIMIT_S),
                  reverse=True)
    if slow:
        terminalreporter.write_sep("-", f"fast tests over {FAST_LIMIT_S:g} s "
                                        "(mark them 'slow')")
        for t, name in slow:
            terminalreporter.write_line(f"{t:6.1f} s  {name}")
