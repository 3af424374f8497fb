"""Running `urgence up` for end-to-end tests: a free port, its own data directory, its output in a file, and
a check that nothing of it is left running."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

# /health is 200 once the API, database and broker answer AND the relay, the worker (each queue) and the
# scheduler have beaten: they start after the API is ready, each importing the code on a 2-core machine.
HEALTH_WITHIN_SECONDS = 60.0
STOP_WITHIN_SECONDS = 15.0
ROUTED_WITHIN_SECONDS = 30.0
CLI = [sys.executable, "-m", "services.cli"]
SIGNAL_BODY = {
    "location": {"lat": 48.831, "lon": 2.3555},
    "source": "maraude",
    "people": {"adults": 2, "children": 3, "unaccompanied_minors": 0},
    "flags": [],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(data_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"URGENCE_DATABASE_URL", "URGENCE_BROKER_URL"}}
    env["URGENCE_DATA_DIR"] = str(data_dir)
    # As under `uv run` (which sets UV), whether or not pytest itself was started through uv.
    env.setdefault("UV", "uv")
    env.update(extra or {})
    return env


def mentions(proc: psutil.Process, needle: str) -> bool:
    """Whether a process belongs to this data directory: by command line (postgres -D, beat --schedule),
    working directory (postgres and redis-server chdir into theirs) or environment (the children of `up`)."""
    with contextlib.suppress(psutil.Error):
        if needle in " ".join(proc.cmdline()):
            return True
    with contextlib.suppress(psutil.Error):
        if proc.cwd().startswith(needle):
            return True
    with contextlib.suppress(psutil.Error):
        if any(needle in value for value in proc.environ().values()):
            return True
    return False


def left_behind(data_dir: Path) -> list[str]:
    needle = str(data_dir)
    found = []
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        with contextlib.suppress(psutil.Error):
            if proc.status() != psutil.STATUS_ZOMBIE and mentions(proc, needle):
                found.append(f"{proc.pid} {' '.join(proc.cmdline())}")
    return found


class Up:
    """One `urgence up` run, its output in a file (a pipe nobody reads would fill and block it)."""

    def __init__(self, data_dir: Path, port: int, log: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = port
        self.log = log
        self.base_url = f"http://127.0.0.1:{port}"
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*CLI, "up", "--port", str(port)],
                env=environment(data_dir, env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # our signals only, like a terminal's Ctrl-C to the foreground job
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]

    def wait_healthy(self) -> float:
        began = time.monotonic()
        deadline = began + HEALTH_WITHIN_SECONDS
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"`urgence up` exited ({self.proc.returncode}):\n{self.output()}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return time.monotonic() - began
            time.sleep(0.2)
        pytest.fail(f"/health not 200 within {HEALTH_WITHIN_SECONDS} s:\n{self.output()}")

    def interrupt(self) -> float:
        """SIGINT, as Ctrl-C; returns how long the stop took."""
        began = time.monotonic()
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(STOP_WITHIN_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`urgence up` still running {STOP_WITHIN_SECONDS} s after SIGINT:\n{self.output()}")
        return time.monotonic() - began

    def kill_if_running(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(STOP_WITHIN_SECONDS)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@contextlib.contextmanager
def running_up(data_dir: Path, log: Path, env: dict[str, str] | None = None) -> Iterator[Up]:
    up = Up(data_dir, free_port(), log, env)
    try:
        yield up
    finally:
        up.kill_if_running()


def run_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=environment(data_dir), capture_output=True, text=True, timeout=120, check=False
    )


def create_token(data_dir: Path, *, expect_on_stderr: str = "") -> str:
    result = run_cli(data_dir, "token", "create", "--role", "outreach", "--name", "e2e")
    assert result.returncode == 0, result.stderr
    assert expect_on_stderr in result.stderr, result.stderr
    return result.stdout.strip().splitlines()[-1]


def wait_routed(client: httpx.Client, signal_id: str, up: Up) -> dict[str, object]:
    deadline = time.monotonic() + ROUTED_WITHIN_SECONDS
    body: dict[str, object] = {}
    while time.monotonic() < deadline:
        answer = client.get(f"/v1/signals/{signal_id}")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        if body["status"] == "routed":
            return body
        time.sleep(0.25)
    pytest.fail(f"signal not routed within {ROUTED_WITHIN_SECONDS} s: {body}\n{up.output()}")


def assert_stopped(up: Up, data_dir: Path) -> None:
    took = up.interrupt()
    assert took < STOP_WITHIN_SECONDS
    left = left_behind(data_dir)
    assert not left, "processes left behind:\n" + "\n".join(left) + "\n" + up.output()
