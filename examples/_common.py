"""
Plumbing shared by the example scripts of this folder.

The command-line flags every example takes (``--quick``, ``--out``,
``--device``, ``--seed``), the output folder with the files written to it,
and the script's exit on bad input. The experiments themselves stay in each
script. The examples are run as ``python examples/<name>.py``, which puts
this folder on ``sys.path``.
"""

import argparse
import os
import sys
import time

__all__ = ["example_parser", "Outputs", "run"]

#: Resolution of the figures the examples write.
FIGURE_DPI = 110


def example_parser(description, quick="fewer patches and windows (seconds)",
                   out="the figures", device="Brian2 device"):
    """
    An `argparse.ArgumentParser` with the flags every example takes.

    Parameters
    ----------
    description : str
        What the script does (``--help``).
    quick : str
        What ``--quick`` (the smoke mode) reduces.
    out : str
        What goes into the ``--out`` folder.
    device : str
        Help text of ``--device``.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help=f"smoke mode: {quick}")
    parser.add_argument("--out", default="examples_output", metavar="DIR",
                        help=f"folder for {out} (default %(default)s)")
    parser.add_argument("--device", default="cpp_standalone",
                        choices=("cpp_standalone", "runtime"),
                        help=f"{device} (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    return parser


class Outputs:
    """
    The ``--out`` folder of a run: creates it, writes files into it (all
    atomically), remembers them, and times the run from its creation.

    Creating it selects matplotlib's non-interactive Agg backend, so create it
    before anything imports `matplotlib.pyplot`.

    Parameters
    ----------
    folder : str
        The output folder (created when missing).
    """

    def __init__(self, folder):
        import matplotlib
        matplotlib.use("Agg")
        os.makedirs(folder, exist_ok=True)
        self.folder = folder
        self.written = []
        self.numbers = {}
        self._start = time.perf_counter()

    def quote(self, **numbers):
        """
        Keep numbers the documentation quotes, ``name=text`` as printed;
        `finish` writes them as ``<script>.json`` beside the figures, so a
        page's numbers and its figures come from the same run.
        """
        self.numbers.update({k: str(v) for k, v in numbers.items()})

    def elapsed(self):
        """Seconds since the folder was set up."""
        return time.perf_counter() - self._start

    def _add(self, name):
        path = os.path.join(self.folder, name)
        self.written.append(path)
        return path

    def save(self, fig, name):
        """Write ``fig`` as ``name`` and close it."""
        import matplotlib.pyplot as plt

        from ipvae_snn.plotting import save_figure
        save_figure(fig, os.path.join(self.folder, name), dpi=FIGURE_DPI)
        plt.close(fig)
        self._add(name)

    def save_text(self, name, text):
        """Write ``text`` (and a final newline) as ``name``."""
        from ipvae_snn.io import atomic_save_text
        atomic_save_text(os.path.join(self.folder, name), text + "\n")
        self._add(name)

    def save_json(self, name, obj):
        """Write ``obj`` as JSON as ``name``."""
        from ipvae_snn.io import atomic_save_json
        atomic_save_json(os.path.join(self.folder, name), obj)
        self._add(name)

    def finish(self, script, simulation_s=None):
        """
        Print the files written and the run's total time; return exit status 0.

        ``simulation_s``, when given, is printed beside the total. The
        numbers kept by `quote` are written as ``<script>.json`` first, with
        the command line that made them.
        """
        if self.numbers:
            # the command without its output folder (a path of this machine)
            argv = [a for i, a in enumerate(sys.argv[1:]) if a != "--out"
                    and not (i and sys.argv[i] == "--out") and not a.startswith("--out=")]
            self.save_json(f"{script}.json", {
                "command": " ".join(["python", f"examples/{script}.py", *argv]),
                "numbers": self.numbers})
        for path in self.written:
            print(f"wrote {path}")
        detail = "" if simulation_s is None else f" (simulation {simulation_s:.1f} s)"
        print(f"{script}: {self.elapsed():.1f} s{detail}")
        return 0


def run(main):
    """
    Run ``main()`` as the script ``sys.argv[0]``; a non-zero status is the
    exit status, bad input ends with one line on stderr, not a traceback (as
    the ``ipvae-snn`` command: `ipvae_snn.cli.is_user_error`), while a bug
    shows its traceback. Success returns rather than calling `sys.exit`, and
    the script's ``__file__`` is not used: the documentation's gallery
    (sphinx-gallery) runs the examples in its own process, without one.
    """
    from ipvae_snn.cli import is_user_error
    try:
        status = main()
    except Exception as exc:
        if not is_user_error(exc):
            raise
        sys.exit(f"{os.path.basename(sys.argv[0])}: error: {exc}")
    if status:
        sys.exit(status)
