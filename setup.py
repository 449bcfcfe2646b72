"""
Kept for tools that still call ``setup.py``; the whole configuration, the
package list included, is in setup.cfg.
"""

from setuptools import setup

setup()
