"""How fast trustctl starts: every command against `python3 -c pass`, and what it imports.

Starts a daemon on a temporary socket (this checkout's code), with a root, an intermediate in
the store, trust settings and an exception, then runs each trustctl command (real arguments,
answered by that daemon) `--runs` times, alternating with `python3 -c pass` so that both see
the same load, and prints medians, the ratio to `python3 -c pass` and whether the command
loaded cryptography, SQLAlchemy or pydantic.  Goals: `--help` <= 3x, `status` and
`verify-cert` <= 5x.  Run: `python bench/cli_startup.py [--runs 15] [--only help status]`.
Beside the wall-clock ratio, `cpu` is the ratio of the processes' own CPU time (user and
system, from the kernel's accounting of the finished child), which moves much less when other
processes compete for the cores; it leaves out the daemon's work for the command.
CI does not time it; tests/cli/test_imports.py checks the import sets.

trustctl runs as installed, with its modules' bytecode cached (written by a first, untimed run
of each command, under the bench's temporary directory: PYTHONPYCACHEPREFIX), even where
PYTHONDONTWRITEBYTECODE is set; `--no-bytecode-cache` compiles every module on every run
instead (what a checkout run with PYTHONDONTWRITEBYTECODE pays).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from daemon import SHORT, bench_pki, start_daemon, stop_daemons  # noqa: E402

HEAVY = ("cryptography", "sqlalchemy", "pydantic")
GOALS = {"--help": 3.0, "status": 5.0, "verify-cert": 5.0}
# Wraps trustctl: runs it, then reports which heavy packages it imported (on stderr's last line).
PROBE = (
    "import sys, runpy\n"
    "sys.argv = ['trustctl', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_module('trustctl', run_name='__main__')\n"
    "except SystemExit as done:\n"
    "    code = done.code\n"
    "else:\n"
    "    code = 0\n"
    f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
    "print('loaded:', ','.join(heavy) or '-', file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def commands(base: Path) -> list[tuple[str, list[str]]]:
    """(label, trustctl arguments) for every command."""
    leaf, ica, root = (str(base / name) for name in ("leaf.pem", "ica.pem", "root.pem"))
    return [
        ("--help", ["--help"]),
        ("--version", ["--version"]),
        ("status", ["status"]),
        ("verify-cert", ["verify-cert", "-c", leaf, "-c", ica, "-p", "ssl", "-n", "www.example"]),
        ("verify-cert -r", ["verify-cert", "-c", leaf, "-c", ica, "-r", root]),
        ("dump-trust-settings -d", ["dump-trust-settings", "-d"]),
        ("trust-settings-export -d", ["trust-settings-export", "-d", str(base / "out.plist")]),
        ("find-certificate -a", ["find-certificate", "-a"]),
        ("export", ["export"]),
        ("add-certificates", ["add-certificates", ica]),
        ("add-trusted-cert -d", ["add-trusted-cert", "-d", root]),
        ("show-cert", ["show-cert", leaf]),
        ("export-bundle", ["export-bundle", str(base / "bundle-out.pem")]),
        ("audit", ["audit"]),
        ("exceptions list", ["exceptions", "list"]),
        ("import", ["import", ica]),
    ]


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float, int, str]:
    """(seconds, CPU seconds of the process, exit code, last line of stderr)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, check=False, capture_output=True, text=True, env=env)
    spent = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    lines = done.stderr.strip().splitlines()
    return spent, cpu, done.returncode, lines[-1] if lines else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--only", nargs="+", help="only the commands whose label contains one of these"
    )
    parser.add_argument(
        "--no-bytecode-cache", action="store_true", help="compile every module on every run"
    )
    args = parser.parse_args()
    pki, _, ica, base = bench_pki("Startup")
    leaf = pki.leaf(ica, dns=["www.example"], **SHORT)
    for name, issued in (("ica", ica), ("leaf", leaf)):
        (base / f"{name}.pem").write_bytes(issued.pem)
    daemon, sock = start_daemon(REPOSITORY, base / "daemon", base / "root.pem")
    env = {**os.environ, "PYTHONPATH": str(REPOSITORY), "TRUSTD_SOCKET": str(sock)}
    if not args.no_bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(base / "pycache")
    try:
        trustctl = [sys.executable, "-c", PROBE]
        for setup in (
            ["add-certificates", str(base / "ica.pem")],
            ["add-trusted-cert", "-d", str(base / "root.pem")],
        ):
            subprocess.run([*trustctl, *setup], env=env, capture_output=True, check=True)
        selected = [
            c for c in commands(base) if args.only is None or any(o in c[0] for o in args.only)
        ]
        baseline_samples: list[float] = []
        results = []
        for label, arguments in selected:
            samples, cpus, peers, peer_cpus, code, loaded = [], [], [], [], 0, ""
            timed([*trustctl, *arguments], env)  # writes the bytecode cache
            for _ in range(args.runs):
                peer, peer_cpu, _, _ = timed([sys.executable, "-c", "pass"], env)
                peers.append(peer)
                peer_cpus.append(peer_cpu)
                spent, cpu, code, last = timed([*trustctl, *arguments], env)
                samples.append(spent)
                cpus.append(cpu)
                loaded = last.removeprefix("loaded: ")
            baseline_samples.extend(peers)
            ratio = statistics.median(samples) / statistics.median(peers)
            cpu_ratio = statistics.median(cpus) / statistics.median(peer_cpus)
            results.append((label, statistics.median(samples), ratio, cpu_ratio, code, loaded))
        baseline = statistics.median(baseline_samples)
        print(f"python3 -c pass: {baseline * 1000:.1f} ms (median of {len(baseline_samples)})")
        print("ratio: the command's median over the median of the runs of python3 -c pass")
        print("taken alternately with it; cpu: the same for the processes' CPU time")
        print(f"{'command':<26} {'ms':>7} {'ratio':>6} {'cpu':>6}  exit  loaded  goal")
        for label, spent, ratio, cpu_ratio, code, loaded in results:
            goal = GOALS.get(label)
            verdict = (
                "" if goal is None else ("MET" if ratio <= goal else "NOT MET") + f" <= {goal:g}x"
            )
            print(
                f"{label:<26} {spent * 1000:>7.1f} {ratio:>5.1f}x {cpu_ratio:>5.1f}x"
                f"  {code:>4}  {loaded:<7} {verdict}"
            )
    finally:
        stop_daemons([daemon], base)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
