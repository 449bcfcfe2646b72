"""
Figure files: the format from the extension, atomic writing, a headless
backend.

Every plotting function returns its `matplotlib.figure.Figure` and, given
``path``, also writes it atomically (`save_figure`). Without a display (a
server, CI, the command line) the non-interactive Agg backend is selected
before pyplot is first imported, so nothing tries to open a window.

Examples
--------
>>> check_figure_path("raster.png"), check_figure_path("fig.pdf")
('png', 'pdf')
"""

import os
import sys

from ..io import atomic_path
from ..validation import InvalidValueError

__all__ = ["save_figure", "check_figure_path", "pyplot", "finish"]


def pyplot():
    """`matplotlib.pyplot`, on the Agg backend where there is no display."""
    import matplotlib
    if ("matplotlib.pyplot" not in sys.modules and "MPLBACKEND" not in os.environ
            and sys.platform.startswith("linux")
            and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def check_figure_path(path):
    """
    The format of a figure file from its extension, if it can be written here.

    Raises
    ------
    InvalidValueError
        (a `ValueError`) If the extension is not a format matplotlib can
        write, or the format needs a program that is not installed (``.pgf``
        needs the TeX engine of matplotlib's ``pgf.texsystem``, ``xelatex`` by
        default), so that a command fails before its work, not after it.
    """
    from matplotlib.backend_bases import FigureCanvasBase

    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    formats = FigureCanvasBase.get_supported_filetypes()
    if ext not in formats:
        raise InvalidValueError(f"figure path '{path}': unknown format '.{ext}'; use one of "
                                f"{', '.join('.' + f for f in sorted(formats))}")
    missing = _missing_program(ext)
    if missing:
        raise InvalidValueError(f"figure path '{path}': the .{ext} format needs "
                                f"{missing}, which is not installed; use .pdf, .svg or "
                                f".png")
    return ext


def _missing_program(ext):
    """The program that writing format ``ext`` needs and that is absent, or None."""
    import shutil

    import matplotlib
    needs = []
    if ext == "pgf":
        needs.append(matplotlib.rcParams["pgf.texsystem"])
    if matplotlib.rcParams["text.usetex"]:
        needs.append("latex")
        if ext in ("ps", "eps"):
            needs.append("dvips")
    for program in needs:
        if shutil.which(program) is None:
            return f"'{program}'"
    return None


def save_figure(fig, path, dpi=150):
    """
    Write ``fig`` to ``path`` atomically; the format follows the extension.

    Raises
    ------
    ValueError
        If the extension is not a format matplotlib can write.
    """
    ext = check_figure_path(path)
    with atomic_path(path, suffix="." + ext) as tmp:
        fig.savefig(tmp, format=ext, dpi=dpi, bbox_inches="tight")
    return os.fspath(path)


def finish(fig, title, path):
    """Give ``fig`` its title, write it to ``path`` when given; return it."""
    fig.suptitle(title, fontsize=9)
    if path is not None:
        save_figure(fig, path)
    return fig
