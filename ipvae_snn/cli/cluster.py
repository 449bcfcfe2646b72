"""The command line's Dask options: ``--scheduler``, ``--wait-workers``."""

import argparse
import contextlib
import os

import numpy as np

from ..defaults import SCHEDULER_ENV
from .common import CLIError

__all__ = ["add_cluster_arguments", "wait_seconds", "scheduler_client", "scheduler_label"]


def wait_seconds(text):
    """`argparse` type of ``--wait-workers``: seconds >= 0, or ``inf``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0 (or inf), "
                                         f"got {text!r}") from None
    if np.isnan(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0 (or inf), "
                                         f"got {value}")
    return value


def add_cluster_arguments(parser):
    """``--scheduler`` and ``--wait-workers``: a Dask cluster."""
    from ..defaults import SCHEDULER_TIMEOUT_S, WAIT_WORKERS_S
    # name --jobs only where the subcommand has it (argparse lists its options
    # only in this attribute)
    jobs = "--jobs" in getattr(parser, "_option_string_actions", {})
    workers = "--jobs or CPU-count workers" if jobs else "one worker per CPU"
    parser.add_argument("--scheduler", metavar="ADDRESS", default=None,
                        help=f"run on a Dask cluster: 'local' (a LocalCluster of "
                             f"{workers}), a scheduler address "
                             "tcp://host:port, tls://host:port (TLS settings from "
                             "dask's configuration) or a scheduler file, waited for "
                             f"up to {SCHEDULER_TIMEOUT_S:g} s (default: "
                             "$DASK_SCHEDULER_ADDRESS; unset: local processes); needs "
                             'pip install "ipvae-snn[dask]"')
    parser.add_argument("--wait-workers", metavar="SECONDS", type=wait_seconds,
                        default=None,
                        help="with --scheduler: seconds to wait for the cluster's "
                             "first worker, e.g. while its jobs are queued; 'inf' "
                             f"waits as long as it takes (default {WAIT_WORKERS_S:g})")


@contextlib.contextmanager
def scheduler_client(args):
    """
    The Dask client of ``--scheduler`` (or ``$DASK_SCHEDULER_ADDRESS``), None
    without either; closed, with a local cluster, on exit.
    """
    scheduler = getattr(args, "scheduler", None)
    wait_workers = getattr(args, "wait_workers", None)
    if scheduler is None and not os.environ.get(SCHEDULER_ENV):
        if wait_workers is not None:
            raise CLIError("--wait-workers needs --scheduler (or $DASK_SCHEDULER_ADDRESS)")
        yield None
        return
    from ..cluster import open_client
    with open_client(scheduler, n_workers=getattr(args, "jobs", None),
                     wait_workers=wait_workers) as client:
        yield client


def scheduler_label(client):
    """`` on the Dask cluster at ADDRESS (N workers)`` for headers, or ''."""
    if client is None:
        return ""
    from ..cluster import client_info
    info = client_info(client)
    return f" on the Dask cluster at {info['scheduler']} ({info['n_workers']} workers)"
