"""All tables, imported here so that `SQLModel.metadata` (and Alembic) sees every one."""

from services.core.models.access import ApiToken, AuditEntry, User, WebSession
from services.core.models.alerts import Delivery, Structure
from services.core.models.fiches import FicheDraft, FichePublication
from services.core.models.outbox import DeadLetter, OutboxMessage
from services.core.models.signals import IdempotencyKey, Signal
from services.core.models.situations import Event, Situation, WeatherPlanState
from services.core.models.stats import DailyRollup, MonthlyRollup, TodayRollup

__all__ = [
    "ApiToken",
    "AuditEntry",
    "DailyRollup",
    "DeadLetter",
    "Delivery",
    "Event",
    "FicheDraft",
    "FichePublication",
    "IdempotencyKey",
    "MonthlyRollup",
    "OutboxMessage",
    "Signal",
    "Situation",
    "Structure",
    "TodayRollup",
    "User",
    "WeatherPlanState",
    "WebSession",
]
