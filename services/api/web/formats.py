"""How pages write statuses, instants and time left, in French (Paris time)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
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
ROLE_NAMES = {"outreach": "maraude", "coordinator": "coordination", "analyst": "analyse", "admin": "administration"}


def actor_text(actor: str) -> str:
    """`coordinator:alice` → « alice (coordination) »; `system` → « système »."""
    if actor == "system":
        return "système"
    role, _, name = actor.partition(":")
    if not name:
        return actor
    return f"{name} ({ROLE_NAMES.get(role, role)})"
