"""
Connecting to Dask (`ipvae_snn.cluster`): every malformed scheduler value is
one line and exit status 2 within its deadline (API and command line); an
HTTP server, a silent endpoint, a refused port and the dashboard are named;
scheduler files that appear late are waited for; ``--wait-workers`` waits
for a worker that joins late; TLS through a `Security` object or dask's
configuration; the learner with a client clones, pickles and cross-validates.

Every server and cluster is started here, on localhost, and stopped.
"""

import contextlib
import http.server
import json
import os
import pickle
import shutil
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from ipvae_snn.cluster import (SchedulerError, client_info, open_client, parse_scheduler,
                               probe_scheduler, read_scheduler_file, resolve_client)
from ipvae_snn.data import natural_patches
from ipvae_snn.validation import InputError, InvalidTypeError

distributed = pytest.importorskip(
    "distributed", reason='the Dask tests need the dask extra: pip install "ipvae-snn[dask]"')

pytestmark = pytest.mark.dask

DASK = os.path.join(os.path.dirname(sys.executable), "dask")
#: The command line, tiny: parsing the scheduler is what is tested.
INFER = ["infer", "--steps", "2", "--n-patches", "4", "--seed", "0"]


# ---------------------------------------------------------------- helpers
def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(*argv, env=None, timeout=120):
    """Run ``ipvae-snn ARGV`` in a fresh process; returns (rc, stdout, stderr, seconds)."""
    full_env = {k: v for k, v in os.environ.items() if k != "DASK_SCHEDULER_ADDRESS"}
    full_env.update(env or {})
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "ipvae_snn.cli", *argv], env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start


def _one_line_error(rc, err, message):
    """Exit 2 with one error line, last; notices before it (waiting ...) are no error."""
    assert rc == 2, err
    lines = err.strip().splitlines()
    errors = [line for line in lines if line.startswith("ipvae-snn: error: ")]
    notices = [line for line in lines[:-1] if line.startswith("ipvae-snn: ")
               and not line.startswith(("ipvae-snn: error: ", "ipvae-snn: warning: "))]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    assert len(notices) == len(lines) - 1, err              # no traceback, no warning
    assert message in errors[0], err


def _api_error(scheduler, message, **kw):
    start = time.monotonic()
    with pytest.raises(SchedulerError) as info:
        with open_client(scheduler, **kw):
            pass
    text = str(info.value)
    assert "\n" not in text and message in text, text
    assert isinstance(info.value, InputError) and isinstance(info.value, ConnectionError)
    return time.monotonic() - start


@contextlib.contextmanager
def _process(argv, **kw):
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_for_file(path, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            with open(path) as f:
                return json.load(f)
        time.sleep(0.1)
    raise AssertionError(f"{path} did not appear")


# ----------------------------------------------------------------- servers
class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with contextlib.suppress(OSError):          # the probe hangs up after 8 bytes
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<html>a dashboard</html>")

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    """A web server (as the dashboard is): says nothing until asked."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(10)


@pytest.fixture
def greeter():
    """A server that answers every connection with an HTTP error at once."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                with contextlib.suppress(OSError):
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                    time.sleep(0.5)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(10)
    listener.close()


@pytest.fixture
def silent():
    """An endpoint that accepts connections (the kernel's backlog) and never answers."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=16)
    yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


@pytest.fixture
def mute_after_handshake():
    """A fake scheduler: sends a real Dask handshake on connect, then nothing."""
    from distributed.comm.tcp import _add_frames_header
    from distributed.protocol import dumps
    frames, _, _ = _add_frames_header(dumps(
        {"compression": None, "python": tuple(sys.version_info[:3]), "pickle-protocol": 5}))
    greeting = b"".join(bytes(frame) for frame in frames)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop, conns = threading.Event(), []

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conns.append(conn)
            with contextlib.suppress(OSError):
                conn.sendall(greeting)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(10)
    for conn in conns:
        conn.close()
    listener.close()


@pytest.fixture(scope="module")
def local_client():
    """A client of a LocalCluster of one worker process (closing the clients
    `resolve_client` made for it first)."""
    with open_client("local", n_workers=1) as client:
        yield client


@pytest.fixture
def bare_scheduler(tmp_path):
    """A `dask scheduler` without workers (yet), its file and its dashboard port."""
    if not os.path.exists(DASK):
        pytest.skip("the dask command is not installed beside this Python")
    path = str(tmp_path / "scheduler.json")
    with _process([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0",
                   "--dashboard-address", "127.0.0.1:0", "--scheduler-file", path],
                  cwd=tmp_path):
        info = _wait_for_file(path)
        yield path, info


# ---------------------------------------------------- malformed values
def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


MALFORMED = {
    "no port": (lambda tmp: "tcp://127.0.0.1", "has no port"),
    "no host": (lambda tmp: "tcp://", "has no host"),
    "web address": (lambda tmp: "http://127.0.0.1:8787", "is a web address"),
    "web address, port 1": (lambda tmp: "http://127.0.0.1:1", "is a web address"),
    "inproc": (lambda tmp: "inproc://x", "not inproc://"),
    "port out of range": (lambda tmp: "tcp://127.0.0.1:99999", "from 1 to 65535"),
    "port not a number": (lambda tmp: "127.0.0.1:abc", "from 1 to 65535"),
    "IPv6 without brackets": (lambda tmp: "tcp://::1:8786", "in brackets"),
    "empty": (lambda tmp: "", "is empty"),
    "a typo of local": (lambda tmp: "locl", "neither 'local'"),
    "folder missing": (lambda tmp: "no/such/dir/scheduler.json", "does not exist"),
    "a folder": (lambda tmp: str(tmp), "is a folder"),
    "empty file": (lambda tmp: _write(tmp, "empty.json", ""), "is empty"),
    "not JSON": (lambda tmp: _write(tmp, "garbled.json", "{address: "), "is not JSON"),
    "no address": (lambda tmp: _write(tmp, "other.json", '{"id": 1}'),
                   "names no scheduler 'address'"),
    "file naming a web address": (
        lambda tmp: _write(tmp, "web.json", '{"address": "http://127.0.0.1:8787"}'),
        "is a web address"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_value_is_one_line_at_once_api(case, tmp_path, monkeypatch):
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    make, message = MALFORMED[case]
    # the files get a grace of 1 s to become valid (a scheduler writes them in place)
    assert _api_error(make(tmp_path), message, timeout=5) < 3


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_value_is_one_line_exit_2_cli(case, tmp_path):
    make, message = MALFORMED[case]
    rc, _, err, seconds = _cli(*INFER, "--scheduler", make(tmp_path))
    _one_line_error(rc, err, message)
    assert seconds < 30


def test_error_from_the_environment_says_so(tmp_path, monkeypatch):
    rc, _, err, _ = _cli(*INFER, env={"DASK_SCHEDULER_ADDRESS": "tcp://127.0.0.1"})
    _one_line_error(rc, err, "(from $DASK_SCHEDULER_ADDRESS)")
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", str(tmp_path / "gone.json"))
    _api_error(None, "(from $DASK_SCHEDULER_ADDRESS) did not appear", timeout=0.5)
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "")       # empty: unset, as shells mean it
    with open_client(None) as client:
        assert client is None


def test_options_without_a_scheduler_or_out_of_range():
    rc, _, err, _ = _cli(*INFER, "--wait-workers", "5")
    _one_line_error(rc, err, "--wait-workers needs --scheduler")
    rc, _, err, _ = _cli(*INFER, "--scheduler", "local", "--wait-workers", "-1")
    assert rc == 2 and "--wait-workers" in err and "Traceback" not in err
    with pytest.raises(InputError, match="wait_workers"):
        with open_client("tcp://127.0.0.1:1", wait_workers=float("nan")):
            pass
    with pytest.raises(InvalidTypeError, match="scheduler must be"):
        parse_scheduler(8786)


def test_the_forms_of_an_address():
    assert parse_scheduler("local") == ("local", None)
    assert parse_scheduler("scheduler-host:8786") == ("address", "tcp://scheduler-host:8786")
    assert parse_scheduler("TCP://10.1.2.3:08786") == ("address", "tcp://10.1.2.3:8786")
    assert parse_scheduler("tls://[::1]:8786") == ("address", "tls://[::1]:8786")
    assert parse_scheduler("later.json") == ("file", "later.json")


# ------------------------------------------------------------ endpoints
def test_refused_port_is_named_at_once(monkeypatch):
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    address = f"tcp://127.0.0.1:{_free_port()}"
    assert _api_error(address, "connection refused") < 5
    rc, _, err, _ = _cli(*INFER, "--scheduler", address)
    _one_line_error(rc, err, "connection refused")


def test_http_server_is_named(http_server):
    assert _api_error(http_server, "is an HTTP server") < 10
    rc, _, err, seconds = _cli(*INFER, "--scheduler", http_server)
    _one_line_error(rc, err, "is an HTTP server")
    assert seconds < 30


def test_a_server_answering_http_at_once_is_named_not_read_as_a_frame(greeter):
    # Dask's own client read "HTTP/1.1" as a frame length of 3.07 EiB
    assert _api_error(greeter, "is an HTTP server", timeout=5) < 5


def test_silent_endpoint_is_named_within_its_deadline(silent):
    seconds = _api_error(silent, "sent no Dask handshake within 3 s", timeout=3)
    assert 2.5 < seconds < 8
    rc, _, err, seconds = _cli(*INFER, "--scheduler", silent)
    _one_line_error(rc, err, "accepts connections but sent no Dask handshake within 10 s")
    assert seconds < 30


def test_a_scheduler_silent_after_its_handshake_is_bounded(mute_after_handshake):
    probe_scheduler(mute_after_handshake, timeout=5)         # the probe is satisfied
    seconds = _api_error(mute_after_handshake, "within 3 s", timeout=3)
    assert seconds < 3 + 3


# ------------------------------------------------- scheduler files, workers
def test_scheduler_file_appearing_late_is_waited_for(local_client, tmp_path):
    address = local_client.scheduler.address
    path = tmp_path / "late.json"

    def write():
        path.write_text(json.dumps({"address": address}))
    timer = threading.Timer(3.0, write)
    timer.start()
    try:
        start = time.monotonic()
        with open_client(str(path), timeout=30) as client:
            assert client_info(client) == dict(scheduler=address, n_workers=1)
        assert time.monotonic() - start >= 2.9
    finally:
        timer.cancel()
    assert read_scheduler_file(path) == address


def test_scheduler_file_that_never_appears_is_refused_at_the_deadline(tmp_path):
    seconds = _api_error(str(tmp_path / "never.json"), "did not appear within 1.5 s",
                         timeout=1.5)
    assert 1.4 < seconds < 5


def test_dashboard_is_named_and_no_worker_is_one_line(bare_scheduler):
    path, info = bare_scheduler
    dashboard = f"tcp://127.0.0.1:{info['services']['dashboard']}"
    _api_error(dashboard, "(the scheduler's dashboard?)")
    probe_scheduler(info["address"], timeout=10)          # the scheduler itself answers
    _api_error(path, "has no worker", wait_workers=0)
    seconds = _api_error(info["address"], "no worker joined", wait_workers=1.5)
    assert seconds < 10
    rc, _, err, _ = _cli(*INFER, "--scheduler", path, "--wait-workers", "1")
    _one_line_error(rc, err, "no worker joined the Dask scheduler")


@pytest.mark.slow
def test_wait_workers_waits_for_a_worker_that_joins_late(bare_scheduler, tmp_path):
    path, _ = bare_scheduler
    out = str(tmp_path / "dask.npz")
    cli = subprocess.Popen([sys.executable, "-m", "ipvae_snn.cli", *INFER, "--quiet",
                            "--scheduler", path, "--wait-workers", "120", "--out", out],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(4)                       # longer than the default wait would allow?
        assert cli.poll() is None           # no: still waiting
        with _process([DASK, "worker", "--scheduler-file", path, "--nthreads", "1",
                       "--host", "127.0.0.1", "--no-dashboard"], cwd=tmp_path):
            _, err = cli.communicate(timeout=150)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    assert cli.returncode == 0, err
    rc, _, err, _ = _cli(*INFER, "--quiet", "--out", str(tmp_path / "local.npz"))
    assert rc == 0, err
    with np.load(out) as remote, np.load(tmp_path / "local.npz") as local:
        assert np.array_equal(remote["counts"], local["counts"])


def test_a_worker_address_is_named(local_client):
    worker = next(iter(local_client.scheduler_info()["workers"]))
    assert _api_error(worker, "not as a scheduler (a worker's address?)", timeout=10) < 12


def test_resolve_client(local_client, tmp_path):
    address = local_client.scheduler.address
    assert resolve_client(None) is None
    assert resolve_client(local_client) is local_client
    first = resolve_client(address)
    assert first is not local_client and first.status == "running"
    assert resolve_client(address) is first                 # cached per process
    assert client_info(first)["scheduler"] == address
    with pytest.raises(InvalidTypeError, match="client must be"):
        resolve_client(3.5)
    with pytest.raises(SchedulerError, match="open_client"):
        resolve_client("local")


# ------------------------------------------------------------------- TLS
@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate and its key (the cluster's own CA, as in Dask's docs)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def test_tls_cluster_through_security_and_dask_config(certificate, tmp_path):
    import dask
    cert, key = certificate
    security = distributed.Security(
        tls_ca_file=cert, tls_client_cert=cert, tls_client_key=key,
        tls_scheduler_cert=cert, tls_scheduler_key=key, tls_worker_cert=cert,
        tls_worker_key=key, require_encryption=True)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  protocol="tls://", host="127.0.0.1", security=security,
                                  dashboard_address=":0") as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tls://")
        with open_client(address, security=security) as client:
            assert client_info(client) == dict(scheduler=address, n_workers=1)
        settings = {"distributed.comm.tls.ca-file": cert,
                    "distributed.comm.tls.client.cert": cert,
                    "distributed.comm.tls.client.key": key}
        with dask.config.set(settings), open_client(address) as client:
            assert client.submit(sum, [1, 2]).result(timeout=30) == 3
        _api_error(address, "needs dask's TLS settings")
        plain = "tcp://" + address.partition("://")[2]
        _api_error(plain, "speaks TLS", timeout=5)
        with dask.config.set({"distributed.comm.require-encryption": True}):
            _api_error(plain, "requires encryption")


# ---------------------------------------------------------------- learner
@pytest.fixture(scope="module")
def tiny():
    from ipvae_snn.learning import SpikingDictionaryLearner
    kw = dict(n_components=16, max_iter=1, batch_size=32, t_train=4, transform_window=4,
              prior_cap=None, random_state=0, progress=False)
    return SpikingDictionaryLearner, kw, natural_patches(n_patches=96, seed=0)


def test_learner_with_a_client_clones_pickles_and_cross_validates(local_client, tiny):
    from sklearn.base import clone
    from sklearn.model_selection import cross_val_score
    Learner, kw, x = tiny
    learner = Learner(client=local_client, **kw)
    assert learner.client is local_client                    # stored as given
    twin = clone(learner)
    assert twin.client is local_client and twin.get_params()["n_components"] == 16
    restored = pickle.loads(pickle.dumps(learner))
    assert restored.client == local_client.scheduler.address
    expected = cross_val_score(Learner(**kw), x, cv=2)
    assert np.array_equal(cross_val_score(learner, x, cv=2), expected)
    local = Learner(**kw).fit(x)
    for fitted in (restored.fit(x), pickle.loads(pickle.dumps(learner.fit(x)))):
        assert np.array_equal(fitted.components_, local.components_)
        assert np.array_equal(fitted.transform(x), local.transform(x))


def test_learner_refuses_a_wrong_client_when_fitting(tiny):
    Learner, kw, x = tiny
    learner = Learner(client=3, **kw)                        # stored as given
    with pytest.raises(InvalidTypeError, match="client must be"):
        learner.fit(x)
    with pytest.raises(SchedulerError, match="has no port"):
        Learner(client="tcp://127.0.0.1", **kw).fit(x)


@pytest.mark.parametrize("command", ["infer", "simulate", "stats", "fit"])
def test_every_subcommand_with_a_scheduler_can_wait_for_workers(command, capsys):
    from ipvae_snn.cli import main
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--scheduler ADDRESS" in text and "--wait-workers SECONDS" in text
    # --jobs is named only where the subcommand has it
    assert ("--jobs" in text.replace("--jobs or CPU-count", "")) == ("--jobs or CPU-count"
                                                                    in text)
