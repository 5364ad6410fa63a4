"""Fixtures for the pdc Python tests: a real pdcd in a temporary folder.

The tests need three things, named by environment variables:

- ``PDCD``: the pdcd executable (e.g. build/bin/pdcd);
- ``PDC_LIBRARY``: libpdc (e.g. build/client/libpdc.so.0); when it is not
  set, libpdc.so.0 is looked up by the dynamic loader;
- ``PDC_KERNEL_DIR``: the folder of the example kernel plugins (e.g.
  build/kernels); when it is not set, ``kernels`` beside the folder of
  pdcd's folder (build/bin/pdcd -> build/kernels) is tried.

What is missing makes the tests that need a daemon skip, with the reason,
unless ``PDC_PYTEST_REQUIRE=1``: then they fail instead (for CI, where a
silently skipped suite would hide a broken build).

Every wait here is a condition polled against a deadline; nothing sleeps
for a fixed time and hopes.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

# Import the package from this source tree, not an installed copy.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pdc  # noqa: E402

#: How long a daemon may take to start, or to stop after a signal.
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


def _require() -> bool:
    return os.environ.get("PDC_PYTEST_REQUIRE", "") == "1"


def _unavailable(reason: str) -> None:
    """Skips the test, or fails it under PDC_PYTEST_REQUIRE=1."""
    if _require():
        pytest.fail(f"{reason} (and PDC_PYTEST_REQUIRE=1)", pytrace=False)
    pytest.skip(reason)


def wait_for(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.01) -> object:
    """Polls `condition` until it returns something true, for at most `timeout` seconds; returns
    that value, or fails the test naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


@dataclass
class Tools:
    """Where the binaries are (resolved once per session)."""

    pdcd: Path
    kernel_dir: Path
    library: str


@pytest.fixture(scope="session")
def library() -> str:
    """libpdc, loaded (pdc._capi.load()); returns where it came from, or skips saying why not."""
    lib = os.environ.get("PDC_LIBRARY", "")
    if lib and not Path(lib).is_file():
        _unavailable(f"PDC_LIBRARY={lib} does not exist")
    try:
        pdc._capi.load()
    except pdc.LibraryNotFound as e:
        _unavailable(str(e))
    return pdc._capi.loaded_path() or ""


@pytest.fixture(scope="session")
def tools(library) -> Tools:
    """The pdcd binary, the kernel folder and a loadable libpdc, or a skip naming what is missing."""
    pdcd = os.environ.get("PDCD", "")
    if not pdcd:
        _unavailable("PDCD is not set (the path of the pdcd executable, e.g. build/bin/pdcd)")
    pdcd_path = Path(pdcd)
    if not (pdcd_path.is_file() and os.access(pdcd_path, os.X_OK)):
        _unavailable(f"PDCD={pdcd} is not an executable file")
    kdir = os.environ.get("PDC_KERNEL_DIR", "")
    kernel_dir = Path(kdir) if kdir else pdcd_path.resolve().parent.parent / "kernels"
    if not (kernel_dir / "pdc_echo.so").is_file():
        _unavailable(f"no example kernels (pdc_echo.so) in {kernel_dir}; set PDC_KERNEL_DIR")
    return Tools(pdcd_path, kernel_dir.resolve(), library)


@dataclass
class Daemon:
    """A pdcd child process serving `socket`, its log in `log`."""

    proc: subprocess.Popen
    socket: str
    kernel_dir: Path
    dir: Path
    config: Path
    log: Path
    _log_file: object = field(repr=False, default=None)
    #: A short folder for the socket made outside `dir` (removed at teardown), or None.
    socket_dir: Path | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _signal_and_wait(self, sig: int, timeout: float) -> int | None:
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM, then waits up to `timeout` s; SIGKILL if it is still there. Returns the exit
        status (negative: killed by that signal)."""
        rc = self._signal_and_wait(signal.SIGTERM, timeout)
        if rc is None:
            rc = self._signal_and_wait(signal.SIGKILL, timeout)
        self._close_log()
        return rc

    def kill(self) -> int:
        """SIGKILL (the daemon dies without a word to anyone) and reaps it."""
        rc = self._signal_and_wait(signal.SIGKILL, STOP_TIMEOUT_S)
        self._close_log()
        return rc

    def _close_log(self) -> None:
        f, self._log_file = self._log_file, None
        if f is not None:
            f.close()

    def connect(self, **kwargs) -> pdc.Client:
        return pdc.connect(self.socket, **kwargs)


def _toml_list(items) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def start_daemon(tools: Tools, folder: Path, extra_config: str = "", plugins=(), plugin_dirs=()) -> Daemon:
    """Writes a config into `folder` and starts pdcd with it; returns once a client can connect
    (at most START_TIMEOUT_S). `extra_config`: more TOML, appended as is; `plugins`: plugin files
    loaded at start; `plugin_dirs`: plugin folders searched after the kernel folder."""
    folder.mkdir(parents=True, exist_ok=True)
    # The socket path must fit sun_path (108 bytes): pytest's tmp_path can be long.
    socket = folder / "pdcd.sock"
    socket_dir = None
    if len(os.fsencode(socket)) > 100:
        socket_dir = Path(tempfile.mkdtemp(prefix="pdc-py-"))
        socket = socket_dir / "pdcd.sock"
    config = folder / "pdcd.toml"
    config.write_text(
        f'socket = "{socket}"\n'
        f"plugin_dirs = {_toml_list([tools.kernel_dir, *plugin_dirs])}\n"
        f"plugins = {_toml_list(plugins)}\n"
        'log_level = "debug"\n'
        "drain_timeout_ms = 2000\n" + extra_config
    )
    log = folder / "pdcd.log"
    log_file = open(log, "wb")
    proc = subprocess.Popen([str(tools.pdcd), "--config", str(config)], stdin=subprocess.DEVNULL,
                            stdout=log_file, stderr=subprocess.STDOUT)
    d = Daemon(proc, str(socket), tools.kernel_dir, folder, config, log, log_file, socket_dir)

    def ready():
        if proc.poll() is not None:
            pytest.fail(f"pdcd exited with {proc.returncode} while starting:\n{d.log_text()}")
        if not socket.exists():
            return False
        try:
            pdc.connect(d.socket, name="pytest-probe").close()
        except pdc.PdcError:
            return False
        return True

    try:
        wait_for(ready, START_TIMEOUT_S, f"pdcd to answer on {socket}")
    except BaseException:
        d.kill()
        raise
    return d


@pytest.fixture
def daemon_factory(tools, tmp_path):
    """Starts pdcd processes (start(extra_config="", plugins=(), plugin_dirs=()) -> Daemon, see
    start_daemon); stops them all at the end of the test: SIGTERM, a bounded wait, then SIGKILL."""
    started: list[Daemon] = []
    counter = [0]

    def start(extra_config: str = "", plugins=(), plugin_dirs=()) -> Daemon:
        counter[0] += 1
        d = start_daemon(tools, tmp_path / f"pdcd{counter[0]}", extra_config, plugins, plugin_dirs)
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()
        if d.socket_dir is not None:
            shutil.rmtree(d.socket_dir, ignore_errors=True)


@pytest.fixture
def daemon(daemon_factory) -> Daemon:
    """A fresh pdcd for this test, with the example kernels' folder as its plugin folder and no
    plugin loaded."""
    return daemon_factory()


@pytest.fixture
def client(daemon):
    """A client of `daemon`, closed after the test."""
    c = pdc.connect(daemon.socket, name="pytest")
    yield c
    c.close()


@pytest.fixture
def echo(client):
    """The echo plugin loaded and an active echo kernel "e" on the threaded tier; yields its id."""
    client.load_plugin("pdc_echo.so")
    client.launch("echo", "e", tier="threaded")
    client.activate("e")
    return "e"
