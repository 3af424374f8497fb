"""The `urgence` command: run the system, manage tokens, check the fiches, fill a demo semester."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, help="Coordination des signalements d'urgence sociale à Paris.")
token_app = typer.Typer(no_args_is_help=True, help="Jetons d'accès à l'API.")
fiches_app = typer.Typer(no_args_is_help=True, help="Fiches réflexes.")
user_app = typer.Typer(no_args_is_help=True, help="Personnes qui se connectent aux pages.")
app.add_typer(token_app, name="token")
app.add_typer(fiches_app, name="fiches")
app.add_typer(user_app, name="user")


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

    from services.core.logs import dict_config

    if migrate:
        from services.core.migrations import upgrade_to_head

        upgrade_to_head()
    uvicorn.run(
        "services.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=dict_config(),
        log_level="warning",
    )


@app.command()
def worker(
    queues: Annotated[str, typer.Option(help="Files à consommer.")] = "routing,notifications,maintenance",
    concurrency: Annotated[int, typer.Option()] = 2,
) -> None:
    """Lance un worker Celery."""
    from services.core.settings import get_settings
    from services.workers.celery_app import celery_app, our_logging

    our_logging()
    # Heartbeats only with the events (Flower counts a worker without them as offline).
    heartbeat = [] if get_settings().celery_events else ["--without-heartbeat"]
    celery_app.worker_main(
        [
            "worker",
            "--loglevel=WARNING",
            f"--queues={queues}",
            f"--concurrency={concurrency}",
            "--without-gossip",
            "--without-mingle",
            *heartbeat,
        ]
    )


@app.command()
def relay() -> None:
    """Relais de l'outbox : publie vers le broker ce que les transactions ont écrit (plusieurs possibles)."""
    import signal as signals

    from services.core.logs import configure_logging
    from services.workers.relay import Relay

    configure_logging()
    running = Relay()
    for sig in (signals.SIGTERM, signals.SIGINT):
        signals.signal(sig, lambda *_: running.stop())
    running.run()


@app.command()
def beat() -> None:
    """Lance le planificateur (un seul par déploiement)."""
    from services.core.settings import get_settings
    from services.workers.celery_app import celery_app, our_logging

    our_logging()
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
    days: Annotated[int | None, typer.Option(min=1, help="Durée de validité en jours (URGENCE_TOKEN_DAYS).")] = None,
) -> None:
    """Crée un jeton ; il est affiché une seule fois, seul sur la dernière ligne."""
    from datetime import timedelta

    from services.core.access.tokens import TokenError, create_token, token_of_secret
    from services.core.clock import utc_now
    from services.launcher.embedded import database_session

    now = utc_now()
    try:
        with database_session() as session:
            expires_at = now + timedelta(days=days) if days else None
            secret = create_token(session, role=role, leads=lead or [], name=name, expires_at=expires_at, now=now)
            token = token_of_secret(session, secret)
            session.commit()
    except TokenError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(2) from err
    assert token is not None and token.expires_at is not None
    typer.echo(f"jeton {token.id} ({role}), valable jusqu'au {token.expires_at:%Y-%m-%d %H:%M} UTC :")
    typer.echo(secret)


@token_app.command("revoke")
def token_revoke(token_id: Annotated[str, typer.Argument(help="Identifiant du jeton (voir `token list`).")]) -> None:
    """Révoque un jeton : il est refusé partout dans les secondes qui suivent."""
    from services.core.access.tokens import revoke_token
    from services.core.clock import utc_now
    from services.core.errors import NotFound
    from services.launcher.embedded import database_session

    try:
        with database_session() as session:
            revoke_token(session, token_id, utc_now())
            session.commit()
    except NotFound as err:
        typer.echo(err.detail, err=True)
        raise typer.Exit(2) from err
    typer.echo(f"jeton {token_id} révoqué")


@token_app.command("list")
def token_list() -> None:
    """Liste les jetons (jamais leur secret)."""
    from services.core.access.tokens import list_tokens
    from services.launcher.embedded import database_session

    with database_session() as session:
        for token in list_tokens(session):
            state = "révoqué" if token.revoked_at else f"expire {token.expires_at:%Y-%m-%d}"
            typer.echo(f"{token.id}  {token.role:<11} {','.join(token.leads) or '-':<24} {token.name or '-'}  {state}")


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Option(help="Identifiant de connexion.")],
    role: Annotated[str, typer.Option(help="outreach, coordinator, analyst ou admin.")],
    lead: Annotated[list[str] | None, typer.Option(help="Pilote(s) couverts (eps:paris-13, cavs:sud, mus).")] = None,
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, envvar="URGENCE_NEW_PASSWORD")
    ] = "",
) -> None:
    """Crée une personne qui se connecte aux pages (mot de passe demandé, haché avec argon2)."""
    from services.core.access.users import UserError, create_user
    from services.core.clock import utc_now
    from services.launcher.embedded import database_session

    try:
        with database_session() as session:
            user = create_user(
                session, username=username, password=password, role=role, leads=lead or [], now=utc_now()
            )
            session.commit()
    except UserError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(2) from err
    typer.echo(f"utilisateur {user.username} créé ({user.role})")


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


@app.command()
def demo(
    semester: Annotated[str | None, typer.Option(help="Semestre à remplir : AAAA-S1 ou AAAA-S2.")] = None,
    signals: Annotated[int | None, typer.Option(min=1, max=2_000_000, help="Nombre de signalements.")] = None,
    seed: Annotated[int, typer.Option(help="Graine : la même graine donne les mêmes données.")] = 2026,
    force: Annotated[
        bool, typer.Option("--force", help="Écrit même dans une base qui contient de vrais signalements.")
    ] = False,
    purge: Annotated[
        bool, typer.Option("--purge", help="Retire tout ce que la démonstration a écrit, et rien d'autre.")
    ] = False,
) -> None:
    """Remplit la base avec un semestre synthétique réaliste (routage et suites par le vrai code), marqué comme tel ;
    refuse une base qui contient de vrais signalements, sauf avec --force ; --purge le retire."""
    from services.core.clock import utc_now
    from services.launcher.embedded import database_session

    if purge:
        from services.demo.purge import PurgeRefused
        from services.demo.purge import purge as purge_demo

        try:
            with database_session() as session:
                gone = purge_demo(session, utc_now())
                session.commit()
        except PurgeRefused as err:
            typer.echo(str(err), err=True)
            raise typer.Exit(2) from err
        typer.echo(
            f"démonstration retirée : {gone.signals} signalements, {gone.situations} situations, {gone.events} "
            f"événements, {gone.deliveries} alertes, {gone.outbox} lignes d'outbox ; {gone.days_recomputed} "
            f"journées de statistiques recalculées, {gone.days_cleared} effacées"
        )
        return
    if semester is None or signals is None:
        typer.echo("--semester et --signals sont requis (ou --purge)", err=True)
        raise typer.Exit(2)

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from sqlalchemy import Engine

    from services.core.errors import InvalidInput
    from services.core.procedures import active_fiches
    from services.core.stats.semesters import Semester
    from services.core.territory import default_map
    from services.demo.semester import DemoError, run

    try:
        which = Semester.parse(semester)
    except InvalidInput as err:
        typer.echo(err.detail, err=True)
        raise typer.Exit(2) from err
    fiches, territory_map = active_fiches(), default_map()  # loaded once, before the workers start
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with database_session() as session, Progress(*columns) as progress:
            engine = session.get_bind()
            assert isinstance(engine, Engine)
            task = progress.add_task(f"Semestre {which.code}", total=signals)
            result = run(
                engine,
                which,
                count=signals,
                seed=seed,
                now=utc_now(),
                fiches=fiches,
                territory_map=territory_map,
                progress=lambda n: progress.advance(task, n),
                force=force,
            )
    except ValueError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(2) from err
    except DemoError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(1) from err
    typer.echo(
        f"{result.signals} signalements, {result.situations} situations, {result.actions} actions, "
        f"{result.escalations} escalades ; {result.days_rolled} journées agrégées pour les statistiques "
        "(données marquées « démonstration » : `urgence demo --purge` les retire)"
    )


if __name__ == "__main__":
    app()
