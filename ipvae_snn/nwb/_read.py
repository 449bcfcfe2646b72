"""Reading a `SpikingResult` back from an NWB file written by `write_nwb`."""

import json

import numpy as np

from ..validation import InvalidValueError
from ._base import MODULE, require_pynwb
from ._tables import _columns, _info, _key_values, _value

__all__ = ["read_nwb"]


def _trace(nwbfile, n_patches):
    """The membrane traces back as (patch, neuron, step), or None."""
    if "membrane_potential" not in nwbfile.acquisition:
        return None
    data = np.asarray(nwbfile.acquisition["membrane_potential"].data[:])
    return data.reshape(n_patches, -1, data.shape[1]).transpose(0, 2, 1)


def read_nwb(path):
    """
    Read a file written by `write_nwb` back into a `SpikingResult`.

    The arrays, the model and the spike lists are restored exactly; ``info``
    as after `SpikingResult.save` and `~SpikingResult.load` (through JSON).

    Raises
    ------
    MissingFileError, InvalidValueError
        When ``path`` is missing, or is not a file of this package (not HDF5,
        truncated, damaged, another NWB or HDF5 file), naming the path.

    Examples
    --------
    >>> result = read_nwb("run.nwb")                      # doctest: +SKIP
    >>> result.counts.shape                               # doctest: +SKIP
    (500, 6, 512)
    """
    pynwb = require_pynwb()
    from ..params import IPVAEParams
    from ..results import SpikingResult
    from ..validation import check_file
    path = check_file(path, "NWB file")
    try:
        return _read(pynwb, path, IPVAEParams, SpikingResult)
    except InvalidValueError:
        raise
    except (OSError, KeyError, TypeError, ValueError, IndexError, AttributeError,
            RuntimeError) as exc:       # h5py's and pynwb's errors on foreign files
        raise InvalidValueError(f"NWB file '{path}' cannot be read as a result of "
                                f"ipvae-snn: {_unreadable(exc)}") from None


def _unreadable(exc):
    """What is wrong with a file h5py or pynwb failed on, in a few words."""
    text = " ".join(str(exc).split())
    if "file signature not found" in text:
        return "it is not an HDF5 file (empty, text or another format)"
    if "truncated file" in text:
        return "it is truncated"
    if isinstance(exc, OSError):
        return f"it is damaged or not an HDF5 file ({text[:200]})"
    what = type(exc).__name__
    return f"it is not an NWB file of this package, or is damaged ({what}: {text[:200]})"


def _read(pynwb, path, IPVAEParams, SpikingResult):
    with pynwb.NWBHDF5IO(path, "r") as io:
        nwbfile = io.read()
        if MODULE not in nwbfile.processing:
            raise InvalidValueError(f"NWB file '{path}' was not written by ipvae-snn "
                                    f"(no processing module {MODULE!r})")
        module = nwbfile.processing[MODULE]
        run, model, inputs = module["run"], module["model"], module["inputs"]
        dtypes = _key_values(module["model_dtypes"])
        arrays = {name: np.asarray(col.data[:][0], dtype=dtypes[name])
                  for name, col in _columns(model).items()}
        for name in set(dtypes) - set(arrays):
            arrays[name] = np.asarray(json.dumps(_info(module[f"model_{name}"])),
                                      dtype=dtypes[name])
        params = IPVAEParams.from_arrays(arrays, source=f"NWB file '{path}'")
        fingerprint = str(_value(run, "fingerprint"))
        if params.fingerprint() != fingerprint:
            raise InvalidValueError(f"NWB file '{path}': the model does not match its "
                                    f"fingerprint {fingerprint}")
        shape = _value(run, "patch_shape")
        template = nwbfile.stimulus_template["input_patches"]
        images = np.stack([template.images[f"patch{j}"].data[:]
                           for j in range(len(template.images))])
        index = np.asarray(nwbfile.trials["input_image"].data[:], dtype=np.int64)
        x = images.reshape(len(images), int(np.prod(shape)))[index]
        cols = _columns(inputs)
        data = {name: col.data[:] for name, col in cols.items()
                if not name.endswith("_index") and name not in ("spike_neuron",
                                                                 "spike_time")}
        spikes = None
        if "spike_time_index" in cols:
            ends = cols["spike_time_index"].data[:]
            starts = np.concatenate([[0], ends[:-1]])
            neuron, t = cols["spike_neuron"].data[:], cols["spike_time"].data[:]
            spikes = [(neuron[a:b], t[a:b]) for a, b in zip(starts, ends)]
        extra = {name: (None if _value(run, name) is None else np.asarray(_value(run, name)))
                 for name in ("u_neurons", "u_trace_neurons", "u_trace_t")}
        return SpikingResult(
            params=params, x=x, n_windows=int(_value(run, "n_windows")),
            windows=np.asarray(_value(run, "windows")), counts=data["counts"],
            u=data.get("u"), u_neurons=extra["u_neurons"], u_final=data["u_final"],
            r2=data["r2"], mse=data["mse"], zero_fraction=data["zero_fraction"],
            mean_count=data["mean_count"], runaway_onset=data["runaway_onset"],
            info=_info(module["provenance"]), spikes=spikes, input_gain=data.get("input_gain"),
            u_trace=_trace(nwbfile, len(index)), u_trace_t=extra["u_trace_t"],
            u_trace_neurons=extra["u_trace_neurons"])

