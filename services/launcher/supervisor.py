"""`urgence up`: database and broker (embedded unless their URLs are set), migrations, then the API, a worker
and the scheduler as child processes, watched until Ctrl-C / SIGTERM, then everything stopped in order.
An embedded PostgreSQL or Redis that dies (killed) is restarted on the same port and data; the children
reconnect by themselves (pool pre-ping, the relay's and Celery's retries).

Shutdown order matters: the children first (Celery's warm shutdown finishes the running task; with acks_late
anything else stays in Redis), then Redis (AOF fsynced), then PostgreSQL (fast shutdown) — all within 15 s.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from services.core.settings import Settings, get_settings
from services.launcher.embedded import (
    ServiceUrls,
    claim_data_dir,
    command_prefix,
    data_dir_claimed_by,
    ensure_services,
    resolve_data_dir,
)

# Budget of a stop (must stay under 15 s even when everything needs killing): children 6 + 1 s, Redis 2 + 1 s,
# PostgreSQL 3 + 2 s. Usually it is 1-3 s, most of it Celery's warm shutdown.
CHILD_GRACE_SECONDS = 6.0
CHILD_KILL_WAIT_SECONDS = 1.0
# How long to wait for another process that is starting or stopping the same embedded services.
SERVICES_LOCK_WAIT_SECONDS = 3.0
# A child that dies is restarted with backoff; more than this many deaths in the window stops everything.
MAX_RESTARTS = 5
RESTART_WINDOW_SECONDS = 60.0
MAX_BACKOFF_SECONDS = 8.0
HEALTH_EXPECTED_SECONDS = 20.0
DEFERRED_START_MAX_SECONDS = 10.0
POLL_SECONDS = 0.1
# How often the embedded PostgreSQL and Redis are looked at (a pid file and /proc: cheap).
HEAL_EVERY_SECONDS = 1.0

_PR_SET_PDEATHSIG = 1
_LIBC: ctypes.CDLL | None = None
if sys.platform.startswith("linux"):
    with contextlib.suppress(OSError):
        _LIBC = ctypes.CDLL(None, use_errno=True)


def say(message: str) -> None:
    print(message, flush=True)


def warn(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _seconds(value: float) -> str:
    return f"{value:.1f}".replace(".", ",") + " s"


@dataclass(frozen=True)
class ChildSpec:
    name: str
    args: list[str]
    # Started once the API answers /health (or after DEFERRED_START_MAX_SECONDS): on a small machine the
    # three children importing at once slow the API's start down by seconds.
    after_ready: bool = False


def child_specs(host: str, port: int) -> list[ChildSpec]:
    """The children of `urgence up`, run as `python -m services.cli` (no need for the script on PATH)."""
    cli = [sys.executable, "-m", "services.cli"]
    return [
        # Migrations are applied once by the supervisor, before any child starts.
        ChildSpec("api", [*cli, "api", "--host", host, "--port", str(port), "--no-migrate"]),
        ChildSpec("relay", [*cli, "relay"], after_ready=True),
        ChildSpec("worker", [*cli, "worker"], after_ready=True),
        ChildSpec("beat", [*cli, "beat"], after_ready=True),
    ]


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: if `urgence up` is killed outright (SIGKILL), its children get
    # SIGTERM instead of living on as orphans (an orphan API would hold the port, an orphan beat double-fire).
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Child:
    """One child process, leader of its own process group so that it and its own children (Celery's pool)
    can be signalled together, and so that a Ctrl-C in the terminal reaches only the supervisor."""

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.proc: subprocess.Popen[bytes] | None = None
        self.deaths: deque[float] = deque()
        self.start_at: float | None = None

    def start(self, env: dict[str, str]) -> None:
        self.start_at = None
        self.proc = subprocess.Popen(
            self.spec.args,
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent if _LIBC is not None else None,
        )

    def exit_code(self) -> int | None:
        """The exit code once the leader has exited, without reaping it: its pid, hence the process group id,
        stays reserved until `reap`, so killing the group can never hit a recycled id."""
        if self.proc is None:
            return None
        if self.proc.returncode is not None:
            return self.proc.returncode
        try:
            info = os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return self.proc.poll()
        if info is None:
            return None
        return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status

    def signal_group(self, signum: int) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signum)

    def terminate(self) -> None:
        # The leader only: uvicorn and Celery stop their own workers in order on SIGTERM.
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)

    def reap(self) -> int:
        """Kill whatever is left in the group (orphaned pool processes), then collect the leader."""
        assert self.proc is not None
        self.signal_group(signal.SIGKILL)
        code = self.proc.wait()
        self.proc = None
        return code


class _StopRequests:
    """Signal handler: only counts (printing from a handler is not safe). A second signal forces the stop."""

    def __init__(self) -> None:
        self.count = 0
        self.signame = ""
        self._first_at = 0.0

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        now = time.monotonic()
        if self.count == 0:
            self._first_at = now
            self.signame = signal.Signals(signum).name
        elif now - self._first_at < 1.0:
            # The same Ctrl-C delivered twice (terminal to the process group, and a wrapper such as
            # `uv run` forwarding it) must not turn a clean stop into a forced one.
            return
        self.count += 1


def _install_handlers(handler: _StopRequests) -> dict[int, object]:
    previous: dict[int, object] = {}
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        previous[signum] = signal.signal(signum, handler)
    return previous


def _restore_handlers(previous: dict[int, object]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)  # type: ignore[arg-type]


def _fresh_metrics_dir(data_dir: Path) -> Path:
    """prometheus-client's multiprocess directory, empty: counts of earlier runs would add to this one's."""
    directory = data_dir / "metrics"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return directory


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        # create_server sets SO_REUSEADDR, like uvicorn: a socket in TIME_WAIT does not count as taken.
        with socket.create_server((host, port), family=family):
            return True
    except OSError:
        return False


def _client_url(host: str, port: int) -> str:
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _api_ready(url: str) -> bool:
    """The API answers and reaches the database and the broker. Not a 200 of /health: that also needs the
    heartbeats of the relay, the workers and the scheduler, which are started once the API is ready."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=0.5) as answer:
            return int(answer.status) == 200
    except urllib.error.HTTPError as answer:
        try:
            checks = json.loads(answer.read()).get("checks", {})
        except (ValueError, OSError, AttributeError):
            return False
        return all(checks.get(name) == "ok" for name in ("api", "database", "broker"))
    except (urllib.error.URLError, OSError, ValueError):
        return False


class Supervisor:
    """Starts the children, restarts one that dies (bounded, with backoff), stops all on request."""

    def __init__(
        self,
        specs: Sequence[ChildSpec],
        env: dict[str, str],
        *,
        health_url: str | None = None,
        stop_requests: _StopRequests | None = None,
        on_ready: Callable[[], None] | None = None,
        heal_services: Callable[[], None] | None = None,
    ) -> None:
        self.children = [Child(spec) for spec in specs]
        # Called every HEAL_EVERY_SECONDS: restarts the embedded database or broker if one was killed.
        self.heal_services = heal_services
        self.env = env
        self.health_url = health_url
        self.stop_requests = stop_requests or _StopRequests()
        self.on_ready = on_ready
        self.stop_began: float | None = None

    def run(self) -> int:
        """Until a stop request (exit code 0) or a child that keeps dying (exit code 1)."""
        started = time.monotonic()
        ready = self.health_url is None
        warned_slow = False
        next_health = 0.0
        code = 0
        try:
            for child in self.children:
                if child.spec.after_ready and not ready:
                    child.start_at = started + DEFERRED_START_MAX_SECONDS
                else:
                    child.start(self.env)
            next_heal = started + HEAL_EVERY_SECONDS
            while not self.stop_requests.count:
                now = time.monotonic()
                if self.heal_services is not None and now >= next_heal:
                    self.heal_services()
                    next_heal = time.monotonic() + HEAL_EVERY_SECONDS
                if not self._watch(now):
                    code = 1
                    break
                if not ready and self.health_url and now >= next_health:
                    next_health = now + 0.25
                    if _api_ready(self.health_url):
                        ready = True
                        for child in self.children:
                            if child.proc is None and child.start_at is not None and not child.deaths:
                                child.start_at = now
                        if self.on_ready:
                            self.on_ready()
                    elif not warned_slow and now - started > HEALTH_EXPECTED_SECONDS:
                        warned_slow = True
                        waited = _seconds(now - started)
                        warn(f"L'API ne répond toujours pas sur {self.health_url}/health après {waited}.")
                time.sleep(POLL_SECONDS)
        finally:
            self.stop_began = time.monotonic()
            self.stop_children()
        return code

    def _watch(self, now: float) -> bool:
        """Restart what died (after its backoff); False when a child dies too often."""
        for child in self.children:
            if child.proc is None:
                if child.start_at is not None and now >= child.start_at:
                    child.start(self.env)
                continue
            code = child.exit_code()
            if code is None:
                continue
            child.reap()
            child.deaths.append(now)
            while child.deaths and now - child.deaths[0] > RESTART_WINDOW_SECONDS:
                child.deaths.popleft()
            if len(child.deaths) > MAX_RESTARTS:
                warn(
                    f"Le processus {child.spec.name} s'arrête sans cesse (code {code}, {len(child.deaths)} fois en "
                    f"{round(RESTART_WINDOW_SECONDS)} s) : arrêt de tout. Voir ses messages ci-dessus."
                )
                return False
            delay = min(0.5 * 2 ** (len(child.deaths) - 1), MAX_BACKOFF_SECONDS)
            child.start_at = now + delay
            warn(
                f"Le processus {child.spec.name} s'est arrêté (code {code}) : redémarrage dans {_seconds(delay)} "
                f"({len(child.deaths)}/{MAX_RESTARTS})."
            )
        return True

    def stop_children(self) -> None:
        """SIGTERM, wait for the grace period (cut short by another Ctrl-C), SIGKILL what is left."""
        alive = [child for child in self.children if child.proc is not None]
        for child in self.children:
            child.start_at = None
        requests_at_start = self.stop_requests.count
        for child in alive:
            child.terminate()
        deadline = time.monotonic() + CHILD_GRACE_SECONDS
        while alive and time.monotonic() < deadline and self.stop_requests.count <= requests_at_start:
            for child in list(alive):
                if child.exit_code() is not None:
                    child.reap()
                    alive.remove(child)
            time.sleep(0.05)
        if alive:
            warn("Arrêt forcé de : " + ", ".join(child.spec.name for child in alive) + ".")
        for child in alive:
            child.signal_group(signal.SIGKILL)
        for child in alive:
            assert child.proc is not None
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(CHILD_KILL_WAIT_SECONDS)
            if child.proc.returncode is not None:
                child.reap()


def _check_fiches() -> bool:
    """Invalid fiches stop `urgence up` before anything starts."""
    from services.core.fiches import FichesInvalid, load_fiches

    fiches_dir = get_settings().fiches_dir
    try:
        load_fiches(fiches_dir)
    except FichesInvalid as invalid:
        warn(f"Fiches réflexes invalides ({fiches_dir}) : rien n'a été démarré.")
        for problem in invalid.problems:
            warn(f"  - {problem}")
        return False
    return True


def _warn_if_no_chromium(settings: Settings) -> None:
    """The PDFs of the dashboards need Chromium; everything else works without it: a warning, not a failure."""
    if shutil.which(settings.chromium_binary) is None:
        warn(
            f"Attention : Chromium introuvable (« {settings.chromium_binary} ») : les PDF des tableaux de bord ne "
            "pourront pas être produits. Installez le paquet Debian « chromium » (apt install chromium) ou donnez "
            "son chemin dans URGENCE_CHROMIUM_BINARY."
        )


def _describe(services: ServiceUrls, settings: Settings) -> None:
    data_dir = services.data_dir
    if settings.database_url:
        say("PostgreSQL : fourni par URGENCE_DATABASE_URL.")
    else:
        state = "démarré" if "PostgreSQL" in services.started else "déjà en marche, réutilisé"
        say(f"PostgreSQL embarqué {state} ({data_dir}/postgres).")
    if settings.broker_url:
        say("Redis : fourni par URGENCE_BROKER_URL.")
    else:
        state = "démarré" if "Redis" in services.started else "déjà en marche, réutilisé"
        where = (services.broker_url or "").removeprefix("redis://").removesuffix("/0")
        say(f"Redis embarqué {state} ({where}, {data_dir}/redis).")


def _token_hint(settings: Settings, data_dir: Path) -> str:
    """The command to get a token, runnable as is from another terminal (same data, same database)."""
    if settings.database_url:
        prefix = "URGENCE_DATABASE_URL=… "
    elif data_dir != Path(".urgence").resolve():
        prefix = f"URGENCE_DATA_DIR={data_dir} "
    else:
        prefix = ""
    return f"{prefix}{command_prefix()} token create --role outreach"


def run_all(host: str = "127.0.0.1", port: int = 8000) -> int:
    """`urgence up`; returns the exit code (0 after a requested stop, 1 on any failure)."""
    began = time.monotonic()
    settings = get_settings()
    data_dir = resolve_data_dir(settings)

    if not _check_fiches():
        return 1
    _warn_if_no_chromium(settings)
    if not _port_free(host, port):
        warn(f"Le port {port} est déjà utilisé sur {host} : choisissez-en un autre avec --port.")
        return 1
    data_dir.mkdir(parents=True, exist_ok=True)
    claim = claim_data_dir(data_dir)
    if claim is None:
        pid = data_dir_claimed_by(data_dir)
        held_by = f" (pid {pid})" if pid else ""
        warn(
            f"Un « urgence up » tourne déjà sur {data_dir}{held_by} : "
            "arrêtez-le ou choisissez un autre URGENCE_DATA_DIR."
        )
        return 1
    stop_requests = _StopRequests()
    previous_handlers = _install_handlers(stop_requests)
    try:
        say(f"Données : {data_dir}")
        return _run_services_and_children(host, port, settings, data_dir, stop_requests, began)
    finally:
        claim.release()
        _restore_handlers(previous_handlers)


def _run_services_and_children(
    host: str, port: int, settings: Settings, data_dir: Path, stop_requests: _StopRequests, began: float
) -> int:
    try:
        services = ensure_services(settings)
    except Exception as err:
        warn(f"Échec du démarrage de la base ou du broker : {err}")
        return 1
    stop_began: float | None = None
    code = 1
    try:
        _describe(services, settings)
        try:
            from services.core.migrations import upgrade_to_head

            upgrade_to_head(services.database_url)
        except Exception as err:
            warn(f"Échec des migrations : {type(err).__name__}: {err}")
            return 1
        say("Migrations appliquées.")
        if stop_requests.count:
            stop_began = time.monotonic()
            code = 0
            return code

        assert services.broker_url is not None
        env = dict(os.environ)
        env.update(
            # The API processes' counters, summed by whichever answers `GET /metrics`; emptied at each start.
            PROMETHEUS_MULTIPROC_DIR=str(_fresh_metrics_dir(data_dir)),
            URGENCE_DATABASE_URL=services.database_url,
            URGENCE_BROKER_URL=services.broker_url,
            URGENCE_DATA_DIR=str(data_dir),
            PYTHONUNBUFFERED="1",
        )
        url = _client_url(host, port)
        say(f"Démarrage de l'API ({url}), du relais, d'un worker et du planificateur…")

        def on_ready() -> None:
            say(f"API prête en {_seconds(time.monotonic() - began)} : {url} (santé : {url}/health)")
            say(f"Créer un jeton : {_token_hint(settings, data_dir)}")
            say("Ctrl-C pour tout arrêter.")

        def heal_services() -> None:
            try:
                healed = services.heal()
            except Exception as err:  # EmbeddedError, or psutil / OS errors: tried again a second later
                warn(f"Échec du redémarrage d'un service embarqué, nouvel essai : {err}")
                return
            for name in healed:
                warn(f"{name} embarqué s'était arrêté sans qu'on le lui demande : redémarré (mêmes port et données).")

        supervisor = Supervisor(
            child_specs(host, port),
            env,
            health_url=url,
            stop_requests=stop_requests,
            on_ready=on_ready,
            heal_services=heal_services,
        )
        code = supervisor.run()
        stop_began = supervisor.stop_began
        if code == 0:
            say(f"Arrêt demandé ({stop_requests.signame}) : API, relais, worker et planificateur arrêtés.")
        return code
    finally:
        stopped = services.stop(lock_timeout=SERVICES_LOCK_WAIT_SECONDS)
        if stopped:
            say(" et ".join(stopped) + (" arrêtés." if len(stopped) > 1 else " arrêté."))
        if stop_began is not None:
            say(f"Tout est arrêté en {_seconds(time.monotonic() - stop_began)}.")
