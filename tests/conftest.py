"""Shared fixtures. ``pki`` builds real X.509 certificates and CRLs: see tests/pki.py.
``daemon`` is a real trustd on a private socket: see tests/daemons.py.

The suite runs in parallel (pytest-xdist, see pyproject.toml).  A test that measures time or
memory is marked ``alone``: the ``alone`` tests run first, one at a time, and while one runs
(set-up to tear-down) no other test does, so that other tests' processes neither slow it down
nor take its memory.  A file whose tests take tens of seconds together is marked ``long`` and
handed out next, the longest first.
"""

import contextlib
import fcntl
import shutil
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from daemons import Daemon, running_daemon
from pki import DEFAULT_KEYS, PKI, KeyCache
from waiting import eventually


@pytest.fixture(scope="session")
def pki_keys() -> KeyCache:
    """Private keys shared by the whole session (RSA and DSA generation is slow)."""
    return DEFAULT_KEYS


@pytest.fixture
def pki(pki_keys: KeyCache) -> PKI:
    """A fresh builder per test; its keys come from the session cache."""
    return PKI(pki_keys)


@pytest.fixture(scope="session")
def wheelhouse(request: pytest.FixtureRequest) -> Path:
    """trustd's sdist, its wheel and the dependencies' wheels, built once a run for the install
    and the Ansible role tests: the first worker to ask builds it (a build writes into the
    tree, so two at once would collide), the others wait for it and use it."""
    from test_install import build_wheelhouse

    shared = _lock_directory(request.config)
    house = shared / "wheelhouse"
    with (shared / "wheelhouse.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (house / ".built").exists():
            shutil.rmtree(house, ignore_errors=True)
            house.mkdir()
            build_wheelhouse(house)
    return house


@pytest.fixture
def daemon(pki: PKI) -> Iterator[Daemon]:
    """A daemon of the test's own whose system anchor is `daemon.root` ("System Root"),
    evaluating in one worker process; stopped and removed afterwards."""
    with running_daemon(pki.root("System Root")) as running:
        yield running


@pytest.fixture(scope="module")
def module_daemon() -> Iterator[Daemon]:
    """One daemon for the tests of a module that only read from it (evaluations, look-ups,
    errors): a module opts in by overriding `daemon` with it.  Its system anchor's key comes
    from a cache of its own, so no test's `pki` hands out the same key."""
    with running_daemon(PKI(KeyCache()).root("System Root")) as running:
        yield running


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "alone: runs while no other test runs (it measures time or memory)"
    )
    config.addinivalue_line(
        "markers",
        "long(seconds): a file whose tests take about this long together (4 workers on 2 "
        "cores); handed out after the files with alone tests, the longest first",
    )


ALONE_TESTS = pytest.StashKey[int]()
"""How many `alone` tests this run has (the same in every worker: each collects them all)."""


def _is_alone(item: pytest.Item) -> bool:
    return item.get_closest_marker("alone") is not None


def _file_of(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


@pytest.hookimpl(trylast=True)  # after -k, -m and --lf have chosen the tests
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The files with `alone` tests first, their `alone` tests first; then the files marked
    `long`, the longest first; the other tests keep their order.

    Workers are handed whole files in this order (`--no-loadscope-reorder`), so each worker
    runs its `alone` tests before anything else; the long files then start at once instead
    of finishing last, alone, after every other worker is done (longest first is the classic
    schedule).
    """
    with_alone = {_file_of(item) for item in items if _is_alone(item)}

    def order(item: pytest.Item) -> tuple[bool, float, bool]:
        marker = item.get_closest_marker("long")
        seconds = 0.0 if marker is None else float(marker.kwargs["seconds"])
        return _file_of(item) not in with_alone, -seconds, not _is_alone(item)

    items.sort(key=order)
    config.stash[ALONE_TESTS] = sum(map(_is_alone, items))


def _lock_directory(config: pytest.Config) -> Path:
    """The run's own directory, which all its workers share: xdist gives each worker a
    basetemp below it."""
    factory: pytest.TempPathFactory = config._tmp_path_factory  # type: ignore[attr-defined]
    base = factory.getbasetemp()
    return base.parent if hasattr(config, "workerinput") else base


def _await_alone_tests(done: Path, total: int) -> None:
    """Wait until every `alone` test of the run has finished: each one appends a byte to
    `done`.  Should a worker die inside one, the others go on after the suite's per-test
    timeout; the lock still keeps them apart."""
    with contextlib.suppress(AssertionError):
        eventually(lambda: _size(done) >= total, 300)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None]:
    """The `alone` tests run first, one after another, then the others, in parallel.

    The other tests wait until every `alone` test has run: an `alone` test that had to wait
    for tests already running would hold every worker up while it waited.  They also hold a
    shared lock and an `alone` test an exclusive one, for their whole run, so that the two
    never overlap even when the order cannot be kept.  A gate taken exclusively for a moment
    before either lock makes the exclusive one win over tests that start later.
    """
    if not hasattr(item.config, "workerinput"):
        yield  # not a worker of a parallel run: nothing runs alongside
        return
    directory = _lock_directory(item.config)
    alone = _is_alone(item)
    if not alone:
        _await_alone_tests(directory / "alone.done", item.config.stash[ALONE_TESTS])
    with (directory / "alone.gate").open("a") as gate, (directory / "alone.lock").open("a") as lock:
        fcntl.flock(gate, fcntl.LOCK_EX)
        fcntl.flock(lock, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            if alone:
                with (directory / "alone.done").open("ab") as done:
                    done.write(b".")
            fcntl.flock(lock, fcntl.LOCK_UN)
