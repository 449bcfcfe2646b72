"""Building and reading the hdmf tables of an NWB file (`ipvae_snn.nwb`)."""

import json

import numpy as np

__all__ = []


def _compressed(data):
    from hdmf.backends.hdf5 import H5DataIO
    data = np.ascontiguousarray(data)
    if data.size < 1024:
        return data
    return H5DataIO(data, compression="gzip", compression_opts=4, shuffle=True)


def _column(name, description, data, compress=False):
    from hdmf.common import VectorData
    return VectorData(name=name, description=description,
                      data=_compressed(data) if compress else data)


def _ragged(name, description, pieces, dtype):
    """A ragged column (its data and its index) from one array per row."""
    from hdmf.common import VectorIndex
    flat = (np.concatenate(pieces).astype(dtype) if pieces else np.zeros(0, dtype))
    data = _column(name, description, flat, compress=True)
    ends = np.cumsum([len(p) for p in pieces]).astype(np.int64)
    return [data, VectorIndex(name=f"{name}_index", data=ends, target=data)]


def _table(cls, name, description, columns, n_rows):
    from hdmf.common import ElementIdentifiers
    return cls(name=name, description=description, columns=columns,
               id=ElementIdentifiers(name="id", data=np.arange(n_rows)))


def _flatten(info, prefix=()):
    """``(path, leaf)`` pairs of a nested dict; a non-empty dict is never a leaf."""
    for key, value in info.items():
        path = prefix + (str(key),)
        if isinstance(value, dict) and value:
            yield from _flatten(value, path)
        else:
            yield path, value


def _unflatten(paths, values):
    out = {}
    for path, value in zip(paths, values):
        node = out
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return out


def _key_value_table(name, description, keys, values, key_what, value_what):
    from hdmf.common import DynamicTable
    return _table(DynamicTable, name, description,
                  [_column("key", key_what, list(keys)),
                   _column("value", value_what, list(values))], len(keys))


def _flat_table(name, description, mapping):
    """A nested dict as (key path, JSON value) rows."""
    leaves = list(_flatten(mapping))
    return _key_value_table(
        name, description, ["/".join(path) for path, _ in leaves],
        [json.dumps(value) for _, value in leaves],
        "the entry's path in the dict, keys joined by '/'",
        "the entry's value in JSON (a number, string, list, true/false or null)")


def _json_object(value):
    """The dict a 0-d string array holds as JSON, or None."""
    value = np.asarray(value)
    if value.ndim or value.dtype.kind not in "US":
        return None
    try:
        obj = json.loads(str(value))
    except ValueError:
        return None
    return obj if isinstance(obj, dict) and obj else None


def _columns(table):
    return {col.name: col for col in table.columns}


def _value(table, name):
    cols = _columns(table)
    return None if name not in cols else cols[name].data[:][0]


def _key_values(table):
    cols = _columns(table)
    return {str(k): str(v) for k, v in zip(cols["key"].data[:], cols["value"].data[:])}


def _info(table):
    rows = _key_values(table)
    return _unflatten([k.split("/") for k in rows], [json.loads(v) for v in rows.values()])
