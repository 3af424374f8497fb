"""All tables, imported here so that `SQLModel.metadata` (and Alembic) sees every one."""

from services.core.models.access import ApiToken
from services.core.models.outbox import DeadLetter, OutboxMessage
from services.core.models.signals import IdempotencyKey, Signal
from services.core.models.situations import OPEN_STATUSES, Event, Situation, WeatherPlanState

__all__ = [
    "OPEN_STATUSES",
    "ApiToken",
    "DeadLetter",
    "Event",
    "IdempotencyKey",
    "OutboxMessage",
    "Signal",
    "Situation",
    "WeatherPlanState",
]
