"""
Times given to the network, checked at its boundary: a Brian2 quantity of time
(``100 * ms``) or a plain number of seconds (``0.1``, what the command line
passes).

Brian2 is imported only inside `ipvae_snn.network`; this module is where its
units meet the rest of the package, which speaks float seconds.

Examples
--------
>>> from ipvae_snn.network.units import as_seconds
>>> as_seconds(0.05, "window")
0.05
>>> from brian2 import Hz, ms
>>> as_seconds(100 * ms, "window")
0.1
>>> as_seconds(5 * Hz, "window")
Traceback (most recent call last):
...
ipvae_snn.network.units.UnitError: window must have units of time, got 5. Hz
"""

import numpy as np

from ..validation import InputError, InvalidTypeError, InvalidValueError

# UnitError is created on first access (the module's __getattr__): it derives
# from Brian2's DimensionMismatchError, and importing this module does not
# import Brian2.
__all__ = ["UnitError", "as_seconds"]  # noqa: F822

_UNIT_ERROR = []


def _unit_error_class():
    if not _UNIT_ERROR:
        from brian2.units.fundamentalunits import DimensionMismatchError

        class UnitError(InputError, DimensionMismatchError, ValueError):
            """A quantity with units of the wrong dimension (Brian2's
            ``DimensionMismatchError``, also a `ValueError`)."""

        UnitError.__module__, UnitError.__qualname__ = __name__, "UnitError"
        _UNIT_ERROR.append(UnitError)
    return _UNIT_ERROR[0]


def __getattr__(name):
    if name == "UnitError":
        return _unit_error_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def as_seconds(value, name, example="100*ms"):
    """
    A positive time as float seconds.

    Parameters
    ----------
    value : float or brian2 Quantity
        A number of seconds, or a Brian2 quantity of time.
    name : str
        The argument's name, for the message.
    example : str
        A valid value, for the message.

    Raises
    ------
    UnitError
        A Brian2 quantity whose units are not a time (as Brian2 would refuse
        it: a ``DimensionMismatchError``).
    InvalidTypeError
        Neither a number nor a quantity.
    InvalidValueError
        Not positive and finite.
    """
    dim = getattr(value, "dim", None)
    if dim is not None:                 # a Brian2 quantity
        from brian2 import second
        from brian2.units.fundamentalunits import DIMENSIONLESS
        if dim is not DIMENSIONLESS:
            if dim != second.dim:
                raise _unit_error_class()(f"{name} must have units of time, got {value}")
            value = float(value / second)
    wrong = InvalidTypeError(f"{name} must be a time: seconds or a Brian2 quantity such "
                             f"as {example}, got {value!r}")
    if isinstance(value, (bool, np.bool_, str, bytes)):
        raise wrong
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise wrong from None
    if not np.isfinite(seconds) or seconds <= 0:
        raise InvalidValueError(f"{name} must be positive, got {value!r}")
    return seconds
