"""``ipvae-snn stats --protocol ...``: the experimenters' protocols on a model."""

import argparse
import functools
import time

import numpy as np

from ..defaults import ANALYSIS_START, min_analysis_windows
from .common import (PROG, CLIError, load_input_patches, load_model, model_label,
                     positive_int, print_json)

__all__ = ["PROTOCOLS", "add_protocol_arguments", "add_gain_noise_argument", "run_protocol"]

#: The protocols of ``--protocol``.
PROTOCOLS = ("onset", "contrast", "noise-correlation", "allen", "timescale", "sensitivity")


def _floats(text):
    try:
        values = [float(s) for s in text.split(",") if s.strip()]
    except ValueError:
        values = []
    if len(values) < 2 or any(not np.isfinite(v) or v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected at least 2 positive numbers "
                                         f"separated by commas, got '{text}'")
    return values


def add_gain_noise_argument(p):
    """``--gain-noise SIGMA``: the shared-gain variant (`ipvae_snn.sampling`), of
    ``simulate``, ``infer`` and ``stats``."""
    from .common import nonnegative_float
    p.add_argument("--gain-noise", type=nonnegative_float, default=0.0, metavar="SIGMA",
                   help="opt-in shared-gain variant: every neuron's spikes drawn at a "
                        "gain g times the rate, g gamma-distributed with mean 1 and SD "
                        "SIGMA, correlated over 10 windows (Goris, Movshon & Simoncelli "
                        "2014); default %(default)s: off")


def add_protocol_arguments(p):
    """The protocol options of ``ipvae-snn stats``."""
    g = p.add_argument_group("protocols (instead of the cortex table)")
    g.add_argument("--protocol", choices=PROTOCOLS, default=None,
                   help="run one protocol: onset (mean-matched Fano factor and rate "
                        "around stimulus onset, blank -> stimulus -> blank; with "
                        "--gain-noise the default model beside the variant), contrast "
                        "(Fano factor, noise correlation and "
                        "rates at several contrasts), noise-correlation (r_sc against "
                        "signal correlation and RF overlap), allen (lifetime sparseness, "
                        "reliability, image selectivity), timescale (rate rows against "
                        "the window length), sensitivity (the cortex table against gain "
                        "noise, window length and spike cost, one at a time around "
                        "--gain-noise and --window-ms; reference only)")
    g.add_argument("--engine", choices=("reference", "network"), default="reference",
                   help="with --protocol: the model that runs it (default %(default)s: "
                        "the reference algorithm; network: the spiking network)")
    g.add_argument("--contrasts", type=_floats, default=None, metavar="C1,C2,...",
                   help="with --protocol contrast: RMS contrasts (default "
                        "0.125,0.25,0.5,1)")
    g.add_argument("--stimulus", choices=("gratings", "natural"), default=None,
                   help="with --protocol contrast or noise-correlation: the stimuli "
                        "(default gratings for contrast, natural for noise-correlation)")
    g.add_argument("--presentation-windows", type=positive_int, default=12, metavar="N",
                   help="with --protocol allen: windows per image presentation, from "
                        "the model's start (default %(default)s)")
    g.add_argument("--window-lengths", type=_floats, default=None, metavar="MS,...",
                   help="with --protocol timescale: window lengths in ms (default "
                        "5,10,20,30,50,100,200,500)")


def _run_callable(args, params, gain_noise=None, sequence=False):
    """The engine's ``run`` (``run_sequence`` with ``sequence``) at ``--gain-noise``."""
    gain = args.gain_noise if gain_noise is None else gain_noise
    if args.engine == "reference":
        from ..reference import infer, infer_sequence
        return functools.partial(infer_sequence if sequence else infer, params, warn=False,
                                 gain_noise=gain)
    from ..network import SpikingIPVAE
    window_ms = getattr(args, "window_ms", None)
    net = SpikingIPVAE(params, realization=args.realization, device=args.device,
                       gain_noise=gain, window=None if window_ms is None else window_ms * 1e-3)
    return functools.partial(net.run_sequence if sequence else net.run,
                             progress=False if args.quiet else None)


def _patches(args, params, n_default):
    if args.patches is None and not getattr(args, "images", None):
        return None, "held-out natural patches"
    if args.patches is None and args.n_patches is None:
        args.n_patches = n_default
    return load_input_patches(args, params, limit=args.n_patches)


def run_protocol(args):
    """Run ``ipvae-snn stats --protocol NAME``; returns the exit status."""
    from .. import stats
    from .common import pyplot
    if args.from_nwb:
        raise CLIError("--protocol runs a model; --from-nwb runs nothing")
    if getattr(args, "nwb", None):
        raise CLIError("--nwb writes the spikes of the cortex-table run, not of --protocol")
    if args.trials < 2:
        raise CLIError(f"--trials must be at least 2, got {args.trials}")
    if args.protocol != "allen" and args.windows < min_analysis_windows():
        raise CLIError(f"--windows must be at least {min_analysis_windows()} (windows "
                       f"{ANALYSIS_START} on are analysed), got {args.windows}")
    if args.protocol == "sensitivity" and args.engine != "reference":
        raise CLIError("--protocol sensitivity runs the reference algorithm only")
    params = load_model(args.model)
    run = _run_callable(args, params)
    start = time.perf_counter()
    say = (lambda line: None) if (args.quiet or args.json) else print
    name, fig = args.protocol, None
    if name == "onset":
        n = args.n_patches or 8
        x, source = _patches(args, params, n)
        gains = [0.0] + ([args.gain_noise] if args.gain_noise else [])
        result = [stats.onset_protocol(params, _run_callable(args, params, g, sequence=True),
                                       n_stimuli=n if x is None else len(x),
                                       n_trials=args.trials, seed=args.seed, patches=x,
                                       window_s=None if args.window_ms is None
                                       else args.window_ms * 1e-3)
                  for g in gains]
        values = dict(runs=[dict(r.to_dict(), gain_noise=g) for r, g in zip(result, gains)])
        lines = [f"{'gain noise':>10} {'Fano before':>12} {'Fano after':>11} {'change':>8} "
                 f"{'raw before':>11} {'raw after':>10} {'rate before':>12} {'rate after':>11}"]
        lines += [f"{g:10g} {r.fano_before:12.3f} {r.fano_after:11.3f} {r.change:8.3f} "
                  f"{r.fano_all_before:11.3f} {r.fano_all_after:10.3f} "
                  f"{r.rate_hz[r.times_s <= 0].mean():12.3g} {r.rate_hz[-1]:11.3g}"
                  for r, g in zip(result, gains)]
        lines.append(f"(mean-matched Fano factor of counts of 3 windows; rates in sp/s at "
                     f"{result[0].settings['window_s'] * 1e3:g} ms per window)")
        plot = "plot_onset_protocol"
    elif name == "sensitivity":
        window_s = (getattr(args, "window_ms", None) or 20.0) * 1e-3
        result = stats.cortex_sensitivity(
            params, gain_noise=args.gain_noise, window_s=window_s,
            n_patches=args.n_patches or 30, n_trials=args.trials, n_windows=args.windows,
            count_windows=args.count_windows, seed=args.seed, progress=say)
        source = "held-out natural patches and gratings"
        values = dict(points=[{k: v for k, v in p.items() if k != "rows"} for p in result])
        lines = [f"{'axis':>11} {'gain':>5} {'window ms':>9} {'cost':>5} {'inside':>7}  outside"]
        lines += [f"{p['axis']:>11} {p['gain_noise']:5g} {p['window_s'] * 1e3:9g} "
                  f"{p['cost_scale']:5g} {p['n_inside']:>3}/{p['n_ranged']:<3}  "
                  f"{', '.join(p['outside'])}" for p in result]
        plot = "plot_sensitivity"
    elif name == "contrast":
        stimulus = args.stimulus or "gratings"
        n = args.n_patches or 16
        x, source = _patches(args, params, n) if stimulus == "natural" else (None, "")
        result = stats.contrast_protocol(
            params, run, contrasts=args.contrasts or stats.DEFAULT_CONTRASTS,
            stimulus=stimulus, n_stimuli=n if x is None else len(x), n_trials=args.trials,
            n_windows=args.windows, count_windows=args.count_windows, seed=args.seed,
            patches=x, progress=say)
        values = result.to_dict()
        lines = [f"{'contrast':>9} {'Fano':>7} {'Fano mm':>8} {'r_sc':>10} "
                 f"{'mean sp/s':>10} {'median sp/s':>12}"]
        lines += [f"{c:9.3g} {f:7.3f} {m:8.3f} {r:10.2e} {a:10.3g} {b:12.3g}"
                  for c, f, m, r, a, b in zip(values["contrasts"], values["fano"],
                                              values["fano_matched"],
                                              values["noise_correlation"],
                                              values["mean_rate_hz"],
                                              values["median_rate_hz"])]
        plot = "plot_contrast_protocol"
    elif name == "noise-correlation":
        stimulus = args.stimulus or "natural"
        n = args.n_patches or 30
        x, source = _patches(args, params, n) if stimulus == "natural" else (None, "")
        result = stats.noise_correlation_protocol(
            params, run, stimulus=stimulus, n_stimuli=n if x is None else len(x),
            n_trials=args.trials, n_windows=args.windows,
            count_windows=args.count_windows, seed=args.seed, patches=x)
        values = result.to_dict()
        lines = [f"mean r_sc {values['mean_r_sc']:.3g} over {values['n_pairs']} pairs; "
                 f"slope of r_sc on r_signal {values['slope_r_sc_on_r_signal']:.3g}",
                 f"{'bin':>14} {'r_sc|signal':>12} {'n':>7} {'r_sc|overlap':>13} {'n':>7}"]
        bs, bo = values["by_signal"], values["by_overlap"]
        for i in range(len(bs["mean"])):
            def fmt(v):
                return "-" if v is None else f"{v:.2e}"
            lines.append(f"{bs['edges'][i]:6.2f} - {bs['edges'][i + 1]:5.2f} "
                         f"{fmt(bs['mean'][i]):>12} {bs['count'][i]:7d} "
                         f"{fmt(bo['mean'][i]):>13} {bo['count'][i]:7d}")
        plot = "plot_noise_correlation_protocol"
    elif name == "allen":
        n = args.n_patches or 30
        x, source = _patches(args, params, n)
        if args.presentation_windows < 2:
            raise CLIError("--presentation-windows must be at least 2")
        result = stats.natural_scenes_protocol(
            params, run, n_images=n if x is None else len(x), n_trials=args.trials,
            n_windows=args.presentation_windows, seed=args.seed, patches=x)
        values = result.to_dict()
        lines = [f"{k}: {values[k]:.3g} (median over {values['n_responsive']} responsive "
                 f"neurons)" for k in ("lifetime_sparseness", "reliability",
                                       "image_selectivity")]
        plot = "plot_natural_scenes_protocol"
    else:
        from ..stats.experiments import repeat_trials, trial_counts
        from ..data import natural_patches
        n = args.n_patches or 30
        x, source = _patches(args, params, n)
        x = natural_patches(n_patches=n, seed=args.seed) if x is None else x
        windows = np.arange(ANALYSIS_START, args.windows)
        res = run(repeat_trials(x, args.trials), args.windows, seed=args.seed,
                  record_windows=windows)
        lengths = [w / 1e3 for w in (args.window_lengths or
                                     [w * 1e3 for w in stats.WINDOW_LENGTHS_S])]
        result = stats.rates_by_window(trial_counts(res, args.trials, windows), lengths)
        values = dict(rows=result, documented_window_s=stats.DOCUMENTED_WINDOW_S,
                      sources=list(stats.TIMESCALE_SOURCES))
        lines = [f"{'window ms':>9} {'median sp/s':>12} {'mean sp/s':>10} "
                 f"{'SD log10':>9} {'median inside':>14}"]
        lines += [f"{r['window_s'] * 1e3:9g} {r['median_rate_hz']:12.3g} "
                  f"{r['mean_rate_hz']:10.3g} {r['log10_rate_sd']:9.3f} "
                  f"{str(r['inside'].get('median_rate_hz')):>14}" for r in result]
        lines.append(f"documented window: {stats.DOCUMENTED_WINDOW_S * 1e3:g} ms (one FOND "
                     f"step per membrane time constant; see docs/statistics.md)")
        plot = "plot_rates_by_window"
    seconds = time.perf_counter() - start
    if args.figure:
        from .. import plotting
        kwargs = dict(documented=stats.DOCUMENTED_WINDOW_S) if name == "timescale" else {}
        fig = getattr(plotting, plot)(result, path=args.figure, **kwargs)
        pyplot().close(fig)
    literature = stats.load_protocol_reference()
    if args.json:
        print_json(dict(command="stats", protocol=name, engine=args.engine,
                        model=args.model, source=source or None, seconds=seconds,
                        values=values, literature=literature, figure=args.figure))
        return 0
    print(f"{PROG} stats --protocol {name}: model {model_label(args.model)} "
          f"(K={params.n_latents}), {args.engine}"
          f"{'' if not source else '; ' + source}; {seconds:.1f} s")
    print("\n".join(lines))
    if args.figure:
        print(f"figure written to {args.figure}")
    return 0
