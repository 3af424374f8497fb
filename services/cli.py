"""The `urgence` command: run the system, manage tokens, check the fiches, fill a demo semester."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, help="Coordination des signalements d'urgence sociale à Paris.")
token_app = typer.Typer(no_args_is_help=True, help="Jetons d'accès à l'API.")
fiches_app = typer.Typer(no_args_is_help=True, help="Fiches réflexes.")
app.add_typer(token_app, name="token")
app.add_typer(fiches_app, name="fiches")


@app.command()
def up(
    host: Annotated[str, typer.Option(help="Adresse d'écoute de l'API.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port de l'API.")] = 8000,
) -> None:
    """Lance tout sur cette machine : base, broker, API, workers et planificateur."""
    from services.launcher.supervisor import run_all

    raise typer.Exit(run_all(host=host, port=port))


@app.command()
def api(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    workers: Annotated[int, typer.Option(help="Processus uvicorn.")] = 1,
    migrate: Annotated[bool, typer.Option(help="Applique les migrations avant de servir.")] = True,
) -> None:
    """Sert l'API HTTP (une réplique)."""
    import uvicorn

    if migrate:
        from services.core.migrations import upgrade_to_head

        upgrade_to_head()
    uvicorn.run(
        "services.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
    )


@app.command()
def worker(
    queues: Annotated[str, typer.Option(help="Files à consommer.")] = "routing,notifications,maintenance",
    concurrency: Annotated[int, typer.Option()] = 2,
) -> None:
    """Lance un worker Celery."""
    from services.workers.celery_app import celery_app

    celery_app.worker_main(
        [
            "worker",
            "--loglevel=WARNING",
            f"--queues={queues}",
            f"--concurrency={concurrency}",
            "--without-gossip",
        ]
    )


@app.command()
def beat() -> None:
    """Lance le planificateur (un seul par déploiement)."""
    from services.core.settings import get_settings
    from services.workers.celery_app import celery_app

    # The schedule file (last run times) lives with the data, not in whatever directory beat was started from.
    data_dir = get_settings().data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    celery_app.start(["beat", "--loglevel=WARNING", f"--schedule={data_dir / 'celerybeat-schedule'}"])


@app.command()
def migrate() -> None:
    """Applique les migrations de la base."""
    from services.core.migrations import upgrade_to_head

    upgrade_to_head()
    typer.echo("migrations appliquées")


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="outreach, coordinator, analyst ou admin.")],
    lead: Annotated[list[str] | None, typer.Option(help="Pilote(s) couverts (eps:paris-13, cavs:sud, mus).")] = None,
    name: Annotated[str | None, typer.Option(help="Nom lisible du jeton.")] = None,
) -> None:
    """Crée un jeton ; il est affiché une seule fois, seul sur la dernière ligne."""
    from services.core.access.tokens import TokenError, create_token
    from services.launcher.embedded import database_session

    try:
        with database_session() as session:
            secret = create_token(session, role=role, leads=lead or [], name=name)
            session.commit()
    except TokenError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(2) from err
    typer.echo(secret)


@fiches_app.command("check")
def fiches_check(directory: Annotated[str | None, typer.Argument(help="Dossier des fiches.")] = None) -> None:
    """Valide les fiches réflexes : code 0 si elles sont valides, sinon la liste des problèmes et code 1."""
    from pathlib import Path

    from services.core.fiches import check_fiches
    from services.core.settings import get_settings

    path = Path(directory) if directory else get_settings().fiches_dir
    problems = check_fiches(path)
    for problem in problems:
        typer.echo(str(problem))
    if problems:
        raise typer.Exit(1)
    typer.echo(f"fiches valides : {path}")


if __name__ == "__main__":
    app()
