"""
Progress reports (`ipvae_snn._progress.ProgressBar`): a bar on a terminal,
lines at intervals when stderr is a file or a pipe (long work is never
silent), nothing for short work or when switched off.
"""

import io
import os
import re
import subprocess
import sys

from ipvae_snn._progress import PROGRESS_INTERVAL_ENV, ProgressBar

LINE = re.compile(r"^(?P<desc>[\w ]+): (?P<n>\d+)/(?P<total>\d+)(?P<unit>[\w -]*) "
                  r"\((?P<pct>\d+)%\), \S+ [\w-]+/s, \S+ (s|min|h) elapsed, "
                  r"(ETA \S+ (s|min|h)|done)$")


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def _run_cli(tmp_path, interval, *argv):
    """``ipvae-snn ARGV`` in a subprocess with stderr to a file; its stderr."""
    err = tmp_path / "stderr.txt"
    env = dict(os.environ, **{PROGRESS_INTERVAL_ENV: str(interval)})
    with open(err, "w") as f:
        proc = subprocess.run([sys.executable, "-m", "ipvae_snn.cli", *argv],
                              stdout=subprocess.PIPE, stderr=f, text=True, env=env,
                              cwd=tmp_path, timeout=300, check=False)
    assert proc.returncode == 0, err.read_text()
    return err.read_text()


def test_a_redirected_command_writes_progress_lines(tmp_path):
    text = _run_cli(tmp_path, 0.001, "infer", "--steps", "40", "--n-patches", "64")
    assert "\r" not in text                       # no bar in a file
    lines = [line for line in text.splitlines() if line.startswith("inference:")]
    assert len(lines) >= 2, text
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    done = [int(m["n"]) for m in parsed]
    assert done == sorted(done)                   # counts only go up
    total = int(parsed[0]["total"])
    assert parsed[-1].group(0).endswith("done") and done[-1] == total
    assert all(m.group(0).endswith("done") == (m is parsed[-1]) for m in parsed)


def test_a_quiet_or_short_redirected_command_writes_none(tmp_path):
    # --quiet: none at all; the default interval (10 s): none for short work
    assert "inference:" not in _run_cli(tmp_path, 0.001, "infer", "--steps", "40",
                                        "--n-patches", "64", "--quiet")
    assert "inference:" not in _run_cli(tmp_path, 10, "infer", "--steps", "3",
                                        "--n-patches", "4")


def test_lines_come_at_intervals_with_rate_and_eta(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("ipvae_snn._progress.time.perf_counter", lambda: clock[0])
    out = io.StringIO()
    bar = ProgressBar(100, desc="fit", stream=out, unit=" batches", line_interval=10)
    for _ in range(40):             # 40 batches, 1 s each
        clock[0] += 1.0
        bar.update()
    bar.close()
    lines = out.getvalue().splitlines()
    # one line per 10 s, then one when it ends
    assert lines == [f"fit: {n}/100 batches ({n}%), 1 batches/s, {n} s elapsed, "
                     f"ETA {100 - n} s" for n in (10, 20, 30, 40)] + [
        "fit: 40/100 batches (40%), 1 batches/s, 40 s elapsed, done"]


def test_a_terminal_gets_a_bar_and_off_means_off():
    tty = _Terminal()
    with ProgressBar(3, desc="runs", stream=tty) as bar:
        bar.update(3)
    assert tty.getvalue().startswith("\rruns: 100% |") and tty.getvalue().endswith("\n")
    silent = io.StringIO()
    with ProgressBar(3, stream=silent, enabled=False, line_interval=0) as bar:
        bar.update(3)
    with ProgressBar(0, stream=silent, line_interval=0) as bar:     # no work
        bar.update(1)
    assert silent.getvalue() == ""


def test_the_interval_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(PROGRESS_INTERVAL_ENV, "2.5")
    assert ProgressBar(1).line_interval == 2.5
    for bad in ("", "soon", "-1"):
        monkeypatch.setenv(PROGRESS_INTERVAL_ENV, bad)
        assert ProgressBar(1).line_interval == 10.0


def test_the_learners_calibrations_report_their_progress(monkeypatch, capsys):
    import numpy as np

    from ipvae_snn.learning import SpikingDictionaryLearner, updates
    monkeypatch.setenv(PROGRESS_INTERVAL_ENV, "0.000001")
    x = np.random.default_rng(0).standard_normal((64, 16))
    SpikingDictionaryLearner(n_components=8, max_iter=1, batch_size=32, t_train=4,
                             calibration_window=40, operating_point="auto",
                             prior_cap="auto", random_state=0).fit(x)
    lines = [line for line in capsys.readouterr().err.splitlines()
             if line.startswith("calibration:")]
    total = updates.calibration_runs("auto", "auto")
    assert lines and all(LINE.match(line) for line in lines), lines
    assert lines[-1].startswith(f"calibration: {total}/{total} runs (100%)")
    assert lines[-1].endswith("done")
