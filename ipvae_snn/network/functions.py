"""
Functions the equations call that Brian2 does not provide: ``softplus``.

softplus(x) = log(1 + e^x), linear above ``threshold`` (torch's convention),
with one implementation per code-generation target (numpy, Cython, C++,
CUDA) that agree to one unit in the last place of a double, so that the
equations run on every Brian2 target: runtime ``numpy`` and ``cython``,
``cpp_standalone`` and brian2cuda's ``cuda_standalone``.
"""

import numpy as np

__all__ = ["softplus_function", "SOFTPLUS_SERIES_FROM"]

# Above x = 7 softplus is evaluated as x + log1p(e^-x) with log1p by its series
# to fourth order (error < e^-5x / 5 < 1e-16 relative): one exp instead of exp
# and log1p on the path nearly every neuron takes each window. Identical to
# log1p(exp(x)) within one unit in the last place of a double.
SOFTPLUS_SERIES_FROM = 7.0

_SOFTPLUS_C = """
static inline double ipvae_softplus(const double x, const double threshold)
{
    if (x > threshold)
        return x;
    if (x > SERIES_FROM) {
        const double e = exp(-x);
        return x + e * (1.0 - e * (0.5 - e * (1.0 / 3.0 - 0.25 * e)));
    }
    return log1p(exp(x));
}
""".replace("SERIES_FROM", repr(SOFTPLUS_SERIES_FROM))


# The same for Brian2's Cython target (its templates cimport exp and log1p).
_SOFTPLUS_CYTHON = """
cdef inline double ipvae_softplus(double x, double threshold) nogil:
    cdef double e
    if x > threshold:
        return x
    if x > SERIES_FROM:
        e = exp(-x)
        return x + e * (1.0 - e * (0.5 - e * (1.0 / 3.0 - 0.25 * e)))
    return log1p(exp(x))
""".replace("SERIES_FROM", repr(SOFTPLUS_SERIES_FROM))


def _softplus_numpy(x, threshold):
    x = np.asarray(x, dtype=np.float64)
    threshold = np.broadcast_to(threshold, x.shape)
    out = np.array(x)                                   # linear above threshold
    with np.errstate(over="ignore"):
        series = (x > SOFTPLUS_SERIES_FROM) & (x <= threshold)
        e = np.exp(-x[series])
        out[series] = x[series] + e * (1.0 - e * (0.5 - e * (1.0 / 3.0 - 0.25 * e)))
        low = x <= np.minimum(threshold, SOFTPLUS_SERIES_FROM)
        out[low] = np.log1p(np.exp(x[low]))
    return out


def softplus_function():
    """The Brian2 `Function` ``softplus(x, threshold)`` used by the equations."""
    from brian2 import Function

    function = Function(_softplus_numpy, arg_units=[1, 1], return_unit=1,
                        arg_types=["float", "float"], return_type="float",
                        stateless=True)
    function.implementations.add_implementation("cpp", _SOFTPLUS_C,
                                                name="ipvae_softplus")
    function.implementations.add_implementation("cython", _SOFTPLUS_CYTHON,
                                                name="ipvae_softplus")
    function.implementations.add_implementation(
        "cuda", _SOFTPLUS_C.replace("static inline double",
                                    "__host__ __device__ static inline double"),
        name="ipvae_softplus")
    return function
