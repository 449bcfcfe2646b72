"""
The one thing setup.cfg cannot say: the packages are every package found under
``ipvae_snn/`` (none listed by hand, so a new one cannot be forgotten) plus
``ipvae_snn.equations``, which lives in the top-level ``equations/`` folder
(``package_dir`` in setup.cfg maps it). Everything else is in setup.cfg.
"""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["ipvae_snn", "ipvae_snn.*"]), "ipvae_snn.equations"])
