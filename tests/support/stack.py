"""Real processes for failure tests: a private Redis, and API / worker / beat processes started with the CLI,
each in its own process group so a test can kill one with SIGKILL and start it again."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil

from services.launcher.embedded import redis_server_executable
from tests.support.waiting import wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def kill_group(process: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGKILL, timeout: float = 15) -> None:
    """Signal the whole group (Celery's pool children too) and reap the leader."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)
    # Children of a killed leader may outlive it for a moment: make sure none is left.
    for child in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(child.pid) == process.pid:
                child.kill()
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue


class Stack:
    """A private broker and the project's processes, pointed at the test database."""

    def __init__(self, workdir: Path, database_url: str) -> None:
        self.workdir = workdir
        self.redis_port = free_port()
        self.api_ports = {"api": free_port()}  # by process name: several replicas may run
        self.env = {
            **os.environ,
            "URGENCE_DATABASE_URL": database_url,
            "URGENCE_BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "URGENCE_DATA_DIR": str(workdir),
            "URGENCE_OUTBOX_SWEEP_SECONDS": "1",
            "URGENCE_OUTBOX_REDELIVER_SECONDS": "3",
            "URGENCE_BROKER_VISIBILITY_TIMEOUT": "5",
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def api_port(self) -> int:
        return self.api_ports["api"]

    @property
    def base_url(self) -> str:
        return self.url("api")

    def url(self, api: str) -> str:
        return f"http://127.0.0.1:{self.api_ports[api]}"

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 (kept open for the child's lifetime)
        process = subprocess.Popen(
            args, cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.processes[name] = process
        return process

    def start_redis(self) -> None:
        # No persistence: a restart loses whatever the broker held, the worst case the outbox must cover.
        self._spawn(
            "redis",
            [
                str(redis_server_executable()),
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
        )
        wait_for(self.redis_answers, timeout=10, what="Redis")

    def redis_answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.redis_port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start_api(self, timeout: float = 30, name: str = "api") -> None:
        """An API process (`name`: "api", or another name for another replica, on its own port)."""
        port = self.api_ports.setdefault(name, free_port())
        cli = [sys.executable, "-m", "services.cli"]
        self._spawn(name, [*cli, "api", "--port", str(port), "--no-migrate"])
        wait_for(lambda: self._api_answers(name), timeout=timeout, what=f"l'API ({name})")

    def _api_answers(self, name: str) -> bool:
        try:
            return httpx.get(f"{self.url(name)}/health", timeout=2).status_code in (200, 503)
        except httpx.HTTPError:
            return False

    def start_worker(self, name: str = "worker") -> subprocess.Popen[bytes]:
        cli = [sys.executable, "-m", "services.cli"]
        return self._spawn(name, [*cli, "worker", "--concurrency", "1"])

    def start_relay(self) -> None:
        self._spawn("relay", [sys.executable, "-m", "services.cli", "relay"])

    def start_beat(self) -> None:
        self._spawn("beat", [sys.executable, "-m", "services.cli", "beat"])

    def stop(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        process = self.processes.pop(name, None)
        if process is not None:
            kill_group(process, sig)

    def close(self) -> None:
        for name in list(self.processes):
            self.stop(name, signal.SIGTERM)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.workdir.glob("*.log"))


@contextmanager
def running_stack(workdir: Path, database_url: str) -> Iterator[Stack]:
    stack = Stack(workdir, database_url)
    try:
        yield stack
    finally:
        stack.close()
