"""docker-compose.yml cannot run here (no Docker), so check what can go wrong silently: every service built from
our image runs a real `urgence` command with options that exist, and Redis is configured as a broker must be."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
import typer.main
import yaml
from typer.core import TyperGroup

from services.cli import app
from services.core.settings import PROJECT_ROOT
from services.launcher.embedded import REDIS_CONF

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
DOCKERFILE = PROJECT_ROOT / "infra" / "Dockerfile"


def _compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(document, dict)
    return document


def _services() -> dict[str, dict[str, Any]]:
    services = _compose()["services"]
    assert isinstance(services, dict)
    return services


def _ours(service: dict[str, Any]) -> bool:
    build = service.get("build")
    return isinstance(build, dict) and Path(build.get("dockerfile", "")) == Path("infra/Dockerfile")


def _our_services() -> list[str]:
    return sorted(name for name, service in _services().items() if _ours(service))


def parse_urgence_command(args: list[str]) -> tuple[list[str], Any]:
    """Parse `urgence <args>` as the CLI would, strictly: unknown commands, unknown options, bad values and
    missing required options raise (typer.TyperException). Returns the subcommand path and the final context.
    Nothing is run: only the parser of the command is called."""
    command = typer.main.get_command(app)
    # Groups only route to their subcommands (they have no options of their own here): resilient parsing
    # keeps "no_args_is_help" quiet for them. The final command is parsed strictly.
    context = command.make_context("urgence", [], resilient_parsing=True)
    path: list[str] = []
    remaining = list(args)
    while isinstance(command, TyperGroup):
        if not remaining or remaining[0].startswith("-"):
            raise typer.TyperException(f"missing subcommand after `{' '.join(['urgence', *path])}`")
        name = remaining.pop(0)
        subcommand = command.get_command(context, name)
        if subcommand is None:
            raise typer.TyperException(f"no such command: `{' '.join(['urgence', *path, name])}`")
        path.append(name)
        command = subcommand
        if isinstance(command, TyperGroup):
            context = command.make_context(name, [], parent=context, resilient_parsing=True)
    return path, command.make_context(path[-1], remaining, parent=context, resilient_parsing=False)


def test_the_compose_file_uses_our_image_for_the_application() -> None:
    assert set(_our_services()) >= {"api", "worker", "beat"}
    assert DOCKERFILE.is_file()


@pytest.mark.parametrize("name", _our_services())
def test_each_service_runs_a_real_urgence_command(name: str) -> None:
    service = _services()[name]
    command = service.get("command")
    assert isinstance(command, list) and all(isinstance(part, str) for part in command), (
        f"{name}: command must be an exec-form list of strings (the image's entrypoint is `urgence`)"
    )
    path, context = parse_urgence_command(command)
    assert path[0] in {"api", "relay", "worker", "beat", "migrate"}, (
        f"{name}: `urgence {' '.join(path)}` is not a service"
    )
    if path == ["api"]:
        assert context.params["host"] == "0.0.0.0", "the API must listen outside its container"
        assert context.params["migrate"] is False, "replicas must not race on migrations (the migrate service does)"


@pytest.mark.parametrize("name", _our_services())
def test_each_service_knows_where_the_database_and_the_broker_are(name: str) -> None:
    environment = _services()[name]["environment"]
    assert environment["URGENCE_DATABASE_URL"].startswith("postgresql://")
    assert "@postgres:5432/" in environment["URGENCE_DATABASE_URL"]
    assert environment["URGENCE_BROKER_URL"].startswith("redis://redis:6379/")


def test_application_services_wait_for_healthy_backing_services() -> None:
    services = _services()
    for name in _our_services():
        depends_on = services[name]["depends_on"]
        assert depends_on["postgres"]["condition"] == "service_healthy", name
        if name != "migrate":
            assert depends_on["redis"]["condition"] == "service_healthy", name
            assert depends_on["migrate"]["condition"] == "service_completed_successfully", name
    for name in ("postgres", "redis", "api"):
        assert services[name]["healthcheck"]["test"], name


def test_worker_queues_cover_every_queue_one_scheduler_and_a_relay() -> None:
    queues: set[str] = set()
    beats = relays = 0
    for name in _our_services():
        path, context = parse_urgence_command(_services()[name]["command"])
        replicas = _services()[name].get("deploy", {}).get("replicas", 1)
        if path == ["worker"]:
            queues |= set(context.params["queues"].split(","))
        if path == ["beat"]:
            beats += replicas
        if path == ["relay"]:  # without one, nothing written to the outbox would reach the workers
            relays += replicas
    assert queues >= {"routing", "notifications", "maintenance"}
    assert beats == 1
    assert relays >= 1


def test_flower_is_an_opt_in_on_the_workers_broker_and_sees_their_events() -> None:
    services = _services()
    flower = services["flower"]
    assert flower["profiles"] == ["ops"], "started only on demand (`--profile ops`)"
    assert not _ours(flower) and ":" in flower["image"], "its own image, at a fixed version"
    brokers = {services[name]["environment"]["URGENCE_BROKER_URL"] for name in _our_services()}
    command = flower["command"]
    assert command[0] == "celery" and "flower" in command
    assert {part.removeprefix("--broker=") for part in command if part.startswith("--broker=")} == brokers
    assert all(port.startswith("127.0.0.1:") for port in flower["ports"]), "the host's loopback only"
    assert flower["depends_on"]["redis"]["condition"] == "service_healthy"
    for name in _our_services():  # the events Flower shows: on unless a service turns them off
        assert str(services[name]["environment"].get("URGENCE_CELERY_EVENTS", "true")).lower() == "true", name


def _redis_conf() -> dict[str, str]:
    settings: dict[str, str] = {}
    for line in REDIS_CONF.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            settings[key.lower()] = value.strip()
    return settings


def test_redis_keeps_messages_aof_everysec_and_never_evicts() -> None:
    conf = _redis_conf()
    assert conf["appendonly"] == "yes"
    assert conf["appendfsync"] == "everysec"
    assert conf["maxmemory-policy"] == "noeviction"
    assert "dir" not in conf, "a `dir` that does not exist on the host stops the embedded redis-server"

    redis = _services()["redis"]
    mounted = {volume.split(":")[1]: volume.split(":")[0] for volume in redis["volumes"] if volume.startswith("./")}
    conf_in_container = redis["command"][1]
    assert Path(mounted[conf_in_container]) == Path("./infra/redis.conf")
    assert redis["command"][0] == "redis-server" and len(redis["command"]) == 2, "no overrides of the shared file"
    assert redis["image"].startswith("redis:7")


def test_postgres_service() -> None:
    postgres = _services()["postgres"]
    assert postgres["image"].startswith("postgres:17")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in postgres["volumes"])


@pytest.mark.parametrize(
    "args",
    [
        ["apii"],
        ["api", "--no-such-option"],
        ["api", "--port", "eighty"],
        ["worker", "--queue", "routing"],
        ["token", "create"],  # --role is required
        ["token"],
    ],
)
def test_the_parser_rejects_what_the_cli_would(args: list[str]) -> None:
    with pytest.raises(typer.TyperException):
        parse_urgence_command(args)
