"""Open situations near another one: what a coordinator may want to merge it with."""

from __future__ import annotations

from sqlalchemy import and_, or_
from sqlalchemy.orm import load_only
from sqlmodel import Session, col, select

from services.core.models import Situation
from services.core.situations.joining import distance_metres, search_box
from services.core.situations.status import OPEN_STATUSES

NEARBY_METRES = 1_000.0
MAX_CANDIDATES = 10
# What a proposal shows and the policy checks: the decision and facts (large JSON) of thirty rows are left unread.
_SHOWN_FIELDS = ("id", "status", "lead", "sector", "primary_fiche", "signal_count", "opened_at", "updated_at")
_SHOWN = tuple(getattr(Situation, name) for name in (*_SHOWN_FIELDS, "last_lat", "last_lon", "escalation_level"))


def merge_candidates(session: Session, situation: Situation, *, limit: int = MAX_CANDIDATES) -> list[Situation]:
    """Open situations within `NEARBY_METRES` (or of the same sector when either has no coordinates), nearest
    first, then the most recently updated."""
    place = col(Situation.sector) == situation.sector
    lat, lon = situation.last_lat, situation.last_lon
    if lat is not None and lon is not None:
        lat_min, lat_max, lon_min, lon_max = search_box(lat, lon, NEARBY_METRES)
        near = and_(
            col(Situation.last_lat).between(lat_min, lat_max), col(Situation.last_lon).between(lon_min, lon_max)
        )
        place = or_(near, and_(place, col(Situation.last_lat).is_(None)))
    rows = session.exec(
        select(Situation)
        .options(load_only(*_SHOWN, raiseload=False))
        .where(col(Situation.status).in_(OPEN_STATUSES), col(Situation.id) != situation.id, place)
        .order_by(col(Situation.updated_at).desc())
        .limit(limit * 3)
    ).all()

    def distance(other: Situation) -> float:
        if lat is None or lon is None or other.last_lat is None or other.last_lon is None:
            return NEARBY_METRES
        return distance_metres(lat, lon, other.last_lat, other.last_lon)

    return sorted((r for r in rows if distance(r) <= NEARBY_METRES), key=distance)[:limit]
