"""
The Brian2 model equations of ipvae-snn, as plain text: the single source of
truth for every code-generation target (runtime numpy, ``cpp_standalone``,
``cuda_standalone``).

Each realization is one file (``window.txt``, ``continuous.txt``) cut into
sections by ``[name]`` headers; `load` returns them as strings that go straight
into Brian2 (`NeuronGroup` model, threshold, `run_regularly` code, `Synapses`
model and ``on_pre``). Comments start with ``#``. The ``[constants]`` section
names the model's run-time constants (`constant_names`), which the network
sets from the parameters on every run.

The reading code lives in ``ipvae_snn/_equations.py``, inside the package, so
that the network finds these files from a checkout as well as from a wheel.

Examples
--------
>>> from ipvae_snn import equations
>>> equations.REALIZATIONS
('window', 'continuous')
>>> print(equations.load("window")["threshold"])
z > 0
>>> "softplus_threshold" in equations.constant_names("continuous")
True
"""

from ipvae_snn._equations import (REALIZATIONS, constant_names, constants,
                                  equations_dir, load)

__all__ = ["load", "REALIZATIONS", "constants", "constant_names", "equations_dir"]
