"""
Render the network equations of `ipvae_snn.equations` into ``docs/equations.md``.

The equations live as text files inside the package and are the single source
of truth for every Brian2 code-generation target; this page is generated from
them (``python docs/render_equations.py``) so the documentation cannot drift
from the code. ``--check`` exits with status 1, writing nothing, when the page
is out of date (the test suite runs that check).
"""

import argparse
import os
import sys
from importlib import resources

#: How each section of an equation file enters Brian2 (see ipvae_snn.network).
SECTION_ROLES = {
    "neuron": "`NeuronGroup` model: the state of each neuron (one neuron per latent)",
    "constants": "shared constants of the `NeuronGroup`, set for every run (they are "
                 "run arguments of a compiled network, so new parameters never "
                 "recompile it)",
    "input_start": "`run_regularly` at the first time step of every input: back to "
                   "the prior",
    "draw": "`run_regularly` before the threshold, every time step (= every window): "
            "the posterior sample",
    "draw_replay": "replaces `draw` when recorded counts are replayed (e.g. the "
                   "official traces)",
    "threshold": "`NeuronGroup` threshold: when a neuron emits a spike event",
    "update": "`run_regularly` at the end of every time step, after the synapses",
    "synapse": "`Synapses` model of the all-to-all lateral connections",
    "on_pre": "`Synapses` `on_pre`: what a presynaptic spike does to its targets",
    "sequence_neuron": "sequence mode only (`StimulusSequence`): lines added to "
                       "`neuron`, replacing those that define the same variable",
    "sequence_constants": "sequence mode only: shared constants added to `constants`",
    "sequence_update_before": "sequence mode only: code run before `update`",
    "sequence_update_after": "sequence mode only: code run after `update`",
    "sequence_on_pre": "sequence mode only: replaces `on_pre`",
}

TITLES = {
    "window": "Realization A: `window` (exact)",
    "continuous": "Realization B: `continuous` membrane",
}


def _source(realization):
    return (resources.files("ipvae_snn.equations") / f"{realization}.txt").read_text(
        encoding="utf-8")


def header_comment(realization):
    """The comment block that opens the equation file, as paragraphs."""
    paragraphs, current = [], []
    for line in _source(realization).splitlines():
        if line.startswith("["):
            break
        text = line[1:].strip() if line.startswith("#") else ""
        if text:
            current.append(text)
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    # The first line is the file's title ("iP-VAE as a spiking network -- ...").
    first = paragraphs[0].split(". ", 1) if paragraphs else [""]
    if len(first) == 2 and "--" in first[0]:
        paragraphs[0] = first[1]
    return paragraphs


def commented_sections(realization):
    """
    The sections as `ipvae_snn.equations.load` returns them, each code line
    with its comment from the file (comment-only lines kept as comments).

    Raises
    ------
    RuntimeError
        If the code read here differs from what ``load`` returns (the parser
        of the package changed): the page would no longer show the code.
    """
    from ipvae_snn import equations
    loaded = equations.load(realization)
    sections, name = {}, None
    for line in _source(realization).splitlines():
        code, _, comment = line.partition("#")
        code = code.rstrip()
        if code.startswith("[") and code.endswith("]"):
            name = code[1:-1].strip()
            sections[name] = []
        elif name is not None and (code.strip() or comment.strip()):
            sections[name].append((code, comment.strip()))
    out = {}
    for key, lines in sections.items():
        code_only = "\n".join(c for c, _ in lines if c.strip())
        if code_only != loaded.get(key):
            raise RuntimeError(f"section [{key}] of {realization}.txt: the code read "
                               f"here differs from ipvae_snn.equations.load")
        width = max((len(c) for c, _ in lines if c.strip()), default=0)
        rendered = []
        for code, comment in lines:
            if not code.strip():
                rendered.append(f"# {comment}")
            elif comment:
                rendered.append(f"{code.ljust(width)}  # {comment}")
            else:
                rendered.append(code)
        out[key] = "\n".join(rendered)
    if list(out) != list(loaded):
        raise RuntimeError(f"{realization}.txt: sections differ from "
                           f"ipvae_snn.equations.load")
    return out


def render():
    """The Markdown page, as a string."""
    from ipvae_snn import equations

    out = [
        "# The Brian2 equations",
        "",
        "<!-- Generated by docs/render_equations.py from the equation files of "
        "ipvae_snn/equations; do not edit by hand. -->",
        "",
        "The network is built from these text files and nothing else: "
        "`ipvae_snn.equations.load(realization)` returns their sections, and "
        "`ipvae_snn.network.SpikingIPVAE` passes them to Brian2 unchanged, for "
        "every code-generation target (runtime numpy, `cpp_standalone`, "
        "`cuda_standalone`). Everything after `#` is a comment. Names used below: "
        "`drive_input(t, i)` is a "
        "`TimedArray` holding each input's feed-forward drive "
        "(Φᵀ Σ⁻¹ x)ᵢ; `w` on the synapse from j to i is Wᵢⱼ = (Φᵀ Σ⁻¹ Φ)ᵢⱼ. "
        "See [the model](model.md) for what the terms mean.",
        "",
    ]
    for realization in equations.REALIZATIONS:
        sections = commented_sections(realization)
        out += [f"## {TITLES.get(realization, realization)}", ""]
        for paragraph in header_comment(realization):
            out += [paragraph, ""]
        for name, code in sections.items():
            role = SECTION_ROLES.get(name, "section of the equation file")
            out += [f"**`[{name}]`** — {role}.", "", "```", code, "```", ""]
    return "\n".join(out).rstrip() + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "equations.md"), help="page to write")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the page differs from the equations")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        try:
            with open(args.out, encoding="utf-8") as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current != text:
            print(f"{args.out} is out of date: run python docs/render_equations.py",
                  file=sys.stderr)
            return 1
        return 0
    from ipvae_snn.io import atomic_save_text
    atomic_save_text(args.out, text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
