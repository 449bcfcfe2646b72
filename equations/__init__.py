"""
The Brian2 model equations of ipvae-snn, as plain text: the single source of
truth for every code-generation target (runtime numpy, ``cpp_standalone``,
``cuda_standalone``).

Each realization is one file (``window.txt``, ``continuous.txt``) cut into
sections by ``[name]`` headers; `load` returns them as strings that go straight
into Brian2 (`NeuronGroup` model, threshold, `run_regularly` code, `Synapses`
model and ``on_pre``). Comments start with ``#``.
"""

from importlib import resources

__all__ = ["load", "REALIZATIONS"]

#: The spiking realizations of the design note (section 4).
REALIZATIONS = ("window", "continuous")


def load(realization):
    """
    The sections of one realization's equation file.

    Parameters
    ----------
    realization : {"window", "continuous"}

    Returns
    -------
    dict of str
        Section name -> Brian2 code, comments and blank lines removed.
    """
    if realization not in REALIZATIONS:
        raise ValueError(f"unknown realization {realization!r}; choose one of "
                         f"{REALIZATIONS}")
    text = (resources.files(__name__) / f"{realization}.txt").read_text()
    sections, name = {}, None
    for line in text.splitlines():
        code = line.split("#", 1)[0].rstrip()
        if code.startswith("[") and code.endswith("]"):
            name = code[1:-1].strip()
            sections[name] = []
        elif code.strip() and name is not None:
            sections[name].append(code)
    return {k: "\n".join(v) for k, v in sections.items()}
