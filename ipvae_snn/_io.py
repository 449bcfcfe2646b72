"""
Former home of `ipvae_snn.io` (atomic saves, array-file loading), kept so that
code written against version 0.1 keeps importing; use `ipvae_snn.io`.
"""

from .io import (atomic_path, atomic_save_json, atomic_save_text, atomic_savez,
                 load_array_file)

__all__ = ["atomic_path", "atomic_savez", "atomic_save_json", "atomic_save_text",
           "load_array_file"]
