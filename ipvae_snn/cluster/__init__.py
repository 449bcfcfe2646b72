"""
Connecting to a Dask cluster: scheduler addresses and files, the handshake
probe, deadlines, waiting for workers, security.

`open_client` is what the command line's ``--scheduler`` and
``--wait-workers`` use; `resolve_client` turns what an API user passes as
``client=`` (a `distributed.Client` or a scheduler address) into a live
client. Dask is an optional dependency: ``pip install "ipvae-snn[dask]"``.

What a scheduler may be
-----------------------
``"local"`` starts a `distributed.LocalCluster`; ``tcp://host:port``,
``tls://host:port`` or ``host:port`` is a running scheduler; anything else is
the path of a scheduler file (``dask scheduler --scheduler-file F``). A value
that is none of these (no port, no host, ``http://``, ``inproc://``, an
empty file, a file that is not JSON) is refused in one line
(`SchedulerError`, an `~ipvae_snn.validation.InputError`) before anything
connects.

Deadlines
---------
Every step has one: a scheduler file that does not exist yet is waited for
(a batch job may still be starting the scheduler) for up to ``timeout``
seconds; then the handshake probe and the connection of the client share
another ``timeout``; then the first worker is waited for up to
``wait_workers`` seconds (a queued cluster). The probe opens a socket to the
address and reads what a Dask scheduler sends first on every connection (its
comm handshake: a frame length and a msgpack message) without sending
anything, so it tells apart a refused port, a host that does not answer, an
HTTP server (the scheduler's dashboard is the usual mix-up), a TLS server
reached with ``tcp://``, a service that accepts connections but never
answers, and a scheduler — without reading a bogus frame length.

Security
--------
TLS and the other security settings come from Dask's own configuration
(``distributed.comm.tls.ca-file``, ``distributed.comm.tls.client.cert``,
``distributed.comm.tls.client.key``, ``distributed.comm.require-encryption``:
a YAML file in ``~/.config/dask/`` or ``DASK_DISTRIBUTED__COMM__TLS__...``
variables), as for any Dask client, or from a `distributed.security.Security`
passed as ``security=``.

Examples
--------
>>> parse_scheduler("tcp://127.0.0.1:8786")
('address', 'tcp://127.0.0.1:8786')
>>> parse_scheduler("10.0.0.5:8786")
('address', 'tcp://10.0.0.5:8786')
>>> parse_scheduler("tcp://127.0.0.1")
Traceback (most recent call last):
...
ipvae_snn.cluster.SchedulerError: scheduler 'tcp://127.0.0.1' has no port (a Dask scheduler
listens on 8786 by default: tcp://127.0.0.1:8786)
"""

from .address import (DASK_EXTRA, SchedulerError, check_client, client_info,
                      parse_scheduler, read_scheduler_file, scheduler_address)
from .client import open_client, resolve_client
from .probe import probe_scheduler

__all__ = ["open_client", "resolve_client", "check_client", "client_info",
           "scheduler_address", "parse_scheduler", "read_scheduler_file",
           "probe_scheduler", "SchedulerError", "DASK_EXTRA"]
