"""
pytest configuration shared by every path of the checkout (the tests, and the
docstring examples of ``ipvae_snn`` and ``equations``).

Importing Brian2 imports ``brian2.tests``, which replaces pytest's
``DoctestModule`` with a subclass meant for Brian2's own doctests; that
subclass cannot collect the doctests of a package's ``__init__.py``
(``IndexError``). Any test module that imports Brian2 would therefore break
the collection of the doctests collected after it. Every collector here
starts with pytest's own class put back.
"""

from _pytest import doctest as _pytest_doctest


def _pytest_doctest_module():
    cls = _pytest_doctest.DoctestModule
    while cls.__module__ != _pytest_doctest.__name__:     # a plugin's subclass
        cls = cls.__base__
    return cls


_DOCTEST_MODULE = _pytest_doctest_module()


def pytest_collectstart(collector):
    _pytest_doctest.DoctestModule = _DOCTEST_MODULE
