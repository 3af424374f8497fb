"""How pages write what they show, in French: places and leads, instants (Paris time), durations, counts and
shares, and the labels of the domain's codes."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.core.leads import Lead
from services.core.outbox import DELIVER_ALERT, ROUTE_SIGNAL, ROUTE_SIGNALS, SCAN_DEADLINES

PARIS = ZoneInfo("Europe/Paris")
NARROW_SPACE = "\u202f"  # between thousands and before %, as French typography has it
CONTACT_LABELS = {"met": "Rencontrée", "not_found": "Non trouvée", "refused": "Refus"}
OUTCOME_LABELS = {
    "sheltered": "Mise à l'abri, hébergement",
    "hospitalized": "Hospitalisation",
    "oriented": "Orientation (droit commun, accueil de jour…)",
    "refused": "Refus de la personne",
    "not_found": "Personne non retrouvée",
    "already_supported": "Déjà suivie",
    "deceased": "Décès",
    "left_area": "Partie du secteur",
    "other": "Autre (préciser dans la note)",
}
SOURCE_LABELS = {
    "maraude": "Maraude",
    "mairie": "Mairie",
    "riverain": "Riverain",
    "partenaire": "Partenaire",
    "police": "Police",
    "transport": "Transports",
    "sante": "Santé",
    "numero_115": "115",
    "autre": "Autre",
}


def paris_time(instant: datetime | str | None) -> str:
    """« 14/01 22:40 » (Paris time); the year only when it is not this one."""
    if instant is None:
        return "—"
    if isinstance(instant, str):
        instant = datetime.fromisoformat(instant.replace("Z", "+00:00"))
    local = instant.astimezone(PARIS)
    if local.year != datetime.now(PARIS).year:
        return local.strftime("%d/%m/%Y %H:%M")
    return local.strftime("%d/%m %H:%M")


def duration_text(seconds: float) -> str:
    """« 2 h 05 », « 12 min », « 3 j 4 h »."""
    minutes = int(abs(seconds) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} j {hours} h" if hours else f"{days} j"
    if hours:
        return f"{hours} h {minutes:02d}"
    return f"{minutes} min"


def minutes_text(minutes: float | None) -> str:
    """A duration given in minutes (the statistics'), rounded to the minute; « — » when there is none."""
    return "—" if minutes is None else duration_text(round(minutes) * 60)


def count_text(value: Any) -> str:
    """« 12 345 »; a hidden figure (a string, `secret`) as it is; « — » when there is none."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return f"{value:,}".replace(",", NARROW_SPACE)


def share_text(value: float | None) -> str:
    """0.875 → « 87,5 % »."""
    return "—" if value is None else f"{value * 100:.1f}".replace(".", ",") + f"{NARROW_SPACE}%"


def time_left(deadline: datetime | str | None, now: datetime) -> tuple[str, bool]:
    """(text, overdue): « reste 2 h 05 » or « en retard de 12 min » — overdue in words, not colour alone."""
    if deadline is None:
        return "aucune échéance", False
    if isinstance(deadline, str):
        deadline = datetime.fromisoformat(deadline.replace("Z", "+00:00"))
    seconds = (deadline - now).total_seconds()
    if seconds < 0:
        return f"en retard de {duration_text(seconds)}", True
    return f"reste {duration_text(seconds)}", False


FLAG_LABELS = {
    "vital_emergency": "Urgence vitale",
    "deceased": "Personne décédée",
    "immediate_danger": "Danger immédiat",
    "violence": "Violences",
    "pregnant": "Femme enceinte",
    "recent_birth": "Naissance récente",
    "child_in_danger": "Enfant en danger",
    "psychiatric_distress": "Détresse psychique",
    "suicide_risk": "Risque suicidaire",
    "disability": "Handicap",
    "loss_of_autonomy": "Perte d'autonomie",
    "care_leaver": "Sortie de l'aide sociale à l'enfance",
    "hospital_exit": "Sortie d'hôpital",
    "prison_exit": "Sortie de prison",
    "drug_use": "Consommation de drogues",
    "animals": "Avec des animaux",
    "camp": "Campement",
    "cold_exposure": "Exposition au froid",
    "heat_exposure": "Exposition à la chaleur",
}
EVENT_LABELS = {
    "opened": "Situation ouverte",
    "signal_joined": "Nouveau signalement rattaché",
    "acknowledged": "Prise en compte",
    "contact_logged": "Contact noté",
    "contact_overdue": "Délai de premier contact dépassé",
    "escalated": "Escalade vers la MUS",
    "requalified": "Requalification",
    "resolved": "Situation close",
    "reopened": "Situation rouverte",
    "merged": "Fusionnée dans une autre situation",
    "merged_in": "Une autre situation y a été fusionnée",
    "checklist_ticked": "Liste des actions",
}
ESCALATION_REASONS = {
    "manual": "à la main",
    "ack_overdue": "prise en compte en retard",
    "resolve_overdue": "résolution en retard",
    "repeated_signals": "signalements répétés",
}
DELIVERY_LABELS = {"pending": "en attente d'envoi", "delivered": "remise", "failed": "échec d'envoi"}
ROLE_LABELS = {"outreach": "maraude", "coordinator": "coordination", "analyst": "analyse", "admin": "administration"}


def actor_text(actor: str) -> str:
    """`coordinator:alice` → « alice (coordination) »; `system` → « système »."""
    if actor == "system":
        return "système"
    role, _, name = actor.partition(":")
    if not name:
        return actor
    return f"{name} ({ROLE_LABELS.get(role, role)})"


# The work a dead letter holds, by task name (`services/core/outbox.py`), and the item it names, by payload key.
TASK_LABELS = {
    ROUTE_SIGNAL: "Routage d'un signalement",
    ROUTE_SIGNALS: "Routage d'un paquet de signalements",
    DELIVER_ALERT: "Envoi d'une alerte",
    SCAN_DEADLINES: "Balayage des échéances",
}
ITEM_LABELS = {"signal_id": "signalement", "delivery_id": "alerte", "situation_id": "situation"}
WEATHER_LABELS = {"grand_froid": "Grand froid", "canicule": "Canicule"}
# A publication of the fiches by its kind, and what a draft's impact counts as changed.
PUBLICATION_LABELS = {"seed": "graine (fiches_reflexes/)", "publish": "publication", "rollback": "retour arrière"}
IMPACT_LABELS = {
    "primary_fiche": "Fiche principale",
    "lead": "Pilote",
    "directives": "Consignes",
    "deadlines": "Délais",
}


def sector_label(sector: str | None) -> str:
    if sector is None:
        return "—"
    if sector == "paris-centre":
        return "Paris Centre"
    number = int(sector.removeprefix("paris-"))
    return f"Paris {number}{'er' if number == 1 else 'e'}"


def lead_label(lead: str | None) -> str:
    """`eps:paris-13` → « EPS Paris 13e », `cavs:sud` → « CAVS Sud », `mus` → « MUS »."""
    if lead is None:
        return "—"
    parsed = Lead.parse(lead)
    if parsed.is_mus:
        return "MUS"
    if parsed.kind == "eps":
        return f"EPS {sector_label(parsed.where)}"
    return f"{parsed.kind.upper()} {parsed.where.replace('-', ' ').capitalize()}"


def people_words(people: dict[str, Any]) -> str:
    parts = []
    for name, singular, plural in (
        ("adults", "adulte", "adultes"),
        ("children", "enfant", "enfants"),
        ("unaccompanied_minors", "mineur non accompagné", "mineurs non accompagnés"),
    ):
        count = int(people.get(name) or 0)
        if count:
            parts.append(f"{count} {singular if count == 1 else plural}")
    return ", ".join(parts) or "personne comptée"
