"""
Reading the model's equation files (the implementation of
`ipvae_snn.equations`).

The ``.txt`` files stay in the checkout's top-level ``equations/`` folder (the
design note asks for them there); an installed wheel carries them as the
package data ``ipvae_snn/equations/``. This module, inside the package, finds
them in either layout, so that a checkout works with an editable install, a
regular install run from the checkout's root (where ``import ipvae_snn``
finds the checkout's ``ipvae_snn/``, which has no ``equations``), and a wheel.
"""

import os

__all__ = ["REALIZATIONS", "equations_dir", "load", "constants", "constant_names"]

#: The spiking realizations of the design note (section 4).
REALIZATIONS = ("window", "continuous")

_HERE = os.path.dirname(os.path.abspath(__file__))
# Installed wheel first (package data), then the checkout's top-level folder.
_CANDIDATES = (os.path.join(_HERE, "equations"), os.path.join(_HERE, os.pardir, "equations"))


def equations_dir(candidates=None):
    """
    The folder holding the equation files: the first of ``candidates``
    (default: the package data folder, then the checkout's ``equations/``)
    with a file for every realization.

    Raises
    ------
    FileNotFoundError
        Naming the folders looked at (a broken installation).
    """
    candidates = _CANDIDATES if candidates is None else candidates
    for folder in candidates:
        if all(os.path.isfile(os.path.join(folder, f"{r}.txt")) for r in REALIZATIONS):
            return os.path.abspath(folder)
    raise FileNotFoundError(
        "the equation files (window.txt, continuous.txt) are missing: looked in "
        + ", ".join(os.path.abspath(c) for c in candidates))


def _check_realization(realization):
    from .validation import check_choice
    return check_choice(realization, "realization", REALIZATIONS)


def load(realization, folder=None):
    """
    The sections of one realization's equation file.

    Parameters
    ----------
    realization : {"window", "continuous"}
    folder : str, optional
        Where the files are (default `equations_dir`).

    Returns
    -------
    dict of str
        Section name -> Brian2 code, comments and blank lines removed.
    """
    _check_realization(realization)
    path = os.path.join(folder or equations_dir(), f"{realization}.txt")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    sections, name = {}, None
    for line in text.splitlines():
        code = line.split("#", 1)[0].rstrip()
        if code.startswith("[") and code.endswith("]"):
            name = code[1:-1].strip()
            sections[name] = []
        elif code.strip() and name is not None:
            sections[name].append(code)
    return {k: "\n".join(v) for k, v in sections.items()}


def constants(realization, section="constants"):
    """
    The model's run-time constants: name -> Brian2 unit, from the
    ``[constants]`` section (or ``section``, e.g. ``"sequence_constants"``),
    in the file's order.

    Examples
    --------
    >>> constants("window")["window"], constants("window")["lr"]
    ('second', '1')
    """
    out = {}
    for line in load(realization)[section].splitlines():
        name, _, rest = line.partition(":")
        out[name.strip()] = rest.split("(", 1)[0].strip()
    return out


def constant_names(realization, section="constants"):
    """
    The names of the model's run-time constants (`constants`), as a tuple.

    Examples
    --------
    >>> constant_names("window")[:3]
    ('lr', 'clamp_u', 'clamp_du')
    """
    return tuple(constants(realization, section))
