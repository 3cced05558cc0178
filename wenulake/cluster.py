"""Cluster mode helpers: the package archive shipped to executors, and a standalone Spark cluster on this machine.

`python -m wenulake.cluster package` builds `dist/wenulake-<version>.zip` (what `get_spark` ships to a
cluster's executors with `addPyFile`); `start` runs a standalone master and one worker from the pip-installed
Spark (`spark-class ...Master` / `...Worker`) on 127.0.0.1, records their process ids under
`$WENULAKE_HOME/cluster/`, and waits until the worker has registered; `stop` ends exactly those processes;
`probe` runs one task on the cluster and reports what the executors see. `make cluster` / `make cluster-stop`
call these; the cluster test uses the same functions.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from wenulake.errors import ConfigError

# the archive's functions live in wenulake.executor_package (spark.py needs them, and cluster imports spark)
from wenulake.executor_package import PACKAGE_DIR as PACKAGE_DIR
from wenulake.executor_package import build_package as build_package
from wenulake.executor_package import default_package_path as default_package_path
from wenulake.executor_package import package_path as package_path
from wenulake.processes import pid_alive
from wenulake.settings import Settings

ROLES = ("master", "worker")


# -- a standalone cluster on this machine ---------------------------------------------------------------------
@dataclass(frozen=True)
class ClusterInfo:
    master_url: str
    webui_url: str
    pids: dict[str, int]
    log_dir: str

    def exports(self) -> str:
        return (
            f"export WENULAKE_SPARK_MASTER={self.master_url} WENULAKE_SPARK_DRIVER_HOST=127.0.0.1\n"
            f"export WENULAKE_SPARK_PY_FILES={default_package_path()}"
        )


def cluster_dir(settings: Settings) -> Path:
    return (settings.home / "cluster").absolute()


def spark_class() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent / "bin" / "spark-class"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _pid_file(folder: Path, role: str) -> Path:
    return folder / f"{role}.pid"


def running_pids(settings: Settings) -> dict[str, int]:
    folder = cluster_dir(settings)
    pids = {}
    for role in ROLES:
        path = _pid_file(folder, role)
        if path.exists():
            pid = int(path.read_text().split()[0])
            if pid_alive(pid):
                pids[role] = pid
    return pids


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 7077,
    webui_port: int = 8090,
    worker_webui_port: int = 8091,
    cores: int = 2,
    memory: str = "2g",
    timeout: float = 90.0,
) -> ClusterInfo:
    """Start a master and one worker; return once the worker is ALIVE in the master's view."""
    folder = cluster_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    if running := running_pids(settings):
        raise ConfigError(
            f"a cluster started from {folder} is still running (pids {running}): stop it with `make cluster-stop`"
        )
    # Spark would move to the next port silently when one is taken; say so instead
    for what, wanted in (
        ("master", port),
        ("master web UI", webui_port),
        ("worker web UI", worker_webui_port),
    ):
        if not port_is_free(host, wanted):
            raise ConfigError(
                f"port {wanted} for the {what} is in use on {host}: choose another "
                "(make cluster CLUSTER_PORT=... CLUSTER_WEBUI_PORT=... CLUSTER_WORKER_WEBUI_PORT=..., or --port/--webui-port/--worker-webui-port)"
            )
    env = {
        **os.environ,
        "SPARK_LOCAL_IP": host,
        "SPARK_WORKER_DIR": str(folder / "work"),
        "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", sys.executable),
        "SPARK_LOG_DIR": str(folder),
    }
    master_url = f"spark://{host}:{port}"
    commands = {
        "master": [
            "org.apache.spark.deploy.master.Master",
            *("--host", host, "--port", str(port), "--webui-port", str(webui_port)),
        ],
        "worker": [
            "org.apache.spark.deploy.worker.Worker",
            master_url,
            *("--host", host, "--cores", str(cores), "--memory", memory),
            *("--webui-port", str(worker_webui_port), "--work-dir", str(folder / "work")),
        ],
    }
    pids: dict[str, int] = {}
    info = ClusterInfo(master_url, f"http://{host}:{webui_port}", pids, str(folder))
    try:
        for role in ROLES:
            log = (folder / f"{role}.log").open("ab")
            process = subprocess.Popen(
                [str(spark_class()), *commands[role]],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # not ended by the caller's Ctrl-C; stopped by pid
            )
            log.close()
            pids[role] = process.pid
            _pid_file(folder, role).write_text(f"{process.pid}\n")
            if role == "master":
                _wait_for_port(host, port, process.pid, folder / "master.log", timeout)
        _wait_for_worker(info, timeout)
    except BaseException:
        stop(settings)
        raise
    (folder / "cluster.json").write_text(json.dumps(asdict(info), indent=2))
    return info


def _wait_for_port(host: str, port: int, pid: int, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            raise ConfigError(f"the Spark master exited at start; its log ends:\n{_tail(log)}")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.3)
    raise ConfigError(f"the Spark master did not listen on {host}:{port} within {timeout:.0f} s")


def master_state(webui_url: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{webui_url}/json/", timeout=5) as response:
        return dict(json.load(response))


def _wait_for_worker(info: ClusterInfo, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    folder = Path(info.log_dir)
    while time.monotonic() < deadline:
        if not pid_alive(info.pids["worker"]):
            raise ConfigError(
                f"the Spark worker exited at start; its log ends:\n{_tail(folder / 'worker.log')}"
            )
        try:
            if int(master_state(info.webui_url).get("aliveworkers", 0)) >= 1:  # type: ignore[call-overload]
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise ConfigError(f"no Spark worker registered with {info.master_url} within {timeout:.0f} s")


def stop(settings: Settings, timeout: float = 20.0) -> list[int]:
    """End the processes whose ids the pid files hold (worker first), and remove the pid files."""
    folder = cluster_dir(settings)
    stopped = []
    for role in reversed(ROLES):
        path = _pid_file(folder, role)
        if not path.exists():
            continue
        pid = int(path.read_text().split()[0])
        if pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
            stopped.append(pid)
        path.unlink()
    return stopped


def probe(settings: Settings) -> dict[str, object]:
    """Run one task per core on the configured master: where executors find wenulake, which Python they run."""
    from wenulake.spark import get_spark

    spark = get_spark(settings, app_name="wenulake-probe")
    sc = spark.sparkContext
    slots = max(1, sc.defaultParallelism)

    def inspect(_: object) -> tuple[str, str, str]:
        import pyarrow

        import wenulake

        return (str(wenulake.__file__), sys.executable, str(pyarrow.__version__))

    seen = sorted(set(sc.parallelize(range(slots), slots).map(inspect).collect()))
    return {
        "master": sc.master,
        "default_parallelism": slots,
        "executors": [{"wenulake": w, "python": p, "pyarrow": a} for w, p, a in seen],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wenulake.cluster", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    pkg = sub.add_parser("package", help="build dist/wenulake-<version>.zip (shipped to executors)")
    pkg.add_argument("--out", type=Path, help="archive path (default dist/wenulake-<version>.zip)")
    go = sub.add_parser("start", help="start a standalone master and one worker on 127.0.0.1")
    go.add_argument("--port", type=int, default=7077, help="master port (default 7077)")
    go.add_argument("--webui-port", type=int, default=8090, help="master web UI port (default 8090)")
    go.add_argument("--worker-webui-port", type=int, default=8091, help="worker web UI port (default 8091)")
    go.add_argument("--cores", type=int, default=2, help="worker cores (default 2)")
    go.add_argument("--memory", default="2g", help="worker memory (default 2g)")
    sub.add_parser("stop", help="stop the master and worker started by `start` (by their pids)")
    sub.add_parser("status", help="the running cluster's processes and master state")
    sub.add_parser("probe", help="run a task on WENULAKE_SPARK_MASTER and show what executors see")
    args = parser.parse_args(argv)
    settings = Settings()
    try:
        if args.command == "package":
            print(build_package(args.out))
        elif args.command == "start":
            info = start(
                settings,
                port=args.port,
                webui_port=args.webui_port,
                worker_webui_port=args.worker_webui_port,
                cores=args.cores,
                memory=args.memory,
            )
            print(
                f"Spark master {info.master_url} (web UI {info.webui_url}), pids {info.pids}, logs {info.log_dir}"
            )
            print(info.exports())
        elif args.command == "stop":
            stopped = stop(settings)
            print(f"stopped pids {stopped}" if stopped else "no cluster was running")
        elif args.command == "status":
            pids = running_pids(settings)
            state = cluster_dir(settings) / "cluster.json"
            print(
                json.dumps(
                    {"pids": pids, **(json.loads(state.read_text()) if pids and state.exists() else {})}
                )
            )
        else:
            print(json.dumps(probe(settings)))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
