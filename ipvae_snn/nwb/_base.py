"""What the NWB writer and reader share: names, the paper, the species, pynwb."""

from ..validation import MissingDependencyError

__all__ = ["NWB_EXTRA", "MODULE", "PAPER", "SPECIES", "require_pynwb"]

#: How to install what this module needs.
NWB_EXTRA = 'pip install "ipvae-snn[nwb]"'
#: Name of the processing module with the package's own tables.
MODULE = "ipvae_snn"
#: The paper of the iP-VAE (``related_publications``): Vafaii, Galor & Yates,
#: "Brain-like variational inference", arXiv:2410.19315.
PAPER = "doi:10.48550/arXiv.2410.19315"
#: The default subject species: NCBI Taxonomy's "synthetic construct"
#: (taxon 32630). A simulated network belongs to no animal species; DANDI
#: requires a species as a Latin binomial or an NCBI Taxonomy term, and this
#: is the term for something made, not sampled from an organism.
SPECIES = "http://purl.obolibrary.org/obo/NCBITaxon_32630"

_READOUTS = (("r2", "R² of the reconstruction from the counts of each window"),
             ("mse", "squared error of that reconstruction, summed over pixels, "
                     "per window"),
             ("zero_fraction", "fraction of silent neurons in each window"),
             ("mean_count", "mean spike count per neuron in each window"))


def require_pynwb():
    """
    Import pynwb.

    Raises
    ------
    MissingDependencyError
        (an `ImportError`) When pynwb is not installed, naming the extra.

    Examples
    --------
    >>> require_pynwb().__name__                          # doctest: +SKIP
    'pynwb'
    """
    try:
        import pynwb
    except ImportError as exc:
        raise MissingDependencyError(f"NWB files need pynwb ({exc}); install it with: "
                                     f"{NWB_EXTRA}") from None
    return pynwb
