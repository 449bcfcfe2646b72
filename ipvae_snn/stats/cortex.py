"""
The cortical V1 reference ranges with their sources, and a network's values
beside them.

The ranges live in ``cortex_v1.json`` in the package (`load_cortex_reference`);
`cortex_table` puts a network's values next to them and
`format_cortex_table` prints the rows.

Examples
--------
>>> from ipvae_snn.stats import cortex_table, format_cortex_table, load_cortex_reference
>>> reference = load_cortex_reference()
>>> "fano_factor" in reference["measures"]
True
>>> rows = cortex_table({"fano_factor": 1.1})
>>> row = next(r for r in rows if r["measure"] == "fano_factor")
>>> row["network"], row["inside"] in (True, False)
(1.1, True)
"""

import json
from importlib import resources

import numpy as np

from ..validation import InvalidValueError, MissingFileError

__all__ = ["load_cortex_reference", "cortex_table", "format_cortex_table",
           "SPIKE_TIMING_MEASURES"]

#: Measures of spike timing inside a window (the intervals between spikes):
#: not meaningful where spike times were placed uniformly inside each window
#: from its count (the window realization), where they are ≈ 1 by construction.
SPIKE_TIMING_MEASURES = ("isi_cv", "isi_lv")


def load_cortex_reference(path=None):
    """
    The V1 reference ranges with their sources.

    Parameters
    ----------
    path : str, optional
        A JSON file of the same format (default: ``cortex_v1.json`` shipped
        with the package).

    Returns
    -------
    dict
        ``{"about": ..., "measures": {key: {...}}, "references": {...}}``;
        each measure has ``label``, ``definition``, ``units``, ``range``
        (``[low, high]`` or None), ``approximate`` and ``sources``.

    Raises
    ------
    FileNotFoundError, ValueError
        For a missing file or one without the expected fields.
    """
    if path is None:
        text = resources.files("ipvae_snn").joinpath("cortex_v1.json").read_text(
            encoding="utf-8")
        where = "cortex_v1.json (package data)"
    else:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            raise MissingFileError(f"cortex reference file '{path}' does not exist") \
                from None
        where = f"'{path}'"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidValueError(f"cortex reference {where} is not valid JSON: {exc}") from None
    measures = data.get("measures") if isinstance(data, dict) else None
    if not isinstance(measures, dict) or not measures:
        raise InvalidValueError(f"cortex reference {where}: no 'measures' object")
    refs = data.get("references", {})
    for key, m in measures.items():
        for field in ("label", "definition", "units", "range", "sources"):
            if field not in m:
                raise InvalidValueError(f"cortex reference {where}: measure '{key}' has no "
                                 f"'{field}'")
        rng = m["range"]
        if rng is not None and not (isinstance(rng, list) and len(rng) == 2
                                    and all(isinstance(v, (int, float)) for v in rng)
                                    and rng[0] <= rng[1]):
            raise InvalidValueError(f"cortex reference {where}: measure '{key}': range must be "
                             f"[low, high] with low <= high or null, got {rng!r}")
        for s in m["sources"]:
            if s.get("reference") not in refs:
                raise InvalidValueError(f"cortex reference {where}: measure '{key}' cites "
                                 f"unknown reference {s.get('reference')!r}")
    return data


#: The note of the rows `cortex_table` does not compare for placed spike times.
PLACED_NOTE = ("† not meaningful here: the window realization's spike times are "
               "placed uniformly inside each window from its count, so the intervals "
               "are those of a Poisson process (ISI CV and LV ≈ 1) by construction, "
               "not a property of the model; the continuous realization simulates "
               "spike times.")


def cortex_table(network, reference=None, placed_spike_times=False):
    """
    The network's statistics beside the cortical V1 ranges.

    Parameters
    ----------
    network : dict
        Measure key -> the network's value (e.g. `network_statistics` merged
        with `orientation_summary`); keys the reference does not know are
        ignored, reference measures missing here get ``network = None``.
    reference : dict, optional
        From `load_cortex_reference` (default: the shipped file).
    placed_spike_times : bool
        The spike times were placed uniformly inside each window from its
        count (the window realization; ``result.spikes is None``), not
        simulated: the rows of `SPIKE_TIMING_MEASURES` (ISI CV, LV) are then
        not compared (``network`` None, ``inside`` None, the computed value
        as ``raw``, a note saying why).

    Returns
    -------
    list of dict
        One row per reference measure, in the file's order: ``measure``,
        ``label``, ``units``, ``network``, ``low``, ``high``, ``inside``
        (True/False, None where either side is missing), ``typical`` (or
        None), ``approximate``,
        ``sources`` (short citations), ``raw`` and ``note`` (None except for
        the orientation bandwidth of smoothed tuning curves: ``network`` is
        then Ringach's smoothed bandwidth, ``raw`` the unsmoothed one, and
        the label and note say so; and for the spike-timing rows of placed
        spike times, see ``placed_spike_times``), ``meaningful`` (False for
        those rows); the bandwidth row gets ``resolved`` False (and ``inside``
        None) where ``orientation_sampling_deg`` is more than half its
        unsmoothed value: the sampling, not the neurons, then sets it.

    Examples
    --------
    >>> row = cortex_table({"isi_cv": 1.0}, placed_spike_times=True)
    >>> row = next(r for r in row if r["measure"] == "isi_cv")
    >>> row["network"], row["raw"], row["inside"], row["meaningful"]
    (None, 1.0, None, False)
    """
    reference = load_cortex_reference() if reference is None else reference
    refs = reference.get("references", {})
    rows = []
    for key, m in reference["measures"].items():
        value = _finite_or_none(network.get(key))
        low, high = (m["range"] or (None, None))
        inside = None if value is None or low is None else bool(low <= value <= high)
        row = dict(
            measure=key, label=m["label"], units=m["units"], network=value,
            low=low, high=high, inside=inside, typical=m.get("typical"),
            approximate=bool(m.get("approximate", True)),
            sources="; ".join(refs[s["reference"]]["short"] for s in m["sources"]),
            raw=None, note=None, meaningful=True)
        if placed_spike_times and key in SPIKE_TIMING_MEASURES:
            row.update(label=f"{m['label']}†", network=None, raw=value, inside=None,
                       meaningful=False,
                       note=PLACED_NOTE)
            rows.append(row)
            continue
        smoothing = _finite_or_none(network.get("orientation_smoothing_deg"))
        if key == "orientation_bandwidth_deg" and smoothing is not None:
            # The cortical range was read from smoothed curves, so the network's
            # value is too; the unsmoothed value shows what the smoothing adds.
            row["label"] = f"{m['label']}, smoothed*"
            row["raw"] = _finite_or_none(network.get("orientation_bandwidth_raw_deg"))
            row["note"] = (f"{m['label']}, smoothed: each tuning curve is "
                           f"interpolated at 0.1° "
                           f"and smoothed with a Hanning window of {smoothing:g}° "
                           f"half-width at half-height before the half-width at "
                           f"1/√2 of its peak is read, as Ringach et al. 2002 "
                           f"describe; 'raw' is the same measure without smoothing.")
        sampling = _finite_or_none(network.get("orientation_sampling_deg"))
        if key == "orientation_bandwidth_deg" and sampling is not None:
            _note_sampling(row, sampling, _finite_or_none(
                network.get("orientation_bandwidth_raw_deg")) or value)
        rows.append(row)
    return rows


def _note_sampling(row, sampling, bandwidth):
    """A bandwidth the orientation sampling cannot resolve: not compared, and said why."""
    if bandwidth is not None and bandwidth < 2.0 * sampling:
        # fewer than two samples across the half-width: the spline between
        # samples, not the neuron, sets the number
        row["inside"] = None
        row["resolved"] = False                  # the table and figure add a ‡
        text = (f"‡ tuning sampled every {sampling:g}°, more than half the "
                f"half-width ({bandwidth:.3g}°): not resolved, not compared; sample "
                f"orientations at most half the bandwidth apart.")
        row["note"] = text if row["note"] is None else row["note"] + " " + text


def _finite_or_none(value):
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def format_cortex_table(rows):
    """
    A plain-text table of `cortex_table` rows: a row's ``raw`` value in
    parentheses beside its network value, the rows' notes below the table.
    """
    head = ("measure", "network", "V1 range", "inside", "source")
    lines = []
    for r in rows:
        value = "n/a" if r["network"] is None else f"{r['network']:.3g}"
        if r.get("raw") is not None:
            value += (f" (raw {r['raw']:.3g})" if r.get("meaningful", True)
                      else f" (placed: {r['raw']:.3g})")
        if r.get("resolved", True) is False:
            value += " ‡"
        if r["low"] is None:
            rng = "(no range)"
        else:
            units = "" if r["units"] == "dimensionless" else " " + r["units"]
            rng = (f"{r['low']:.3g} - {r['high']:.3g}{units}"
                   + (" ~" if r["approximate"] else ""))
        inside = {True: "yes", False: "no", None: "-"}[r["inside"]]
        lines.append((r["label"], value, rng, inside, r["sources"]))
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*line) for line in lines]
    out = [line.rstrip() for line in out]
    out.append("~ approximate summary of the literature range (see cortex_v1.json)")
    notes = [(r["note"] if r["note"].startswith(("†", "‡")) else f"* {r['note']}")
             for r in rows if r.get("note")]                   # the labels' '*' and '†'
    out += list(dict.fromkeys(notes))
    return "\n".join(out)
