"""The closed vocabularies the fiches are written in (from the reference), and the fixed file names."""

from __future__ import annotations

from services.core.facts import AGE_BANDS, FLAGS, GENDERS

# Partners alerted by a fiche or a modifier (reference, "Partners"). `mairie` is the mairie of the sector:
# decisions carry the unqualified code, the caller qualifies it with the sector when it notifies.
PARTNERS: tuple[str, ...] = (
    "siao-115",
    "crip-75",
    "amna",
    "empp",
    "emsp",
    "mission-interface",
    "pmi",
    "uasa",
    "caarud",
    "psa",
    "mairie",
    "morts-de-la-rue",
    "police",
    "samu",
    "accueil-animaux",
)
# What the reporter must do right now (reference, "Directives").
DIRECTIVES: tuple[str, ...] = ("call_15", "call_17", "call_119", "call_115")
# Who owns a situation; `resolve_lead` turns a kind into a queue id on the territory.
LEAD_KINDS: tuple[str, ...] = ("eps", "cavs", "mus")
# Counts a condition may test; `people` is the total (adults + children + unaccompanied minors).
COUNT_FIELDS: tuple[str, ...] = ("adults", "children", "unaccompanied_minors", "people")
# Weather plans and their highest level (reference: grand froid 1–3, canicule 1–4).
WEATHER_LEVELS: dict[str, int] = {"grand_froid": 3, "canicule": 4}

# FR00 applies exactly when no other fiche does: it has no rule and is not in the precedence list.
FALLBACK_CODE = "FR00"
PRECEDENCE_FILE = "precedence.yaml"
MODIFIERS_FILE = "modifiers.yaml"
# Files of the directory that are not fiches.
NOT_FICHES: frozenset[str] = frozenset({PRECEDENCE_FILE, MODIFIERS_FILE})

# What people read for each code (outreach forms, situation pages): plain French, from the reference's wording.
FLAG_LABELS: dict[str, str] = {
    "vital_emergency": "Urgence vitale (personne inconsciente, qui ne respire pas bien, blessée gravement)",
    "deceased": "Personne décédée",
    "immediate_danger": "Danger immédiat (agression en cours, personne menacée)",
    "violence": "Victime de violences",
    "pregnant": "Femme enceinte",
    "recent_birth": "Nouveau-né ou accouchement récent",
    "child_in_danger": "Enfant en danger",
    "psychiatric_distress": "Détresse psychique",
    "suicide_risk": "Risque suicidaire",
    "disability": "Handicap",
    "loss_of_autonomy": "Perte d'autonomie",
    "care_leaver": "Jeune sorti de l'Aide sociale à l'enfance (ASE)",
    "hospital_exit": "Sortie d'hôpital sans solution",
    "prison_exit": "Sortie de détention sans solution",
    "drug_use": "Usage de drogues",
    "animals": "Présence d'animaux",
    "camp": "Campement ou installation collective",
    "cold_exposure": "Exposé au froid",
    "heat_exposure": "Exposé à la chaleur",
}
GENDER_LABELS: dict[str, str] = {"female": "Femme", "male": "Homme", "other": "Autre", "unknown": "Non connu"}
AGE_BAND_LABELS: dict[str, str] = {
    "18-25": "18 à 25 ans",
    "26-59": "26 à 59 ans",
    "60+": "60 ans et plus",
    "unknown": "Âge non connu",
}

__all__ = [
    "AGE_BANDS",
    "AGE_BAND_LABELS",
    "COUNT_FIELDS",
    "DIRECTIVES",
    "FALLBACK_CODE",
    "FLAGS",
    "FLAG_LABELS",
    "GENDERS",
    "GENDER_LABELS",
    "LEAD_KINDS",
    "MODIFIERS_FILE",
    "NOT_FICHES",
    "PARTNERS",
    "PRECEDENCE_FILE",
    "WEATHER_LEVELS",
]
