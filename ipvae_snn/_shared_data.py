"""
Former home of `ipvae_snn.datasets.find_reference_dir`, kept so that code
written against version 0.1 keeps importing; use `ipvae_snn.datasets`.
"""

from .datasets import find_reference_dir

__all__ = ["find_reference_dir"]
