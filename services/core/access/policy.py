"""Who may see what: the one place where scope rules live (the routes only call these)."""

from __future__ import annotations

from services.core.access.principal import LEAD_MUS, Principal
from services.core.models import Signal, Situation


def can_read_queue(principal: Principal, lead: str) -> bool:
    if principal.role == "admin" or principal.is_mus:
        return True
    return principal.role == "coordinator" and lead in principal.leads


def can_see_situation(principal: Principal, situation: Situation) -> bool:
    if principal.role == "admin" or principal.is_mus:
        return True
    return principal.role == "coordinator" and situation.lead in principal.leads


def can_act_on_situation(principal: Principal, situation: Situation) -> bool:
    return principal.role == "coordinator" and (principal.is_mus or situation.lead in principal.leads)


def can_see_signal(principal: Principal, signal: Signal, situation: Situation | None) -> bool:
    if principal.role == "admin" or signal.submitted_by == principal.token_id:
        return True
    return situation is not None and principal.role == "coordinator" and can_see_situation(principal, situation)


__all__ = ["LEAD_MUS", "can_act_on_situation", "can_read_queue", "can_see_signal", "can_see_situation"]
