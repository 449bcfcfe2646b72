"""
The compile cache looks after itself: damaged
builds are found and rebuilt, a crashing program is rebuilt once, failures are
read from exit statuses, stale run folders are removed, a waiting process says
so and gives up, read-only caches are used as they are, and the build key
follows the code's meaning rather than its text.
"""

import fcntl
import glob
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from ipvae_snn import IPVAEParams
from ipvae_snn.network import SpikingIPVAE, builder, program, standalone
from ipvae_snn.network.program import (Program, ProgramCache, ProgramCrashed,
                                       ProgramOutOfMemory)
from ipvae_snn.validation import InputError, InvalidValueError, UnavailableCacheError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = IPVAEParams.random(16, 8, random_state=0, template=None)
SEGFAULT = "#!/bin/sh\nkill -SEGV $$\n"
OUT_OF_MEMORY = ("#!/bin/sh\necho \"terminate called after throwing an instance of "
                 "'std::bad_alloc'\" >&2\nkill -ABRT $$\n")


def _x(n=3, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 16))


def _project(cache):
    (path,) = [p for p in glob.glob(os.path.join(cache, "window-*")) if os.path.isdir(p)
               and not p.endswith(".building")]
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory, cxx_compiler):
    """A cache holding the compiled tiny network, and the result of one run."""
    cache = str(tmp_path_factory.mktemp("tiny-cache"))
    net = SpikingIPVAE(TINY, cache_dir=cache, n_jobs=1)
    result = net.run(_x(), 6, seed=3)
    assert net.n_builds == 1
    return cache, result


@pytest.fixture
def cache(built, tmp_path):
    """A private copy of the built cache (tests damage it)."""
    return shutil.copytree(built[0], str(tmp_path / "cache"))


@pytest.fixture
def fake_compile(built, monkeypatch):
    """
    Compiling copies the built project (with ``mode["main"]`` as its binary,
    when set) instead of running Brian2 and the compiler; counts the builds.
    """
    pristine = _project(built[0])
    mode = {"main": None, "builds": 0}

    def compile(self, spec, directory, values, children=None):
        mode["builds"] += 1
        shutil.rmtree(directory, ignore_errors=True)
        shutil.copytree(pristine, directory,
                        ignore=shutil.ignore_patterns("ipvae_manifest.json", "call-*"))
        if mode["main"] is not None:
            _replace_binary(os.path.join(directory, "main"), mode["main"])
        with open(os.path.join(pristine, ProgramCache.MANIFEST)) as f:
            manifest = json.load(f)
        manifest.pop("files")
        return manifest

    monkeypatch.setattr(standalone.CppStandaloneBackend, "compile", compile)
    return mode


def _replace_binary(path, script, same_stat=False):
    """Overwrite ``path`` with ``script`` padded to its size (and, with
    ``same_stat``, its modification time: only a full hash can tell)."""
    st = os.stat(path)
    body = script.encode()
    if same_stat:
        body += b"#" * (st.st_size - len(body))
    with open(path, "wb") as f:
        f.write(body)
    os.chmod(path, 0o755)
    if same_stat:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


# ------------------------------------------------------------ integrity
def _truncate(project, name, size):
    with open(os.path.join(project, name), "r+b") as f:
        f.truncate(size)


def _flip(project, name):
    path = os.path.join(project, name)
    st = os.stat(path)
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(path, "wb").write(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _static(project):
    return "static_arrays/" + sorted(os.listdir(os.path.join(project, "static_arrays")))[0]


def _edit_manifest(project, edit):
    path = os.path.join(project, ProgramCache.MANIFEST)
    text = open(path).read()
    open(path, "w").write(edit(text))


def _rename_a_result_file(text):
    """The manifest with one character of a result file's name changed."""
    manifest = json.loads(text)
    name, (fname, dtype) = sorted(manifest["results"].items())[0]
    other = "1" if fname[-1] != "1" else "2"
    manifest["results"][name] = [fname[:-1] + other, dtype]
    return json.dumps(manifest)


DAMAGES = {
    "truncated binary": (lambda p: _truncate(p, "main", 1000),
                         "its file main has 1000 bytes instead of"),
    "emptied binary": (lambda p: _truncate(p, "main", 0),
                       "its file main has 0 bytes instead of"),
    "same size, other bytes": (lambda p: _flip(p, "main"),
                               "its file main differs from the build"),
    "static array removed": (lambda p: os.remove(os.path.join(p, _static(p))),
                             "its file static_arrays/.* is missing"),
    "static array truncated": (lambda p: _truncate(p, _static(p), 1),
                               "its file static_arrays/.* has 1 bytes"),
    "not executable": (lambda p: os.chmod(os.path.join(p, "main"), 0o644),
                       "its program main is not executable"),
    "manifest truncated": (lambda p: _edit_manifest(p, lambda t: t[:len(t) // 2]),
                           "its manifest is unreadable"),
    "manifest emptied": (lambda p: _edit_manifest(p, lambda t: ""),
                         r"its manifest is unreadable \(Expecting value"),
    "manifest without file records": (
        lambda p: _edit_manifest(p, lambda t: json.dumps(
            {k: v for k, v in json.loads(t).items() if k != "files"})),
        "its manifest has no record of its files"),
    "manifest with a broken file record": (
        lambda p: _edit_manifest(p, lambda t: json.dumps(
            dict(json.loads(t), files=dict(json.loads(t)["files"], main={})))),
        "its manifest does not match its own checksum"),
    "manifest edited, still valid JSON": (
        lambda p: _edit_manifest(p, _rename_a_result_file),
        "its manifest does not match its own checksum"),
    "manifest removed": (lambda p: os.remove(os.path.join(p, ProgramCache.MANIFEST)),
                         "its manifest is missing"),
}


def test_an_intact_copy_verifies(cache):
    program_, problem = ProgramCache(cache)._check(_project(cache))
    assert problem is None and program_.manifest["binary"] == "main"


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_damage_is_detected(cache, damage):
    do, problem = DAMAGES[damage]
    project = _project(cache)
    do(project)
    found, why = ProgramCache(cache)._check(project)
    assert found is None
    assert why and re.search(problem, why), why


@pytest.mark.standalone
def test_damaged_build_is_rebuilt_with_a_notice(built, cache, caplog):
    """A truncated binary (it used to segfault forever): one warning, a
    rebuild, the same result."""
    _truncate(_project(cache), "main", 1000)
    net = SpikingIPVAE(TINY, cache_dir=cache, n_jobs=1)
    with caplog.at_level(logging.INFO, logger="ipvae_snn"):
        result = net.run(_x(), 6, seed=3)
    assert net.n_builds == 1
    damaged = [r for r in caplog.records if "damaged" in r.getMessage()]
    assert len(damaged) == 1, caplog.text
    line = damaged[0].getMessage()
    assert damaged[0].levelno == logging.WARNING
    assert damaged[0].name == "ipvae_snn.network.program"
    assert line.startswith("the cached build in ")
    assert "(its file main has 1000 bytes instead of" in line
    assert line.endswith("rebuilding it")
    assert "please report" not in caplog.text and "Traceback" not in caplog.text
    np.testing.assert_array_equal(result.counts, built[1].counts)


def test_a_crashing_program_is_rebuilt_once(built, cache, fake_compile, caplog):
    net = SpikingIPVAE(TINY, cache_dir=cache, n_jobs=1)
    net.run(_x(), 6, seed=3)                # this process has verified the build
    # same size and time: only running it shows the damage
    _replace_binary(os.path.join(_project(cache), "main"), SEGFAULT, same_stat=True)
    with caplog.at_level(logging.INFO, logger="ipvae_snn"):
        result = net.run(_x(), 6, seed=3)
    err = caplog.text
    assert fake_compile["builds"] == 1 and net.n_builds == 1
    assert "is damaged (its program crashed); rebuilding it" in err
    np.testing.assert_array_equal(result.counts, built[1].counts)


def test_a_program_that_crashes_after_a_rebuild_is_an_error(cache, fake_compile):
    net = SpikingIPVAE(TINY, cache_dir=cache, n_jobs=1)
    net.run(_x(), 6, seed=3)
    _replace_binary(os.path.join(_project(cache), "main"), SEGFAULT, same_stat=True)
    fake_compile["main"] = SEGFAULT                  # the rebuild crashes too
    with pytest.raises(RuntimeError, match="SIGSEGV") as exc:
        net.run(_x(), 6, seed=3)
    assert cache in str(exc.value) and fake_compile["builds"] == 1
    assert not glob.glob(os.path.join(_project(cache), "call-*"))


# ------------------------------------------------- running: exit statuses
@pytest.fixture
def script_program(tmp_path):
    def make(script):
        folder = tmp_path / "project"
        folder.mkdir(exist_ok=True)
        main = folder / "main"
        main.write_text(script)
        main.chmod(0o755)
        return Program(str(folder), dict(binary="main", results={}, args={}, dtypes={}))
    return make


@pytest.mark.parametrize("script, error, match", [
    ("#!/bin/sh\necho 'Error: only a word on stderr' >&2\n", None, None),
    ("#!/bin/sh\necho boom >&2\nexit 3\n", RuntimeError, "exit status 3: boom"),
    ("#!/bin/sh\necho \"Error reading '/x.dat': file size 3 does not match expected "
     "size 8\" >&2\n", RuntimeError, "could not read its inputs: Error reading"),
    ("#!/bin/sh\necho 'Error opening static array w.'\n", RuntimeError,
     "could not read its inputs"),
    (SEGFAULT, ProgramCrashed, "crashed \\(SIGSEGV\\)"),
    ("#!/bin/sh\nkill -KILL $$\n", ProgramOutOfMemory, "out-of-memory killer"),
    (OUT_OF_MEMORY, ProgramOutOfMemory, r"ran out of memory \(std::bad_alloc\); its "
                                        r"build is intact"),
    ("\x7fELF garbage, not a program", ProgramCrashed, "cannot be executed"),
])
def test_a_run_fails_by_its_exit_status(script_program, tmp_path, script, error, match):
    prog = script_program(script)
    if error is None:
        assert prog.run(str(tmp_path / "results"), [], seed=0) == {}
        return
    with pytest.raises(error, match=match):
        prog.run(str(tmp_path / "results"), [], seed=0)
    if error is RuntimeError:
        assert not isinstance(error, ProgramCrashed)


def test_an_out_of_memory_run_keeps_the_build(cache, fake_compile, capfd):
    """A run aborted by std::bad_alloc (ulimit -v) was taken for a damaged
    build: deleted, recompiled, then 'delete the cache'."""
    shutil.rmtree(_project(cache))
    fake_compile["main"] = OUT_OF_MEMORY
    net = SpikingIPVAE(TINY, cache_dir=cache, n_jobs=1)
    with pytest.raises(ProgramOutOfMemory, match="out of memory"):
        net.run(_x(), 6, seed=3)
    assert fake_compile["builds"] == 1                 # built once, not again
    with pytest.raises(ProgramOutOfMemory):
        net.run(_x(), 6, seed=3)
    assert fake_compile["builds"] == 1
    program_, problem = ProgramCache(cache)._check(_project(cache))
    assert problem is None and program_ is not None
    assert "damaged" not in capfd.readouterr().err
    assert not glob.glob(os.path.join(_project(cache), "call-*"))


def test_an_edited_manifest_is_rebuilt_with_a_notice(built, cache, fake_compile, caplog):
    """One character of a result file's name changed, still valid JSON: every
    run ended in an IndexError."""
    _edit_manifest(_project(cache), _rename_a_result_file)
    net = SpikingIPVAE(TINY, cache_dir=cache, n_jobs=1)
    with caplog.at_level(logging.INFO, logger="ipvae_snn"):
        result = net.run(_x(), 6, seed=3)
    assert fake_compile["builds"] == 1
    notices = [r.getMessage() for r in caplog.records]
    assert any("does not match its own checksum (edited or damaged)); rebuilding it" in m
               for m in notices), notices
    np.testing.assert_array_equal(result.counts, built[1].counts)


# ------------------------------------------------------------ run folders
def _dead_pid():
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_stale_run_folders_are_removed(script_program):
    prog = script_program("#!/bin/sh\n")
    host, dead, hour = program._HOST, _dead_pid(), 3600
    ages = {f"call-{host}-{dead}-old": 2 * hour,          # owner gone: removed
            f"call-{host}-{dead}-new": 60,                 # too recent: kept
            f"call-{host}-{os.getpid()}-mine": 2 * hour,   # owner alive: kept
            "call-legacyname": 2 * hour,                   # no owner known: removed
            f"call-otherhost-{dead}-x": 2 * hour,          # another machine's: kept
            f"call-otherhost-{dead}-y": 30 * hour}         # ... unless a day old
    now = time.time()
    for name, age in ages.items():
        path = os.path.join(prog.directory, name)
        os.makedirs(os.path.join(path, "run0"))
        os.utime(path, (now - age, now - age))
    with prog.call_folder() as folder:
        assert os.path.basename(folder).startswith(f"call-{host}-{os.getpid()}-")
        left = {n for n in os.listdir(prog.directory) if n.startswith("call-")}
    assert left - {os.path.basename(folder)} == {
        f"call-{host}-{dead}-new", f"call-{host}-{os.getpid()}-mine",
        f"call-otherhost-{dead}-x"}
    assert not os.path.exists(folder)


# ------------------------------------------------------------------ locks
class _Spec:
    realization = "window"

    @staticmethod
    def key():
        return "fake"


def _fake_build(spec, directory):
    os.makedirs(directory, exist_ok=True)
    main = os.path.join(directory, "main")
    with open(main, "w") as f:
        f.write("#!/bin/sh\n")
    os.chmod(main, 0o755)
    return dict(binary="main", results={}, args={}, dtypes={})


@pytest.fixture
def held_lock(tmp_path):
    cache = ProgramCache(str(tmp_path / "c"), lock_timeout=3)
    os.makedirs(cache.directory)
    f = open(cache.path(_Spec) + ".lock", "a+")
    fcntl.flock(f, fcntl.LOCK_EX)
    f.write(f"{program._HOST} 4242\n")
    f.flush()
    yield cache, f
    f.close()


def test_a_waiting_process_says_so_and_gives_up(held_lock, caplog):
    cache, _ = held_lock
    start = time.monotonic()
    with caplog.at_level(logging.INFO, logger="ipvae_snn"), \
            pytest.raises(UnavailableCacheError) as exc:
        cache.load_or_build(_Spec, _fake_build, description="the tiny network")
    assert 3 <= time.monotonic() - start < 30
    message = str(exc.value)
    assert "gave up after 3 s waiting for another process (pid 4242 on" in message
    assert cache.path(_Spec) in message and "IPVAE_SNN_LOCK_TIMEOUT" in message
    assert isinstance(exc.value, RuntimeError) and isinstance(exc.value, InputError)
    err = caplog.text
    assert err.count("waiting for another process (pid 4242") == 1
    assert "building the tiny network in " + cache.path(_Spec) in err


def test_a_waiting_process_uses_the_other_ones_build(held_lock, caplog):
    cache, f = held_lock
    cache.lock_timeout = 60

    def other_process_finishes():
        time.sleep(2.5)
        manifest = _fake_build(_Spec, cache.path(_Spec))
        manifest["files"] = cache._file_records(cache.path(_Spec), "main")
        manifest[program._CHECKSUM] = program._manifest_checksum(manifest)
        with open(os.path.join(cache.path(_Spec), cache.MANIFEST), "w") as m:
            json.dump(manifest, m)
        fcntl.flock(f, fcntl.LOCK_UN)

    threading.Thread(target=other_process_finishes).start()
    calls = []
    with caplog.at_level(logging.INFO, logger="ipvae_snn"):
        prog, built_now = cache.load_or_build(_Spec, lambda s, d: calls.append(d))
    assert not built_now and not calls and prog.directory == cache.path(_Spec)
    assert "waiting for another process" in caplog.text


def test_lock_timeout_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("IPVAE_SNN_LOCK_TIMEOUT", "7.5")
    assert ProgramCache(str(tmp_path)).lock_timeout == 7.5
    monkeypatch.setenv("IPVAE_SNN_LOCK_TIMEOUT", "soon")
    with pytest.raises(InvalidValueError, match="IPVAE_SNN_LOCK_TIMEOUT"):
        ProgramCache(str(tmp_path))


# ------------------------------------------------------- read-only caches
READ_ONLY_RUN = """
import json, sys
import numpy as np
from ipvae_snn import IPVAEParams
from ipvae_snn.network import SpikingIPVAE
params = IPVAEParams.random(16, 8, random_state=0, template=None)
net = SpikingIPVAE(params, cache_dir=sys.argv[1], n_jobs=2)
x = np.random.default_rng(0).standard_normal((3, 16))
try:
    result = net.run(x, int(sys.argv[2]), seed=3)
except RuntimeError as exc:
    print(json.dumps(dict(error=str(exc), type=type(exc).__name__)))
else:
    print(json.dumps(dict(n_builds=net.n_builds, counts=result.counts.tolist())))
"""


def _run_read_only(cache, n_windows, tmp_path):
    """Run the tiny network in a process that cannot write ``cache``."""
    env = dict(os.environ, TMPDIR=str(tmp_path))
    script = [sys.executable, "-c", READ_ONLY_RUN, cache, str(n_windows)]
    if os.geteuid() != 0:
        for root, dirs, files in os.walk(cache):
            for name in dirs + files + [""]:
                path = os.path.join(root, name)
                os.chmod(path, os.stat(path).st_mode & ~0o222)
        cmd = script
    else:       # root writes anywhere: a read-only bind mount, in its own namespace
        cmd = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" "$0" && '
               'mount -o remount,ro,bind "$0" "$0" && exec "$@"', cache, *script]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if os.geteuid() != 0:
        subprocess.run(["chmod", "-R", "u+w", cache], check=True)
    if os.geteuid() == 0 and proc.returncode != 0 and "mount" in proc.stderr:
        pytest.fail(f"cannot make a read-only mount here: {proc.stderr}")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


@pytest.mark.standalone
def test_a_read_only_cache_with_the_build_is_used(built, cache, tmp_path):
    before = sorted(os.listdir(_project(cache)))
    doc, err = _run_read_only(cache, 6, tmp_path)
    assert doc.get("n_builds") == 0, doc
    np.testing.assert_array_equal(doc["counts"], built[1].counts)
    assert sorted(os.listdir(_project(cache))) == before
    assert not [n for n in os.listdir(tmp_path) if n.startswith("ipvae-snn-call-")]
    assert "lock" not in err.lower()


@pytest.mark.standalone
@pytest.mark.parametrize("case", ["no build", "damaged build"])
def test_a_read_only_cache_without_a_usable_build_is_a_clear_error(cache, tmp_path, case):
    if case == "damaged build":
        _truncate(_project(cache), "main", 10)
        n_windows, why = 6, "its build of the window network for cpp_standalone is damaged"
    else:
        n_windows, why = 7, "it holds no build of the window network"
    doc, _ = _run_read_only(cache, n_windows, tmp_path)
    assert doc["type"] == "UnavailableCacheError"
    assert f"the cache folder '{cache}' cannot be written and {why}" in doc["error"]
    assert "set IPVAE_SNN_CACHE to a writable folder" in doc["error"]


# -------------------------------------------------------------- build key
def _key_in_copy(tmp_path, edit=None):
    """The build key of a spec, computed by a copy of the package (edited)."""
    copy = tmp_path / "copy"
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(os.path.join(ROOT, "ipvae_snn"), copy / "ipvae_snn",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(os.path.join(ROOT, "equations"), copy / "equations")
    if edit:
        for name, change in edit.items():
            path = copy / "ipvae_snn" / "network" / name
            path.write_text(change(path.read_text()))
    code = ("from ipvae_snn.network.builder import NetworkSpec\n"
            "print(NetworkSpec('window', 512, 17, 470, 0.1, 1, (), False, "
            "'float64').key())")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=copy, env=dict(os.environ, PYTHONPATH=str(copy)),
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.mark.slow
def test_the_build_key_ignores_comments_and_docstrings(tmp_path):
    here = builder.NetworkSpec("window", 512, 17, 470, 0.1, 1, (), False, "float64").key()
    assert _key_in_copy(tmp_path) == here
    commented = {
        "builder.py": lambda t: t.replace("    eqs = _equations.load(spec.realization)",
                                          "    # a new comment\n\n"
                                          "    eqs = _equations.load(spec.realization)")
                                 .replace("The Brian2 objects of one network, from the",
                                          "The Brian2 objects, built from the"),
        "standalone.py": lambda t: "# header comment\n" + t.replace(
            "Build the standalone project", "Compile the standalone project"),
        "functions.py": lambda t: t + "\n# trailing comment\n",
    }
    assert _key_in_copy(tmp_path, commented) == here
    changed = {"builder.py": lambda t: t.replace("when=\"start\", order=-2",
                                                 "when=\"start\", order=-3")}
    assert _key_in_copy(tmp_path, changed) != here


def test_code_digest_is_about_syntax():
    src = "def f(x):\n    '''Doc.'''\n    return x + 1  # one\n"
    assert builder.code_digest(src) == builder.code_digest(
        "def f(x):\n\n    # comment\n    return x + 1\n")
    assert builder.code_digest(src) != builder.code_digest(src.replace("+ 1", "+ 2"))


def test_program_code_covers_the_wiring():
    for module, names in builder.PROGRAM_CODE.items():
        mod = __import__(f"ipvae_snn.network.{module}", fromlist=["x"])
        for name in names or ():
            assert hasattr(mod, name), (module, name)
    assert "build_objects" in builder.PROGRAM_CODE["builder"]
