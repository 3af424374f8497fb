"""The `urgence` command: run the system, manage tokens, check the fiches, fill a demo semester."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from sqlmodel import Session

    from services.core.deadletters import Outcome

# Typer's own words (usage line, panels, --help), in French: everything a person reads. Typer 0.29 carries its
# own copy of Click, with these words written in (no gettext catalog to add): they are replaced at import.
_RICH_FRENCH = {
    "DEFAULT_STRING": "[par défaut : {}]",
    "ENVVAR_STRING": "[variable d'environnement : {}]",
    "REQUIRED_LONG_STRING": "[obligatoire]",
    "DEPRECATED_STRING": "(obsolète) ",
    "ARGUMENTS_PANEL_TITLE": "Arguments",
    "OPTIONS_PANEL_TITLE": "Options",
    "COMMANDS_PANEL_TITLE": "Commandes",
    "ERRORS_PANEL_TITLE": "Erreur",
    "ABORTED_TEXT": "Abandon.",
    "RICH_HELP": "Voir [blue]« {command_path} {help_option} »[/] pour l'aide.",
}
HELP_OPTION_TEXT = "Affiche cette aide et quitte."
USAGE_PREFIX = "Utilisation : "


def _speak_french() -> None:
    import typer.rich_utils
    from typer._click import decorators, formatting

    for name, text in _RICH_FRENCH.items():
        setattr(typer.rich_utils, name, text)
    highlighter = typer.rich_utils.OptionHighlighter
    highlighter.highlights = [pattern.replace("Usage: ", USAGE_PREFIX) for pattern in highlighter.highlights]

    english_help_option = decorators.help_option

    def help_option(param_decls: list[str]) -> Callable[[Any], Any]:
        add_option = english_help_option(param_decls)

        def add_french_option(command: Any) -> Any:
            command = add_option(command)
            command.params[-1].help = HELP_OPTION_TEXT
            return command

        return add_french_option

    decorators.help_option = help_option
    english_write_usage = formatting.HelpFormatter.write_usage

    def write_usage(self: formatting.HelpFormatter, prog: str, args: str = "", prefix: str | None = None) -> None:
        english_write_usage(self, prog, args, USAGE_PREFIX if prefix is None else prefix)

    formatting.HelpFormatter.write_usage = write_usage  # type: ignore[method-assign]


_speak_french()


def _group(help_text: str, **options: Any) -> typer.Typer:
    return typer.Typer(no_args_is_help=True, subcommand_metavar="COMMANDE [ARGUMENTS]...", help=help_text, **options)


app = _group("Coordination des signalements d'urgence sociale à Paris.", add_completion=False)
token_app = _group("Jetons d'accès à l'API.")
fiches_app = _group("Fiches réflexes.")
user_app = _group("Personnes qui se connectent aux pages.")
app.add_typer(token_app, name="token")
app.add_typer(fiches_app, name="fiches")
app.add_typer(user_app, name="user")


def _refused(message: str, code: int = 2) -> typer.Exit:
    """Say on stderr why the command stops (French) and give the exit to raise: 2 refused, 1 failed."""
    typer.echo(message, err=True)
    return typer.Exit(code)


@contextlib.contextmanager
def _database(command: str) -> Iterator[Session]:
    """The database of the running `urgence up` of this directory (or URGENCE_DATABASE_URL), said on stderr
    before use; refused (code 1, in French) rather than a second, empty embedded database started silently."""
    from services.launcher.embedded import NoDatabase, command_prefix, database_session

    def announce(message: str) -> None:
        typer.echo(message, err=True)

    try:
        with database_session(announce=announce, command=f"{command_prefix()} {command}") as session:
            yield session
    except NoDatabase as err:
        raise _refused(str(err), 1) from err


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
    host: Annotated[str, typer.Option(help="Adresse d'écoute.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port d'écoute.")] = 8000,
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
    queues: Annotated[str, typer.Option(help="Files à consommer, séparées par des virgules.")] = (
        "routing,notifications,maintenance"
    ),
    concurrency: Annotated[int, typer.Option(help="Processus qui exécutent les tâches.")] = 2,
) -> None:
    """Lance un worker Celery (plusieurs possibles)."""
    import warnings

    from celery.exceptions import SecurityWarning

    from services.core.settings import get_settings
    from services.workers.celery_app import celery_app, our_logging

    # No English banner nor root warning burying the French messages of `urgence up` (a container runs as root).
    warnings.simplefilter("ignore", SecurityWarning)
    our_logging()
    # Heartbeats only with the events (Flower counts a worker without them as offline).
    heartbeat = [] if get_settings().celery_events else ["--without-heartbeat"]
    celery_app.worker_main(
        [
            "--quiet",
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
    celery_app.start(["--quiet", "beat", "--loglevel=WARNING", f"--schedule={data_dir / 'celerybeat-schedule'}"])


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
    from services.core.territory import default_map

    now = utc_now()
    try:
        with _database("token create") as session:
            expires_at = now + timedelta(days=days) if days else None
            secret = create_token(
                session,
                role=role,
                leads=lead or [],
                territory_map=default_map(),
                name=name,
                expires_at=expires_at,
                now=now,
            )
            token = token_of_secret(session, secret)
            session.commit()
    except TokenError as err:
        raise _refused(str(err)) from err
    assert token is not None and token.expires_at is not None
    typer.echo(f"jeton {token.id} ({role}), valable jusqu'au {token.expires_at:%Y-%m-%d %H:%M} UTC :")
    typer.echo(secret)


@token_app.command("revoke")
def token_revoke(token_id: Annotated[str, typer.Argument(help="Identifiant du jeton (voir `token list`).")]) -> None:
    """Révoque un jeton : il est refusé partout dans les secondes qui suivent."""
    from services.core.access.tokens import revoke_token
    from services.core.clock import utc_now
    from services.core.errors import NotFound

    try:
        with _database("token revoke") as session:
            revoke_token(session, token_id, utc_now())
            session.commit()
    except NotFound as err:
        raise _refused(err.detail) from err
    typer.echo(f"jeton {token_id} révoqué")


@token_app.command("list")
def token_list() -> None:
    """Liste les jetons (jamais leur secret)."""
    from services.core.access.tokens import list_tokens

    with _database("token list") as session:
        for token in list_tokens(session):
            state = "révoqué" if token.revoked_at else f"expire {token.expires_at:%Y-%m-%d}"
            typer.echo(f"{token.id}  {token.role:<11} {','.join(token.leads) or '-':<24} {token.name or '-'}  {state}")


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Option(help="Identifiant de connexion.")],
    role: Annotated[str, typer.Option(help="outreach, coordinator, analyst ou admin.")],
    lead: Annotated[list[str] | None, typer.Option(help="Pilote(s) couverts (eps:paris-13, cavs:sud, mus).")] = None,
    password: Annotated[
        str,
        typer.Option(
            prompt="Mot de passe",
            hide_input=True,
            confirmation_prompt=True,
            envvar="URGENCE_NEW_PASSWORD",
            help="Mot de passe (demandé s'il n'est pas donné).",
        ),
    ] = "",
) -> None:
    """Crée une personne qui se connecte aux pages (mot de passe demandé, haché avec argon2)."""
    from services.core.access.users import UserError, create_user
    from services.core.clock import utc_now
    from services.core.territory import default_map

    try:
        with _database("user create") as session:
            user = create_user(
                session,
                username=username,
                password=password,
                role=role,
                leads=lead or [],
                territory_map=default_map(),
                now=utc_now(),
            )
            session.commit()
    except UserError as err:
        raise _refused(str(err)) from err
    typer.echo(f"utilisateur {user.username} créé ({user.role})")


@fiches_app.command("check")
def fiches_check(
    directory: Annotated[str | None, typer.Argument(help="Dossier des fiches (par défaut URGENCE_FICHES_DIR).")] = None,
) -> None:
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
            raise _refused(str(err)) from err
        typer.echo(
            f"démonstration retirée : {gone.signals} signalements, {gone.situations} situations, {gone.events} "
            f"événements, {gone.deliveries} alertes, {gone.outbox} lignes d'outbox ; {gone.days_recomputed} "
            f"journées de statistiques recalculées, {gone.days_cleared} effacées"
        )
        return
    if semester is None or signals is None:
        raise _refused("--semester et --signals sont requis (ou --purge)")

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from sqlalchemy import Engine

    from services.core.errors import InvalidInput
    from services.core.procedures import fiches_in_force
    from services.core.stats.semesters import Semester
    from services.core.territory import default_map
    from services.demo.semester import DemoError, run

    try:
        which = Semester.parse(semester)
    except InvalidInput as err:
        raise _refused(err.detail) from err
    territory_map = default_map()  # loaded once, before the workers start
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with database_session() as session, Progress(*columns) as progress:
            engine = session.get_bind()
            assert isinstance(engine, Engine)
            fiches = fiches_in_force(session)  # the book in force: the whole run makes its decisions with it
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
        raise _refused(str(err)) from err
    except DemoError as err:
        raise _refused(str(err), 1) from err
    typer.echo(
        f"{result.signals} signalements, {result.situations} situations, {result.actions} actions, "
        f"{result.escalations} escalades ; {result.days_rolled} journées agrégées pour les statistiques "
        "(données marquées « démonstration » : `urgence demo --purge` les retire)"
    )


deadletters_app = typer.Typer(no_args_is_help=True, help="Lettres mortes : le travail abandonné après ses essais.")
app.add_typer(deadletters_app, name="deadletters")


@deadletters_app.command("list")
def deadletters_list(
    waiting: Annotated[bool, typer.Option("--waiting", help="Seulement celles qui n'ont pas été rejouées.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=500, help="Nombre de lettres, les plus récentes d'abord.")] = 50,
) -> None:
    """Liste les lettres mortes (identifiants et codes, jamais de données personnelles)."""
    from services.core.deadletters import list_dead_letters
    from services.core.timefmt import rfc3339
    from services.launcher.embedded import database_session

    with database_session() as session:
        page = list_dead_letters(session, limit=limit, replayed=False if waiting else None)
        if not page.items:
            typer.echo("aucune lettre morte")
        for letter in page.items:
            state = "en attente"
            if letter.replayed_at is not None:
                state = f"rejouée le {rfc3339(letter.replayed_at)} par {letter.replayed_by}"
            item = " ".join(f"{key}={value}" for key, value in letter.payload.items()) or "(contenu effacé)"
            typer.echo(f"{letter.id}  {rfc3339(letter.created_at)}  {letter.task}  {item}  {state}")
            typer.echo(f"    erreur : {letter.error[:200]}")


def _replay_said(outcome: Outcome) -> tuple[str, bool]:
    """The line the CLI prints for one letter, and whether it was replayed."""
    letter = outcome.letter
    if letter is None:
        return f"lettre {outcome.letter_id} : {outcome.refusal}", False
    then = f" (outbox {letter.replay_outbox_id})" if letter.replay_outbox_id else " (prochain balayage)"
    return f"lettre {outcome.letter_id} rejouée : {letter.task}{then}", True


@deadletters_app.command("replay")
def deadletters_replay(
    letter_id: Annotated[int | None, typer.Argument(help="Identifiant de la lettre (voir `deadletters list`).")] = None,
    every: Annotated[bool, typer.Option("--all", help="Rejoue toutes celles qui ne l'ont pas encore été.")] = False,
) -> None:
    """Rejoue une lettre morte (ou toutes avec --all) : le travail repart par l'outbox, la lettre est gardée,
    marquée rejouée ; une lettre déjà rejouée ne l'est pas deux fois."""
    from services.core.clock import utc_now
    from services.core.deadletters import Outcome, console_principal, replay, replay_waiting
    from services.core.errors import Conflict, NotFound
    from services.launcher.embedded import database_session

    if (letter_id is None) == (not every):
        raise _refused("donnez l'identifiant d'une lettre, ou --all")
    principal = console_principal()
    with database_session() as session:
        if every:
            outcomes = replay_waiting(session, principal=principal, now=utc_now(), client="console")
        else:
            assert letter_id is not None
            try:
                one = replay(session, letter_id, principal=principal, now=utc_now(), client="console")
                outcomes = [Outcome(letter_id, one, None)]
            except (Conflict, NotFound) as err:
                outcomes = [Outcome(letter_id, None, err.detail)]
        said = [_replay_said(outcome) for outcome in outcomes]  # read before the commit expires the rows
        session.commit()
    for line, replayed_one in said:
        typer.echo(line, err=not replayed_one)
    replayed = sum(1 for _, replayed_one in said if replayed_one)
    failed = len(said) - replayed
    if every:
        typer.echo(f"{replayed} lettre(s) rejouée(s), {failed} refusée(s)")
    if failed:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
