"""
The version of ipvae-snn, in one place.

``ipvae_snn.__version__`` re-exports it; setup.cfg reads it from here (without
importing the package); modules inside the package that record it (provenance,
NWB files, the build key) import it from here rather than from the package's
``__init__``, so that no module depends on the package's facade.

Examples
--------
>>> from ipvae_snn._version import __version__
>>> __version__.count(".")
2
"""

__all__ = ["__version__"]

__version__ = "0.2.0"
