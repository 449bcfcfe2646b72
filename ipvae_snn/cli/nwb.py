"""The command line's NWB options: ``--nwb`` and the file's metadata."""

from .common import PROG

__all__ = ["add_nwb_arguments", "check_nwb_argument", "write_nwb"]


def add_nwb_arguments(parser):
    """``--nwb`` (a Neurodata Without Borders file) and its metadata options."""
    parser.add_argument("--nwb", metavar="F.nwb", default=None,
                        help="also write the spikes, trials, input patches and "
                             "model as a Neurodata Without Borders file; needs "
                             'pip install "ipvae-snn[nwb]"')
    group = parser.add_argument_group(
        "NWB metadata", "who made the --nwb file, and its subject (the model)")
    group.add_argument("--nwb-for-neo", action="store_true",
                       help="write the file's lists of strings (related "
                            "publications, experimenter, keywords) into its "
                            "notes: neo's NWBIO (0.14) cannot read them")
    group.add_argument("--experimenter", action="append", metavar="NAME",
                       help="experimenter, 'Last, First' (repeat for several)")
    group.add_argument("--lab", metavar="NAME", help="the lab")
    group.add_argument("--institution", metavar="NAME", help="the institution")
    group.add_argument("--subject-id", metavar="ID",
                       help="subject id (default ipvae-<model fingerprint>)")
    group.add_argument("--subject-species", metavar="SPECIES",
                       help="subject species, a Latin binomial or an NCBI Taxonomy "
                            "IRI (default NCBITaxon_32630, 'synthetic construct': "
                            "a model is no animal)")


def check_nwb_argument(args):
    """Fail before any work when ``--nwb`` is given but pynwb is missing."""
    if getattr(args, "nwb", None):
        from ..nwb import require_pynwb
        require_pynwb()


def write_nwb(result, args, **kwargs):
    """
    Write ``result`` to ``--nwb`` when given (`ipvae_snn.nwb.write_nwb`), with
    the metadata options and the command line as its ``source_script``.
    """
    if getattr(args, "nwb", None):
        import shlex

        from ..nwb import write_nwb as write
        meta = {k: getattr(args, k, None) for k in ("experimenter", "lab", "institution")}
        subject = dict(subject_id=getattr(args, "subject_id", None),
                       species=getattr(args, "subject_species", None))
        write(result, args.nwb, subject=subject,
              source_script=shlex.join([PROG] + list(getattr(args, "argv", []))),
              neo_readable=bool(getattr(args, "nwb_for_neo", False)),
              **{k: v for k, v in meta.items() if v}, **kwargs)
