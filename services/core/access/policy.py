"""Who may see what: the one place where scope rules live (the routes only call these)."""

from __future__ import annotations

from collections.abc import Mapping

from services.core.access.principal import Principal, validate_lead
from services.core.errors import Forbidden, NotFound
from services.core.leads import Lead
from services.core.models import Signal, Situation
from services.core.territory import TerritoryMap

OUT_OF_TERRITORY = "out_of_territory"


def can_read_queue(principal: Principal, lead: str) -> bool:
    if principal.role == "admin" or principal.is_mus:
        return True
    return principal.role == "coordinator" and lead in principal.leads


def readable_queue(principal: Principal, lead: str, territory_map: TerritoryMap) -> str:
    """The queue `lead` if the caller may read it: NotFound when no such queue, Forbidden when not one of its."""
    if validate_lead(lead, territory_map) is not None:
        raise NotFound(f"file inconnue : {lead}")
    if not can_read_queue(principal, lead):
        raise Forbidden(f"la file {lead} n'est pas la vôtre")
    return lead


def oversees(principal: Principal) -> bool:
    """The MUS and admins see every situation and every signal out of territory (lists without personal data)."""
    return principal.role == "admin" or principal.is_mus


def check_oversight(principal: Principal) -> None:
    """Searching every situation, listing the signals out of territory: the MUS and admins."""
    if not oversees(principal):
        raise Forbidden("réservé à la Mission Urgence Sociale et aux administrateurs")


def check_weather_plan_setter(principal: Principal) -> None:
    """The weather plan changes routing for all Paris: the MUS and admins set or lift it."""
    if not oversees(principal):
        raise Forbidden("seuls la Mission Urgence Sociale et les administrateurs fixent le plan météo")


def can_see_situation(principal: Principal, situation: Situation) -> bool:
    if oversees(principal):
        return True
    return principal.role == "coordinator" and situation.lead in principal.leads


def can_act_on_situation(principal: Principal, situation: Situation) -> bool:
    return principal.role == "coordinator" and (principal.is_mus or situation.lead in principal.leads)


def visible_situation(principal: Principal, situation: Situation | None) -> Situation:
    """The situation if the caller may see it: NotFound when there is none, Forbidden when out of its scope."""
    if situation is None:
        raise NotFound("situation introuvable")
    if not can_see_situation(principal, situation):
        raise Forbidden("cette situation n'est pas dans vos pilotes")
    return situation


def actionable_situation(principal: Principal, situation: Situation | None) -> Situation:
    """The situation if the caller may act on it (its lead's coordinators and the MUS)."""
    situation = visible_situation(principal, situation)
    if not can_act_on_situation(principal, situation):
        raise Forbidden("vous pouvez consulter cette situation mais pas agir dessus (pilote ou MUS seulement)")
    return situation


def can_see_signal(principal: Principal, signal: Signal, situation: Situation | None) -> bool:
    if principal.role == "admin" or signal.submitted_by == principal.id:
        return True
    if _mus_decides(principal, signal):
        return True
    return situation is not None and principal.role == "coordinator" and can_see_situation(principal, situation)


def _mus_decides(principal: Principal, signal: Signal) -> bool:
    """A signal located outside Paris has no lead and no situation: the MUS decides what becomes of it."""
    return principal.is_mus and signal.status == OUT_OF_TERRITORY


def check_signal_assigner(principal: Principal) -> None:
    """Placing a misplaced signal in an arrondissement is an act on a case: the MUS's (admins see but never act)."""
    if not principal.is_mus:
        raise Forbidden("seule la Mission Urgence Sociale attribue un signalement hors territoire")


def may_read_signal_personal_data(principal: Principal, signal: Signal, situation: Situation | None) -> bool:
    """The rule of `may_read_personal_data` for one signal, and the MUS for one out of territory (it must know
    where it was reported to place it)."""
    return _mus_decides(principal, signal) or may_read_personal_data(
        principal, situation, submitted_by=signal.submitted_by
    )


def statistics_sectors(principal: Principal, zones: Mapping[str, str]) -> frozenset[str] | None:
    """The sectors whose statistics the caller may read: None for any sector and all Paris (analysts, admins,
    the MUS), else the sectors of its `eps:<sector>` and `cavs:<zone>` leads (`zones`: sector → CAVS zone),
    which it may only read one at a time (`?sector=`)."""
    if principal.role in ("analyst", "admin") or principal.is_mus:
        return None
    if principal.role != "coordinator":
        return frozenset()
    sectors: set[str] = set()
    for lead in principal.leads:
        parsed = Lead.parse(lead)
        if parsed.kind == "eps":
            sectors.add(parsed.where)
        elif parsed.kind == "cavs":
            sectors.update(sector for sector, zone in zones.items() if zone == parsed.where)
    return frozenset(sectors)


def can_read_statistics(principal: Principal, sector: str | None, zones: Mapping[str, str]) -> bool:
    """All Paris (`sector` None) or one sector, by the rule of `statistics_sectors`."""
    allowed = statistics_sectors(principal, zones)
    if allowed is None:
        return True
    return sector is not None and sector in allowed


def statistics_variant(principal: Principal, sector: str | None, variant: str | None, zones: Mapping[str, str]) -> str:
    """Forbidden when the caller may not read the figures of `sector` (None: all Paris) in `variant`; else the
    variant to use (its default when none is asked for)."""
    if not can_read_statistics(principal, sector, zones):
        if sector is None:
            raise Forbidden("précisez ?sector= : vous ne pouvez lire que les secteurs de vos pilotes")
        raise Forbidden(f"le secteur {sector} n'est pas dans vos pilotes")
    allowed = statistics_variants(principal)
    if variant is None:
        return allowed[0]
    if variant not in allowed:
        raise Forbidden("les chiffres exacts (internal) sont réservés à la MUS et aux administrateurs")
    return variant


def statistics_variants(principal: Principal) -> tuple[str, ...]:
    """The variants of the figures the caller may read, its default first. Exact counts (`internal`) are for the
    MUS and admins, who may see every situation anyway; everyone else (analysts, sector coordinators, who do not
    see all the situations of a sector: the MUS leads some of them) gets small counts hidden (`published`)."""
    if principal.role == "admin" or principal.is_mus:
        return ("internal", "published")
    return ("published",)


def may_read_personal_data(principal: Principal, situation: Situation | None, *, submitted_by: str | None) -> bool:
    """Free text and precise places: the reporter, the leads concerned and the MUS; never admins or analysts."""
    if principal.id == submitted_by and principal.role in ("outreach", "coordinator"):
        return True
    if principal.role != "coordinator" or situation is None:
        return False
    return principal.is_mus or situation.lead in principal.leads


def check_fiches_editor(principal: Principal) -> None:
    """The fiches réflexes (read the versions, draft, publish, roll back): admins and the MUS, who write the
    boîte à outils with the SIAO."""
    if not oversees(principal):
        raise Forbidden("seuls la Mission Urgence Sociale et les administrateurs gèrent les fiches réflexes")


def may_see_impact_examples(principal: Principal) -> bool:
    """Which signals a draft would change: for readers of personal data (the MUS reads every situation's)."""
    return principal.is_mus
