"""Replaying the published book over stored signals (what the impact of a draft does) gives back the decisions
the worker's path stored, whatever the facts, places and weather plans: the replay is a faithful baseline."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from services.core.clock import utc_now
from services.core.db import session_scope
from services.core.decisions import DecisionContext
from services.core.facts import AGE_BANDS, FLAGS, GENDERS, People, people_to_json
from services.core.fiches.impact import replay, stored_signals, weather_history
from services.core.fiches.versions import create_draft, in_force_publication, publish_draft
from services.core.models import Signal
from services.core.procedures import fiches_in_force
from services.core.situations.orientation import orient_signal
from services.core.territory import default_map
from services.core.weather import clear_plan, set_plan

MAP = default_map()


@st.composite
def people(draw: st.DrawFn) -> People:
    adults = draw(st.integers(0, 4))
    genders = draw(st.none() | st.lists(st.sampled_from(GENDERS), max_size=adults).map(tuple))
    bands = draw(st.none() | st.lists(st.sampled_from(AGE_BANDS), max_size=adults).map(tuple))
    return People(adults, draw(st.integers(0, 3)), draw(st.integers(0, 2)), genders, bands)


plan_st = st.none() | st.just("lift") | st.tuples(st.just("grand_froid"), st.integers(1, 3))
place_st = st.integers(1, 20) | st.just("93200")  # an arrondissement, or a postcode outside Paris
signal_st = st.tuples(people(), st.frozensets(st.sampled_from(FLAGS), max_size=4), place_st, plan_st)


def without_notes(decision: dict[str, Any]) -> dict[str, Any]:
    """What routing decides from the facts, the place's sector and the plan (notes record how it was located)."""
    return {key: value for key, value in decision.items() if key != "notes"}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(signals=st.lists(signal_st, min_size=1, max_size=6))
def test_replaying_the_published_book_gives_back_the_stored_decisions(signals: list[Any]) -> None:
    start = utc_now() - timedelta(days=3)
    with session_scope() as session:  # never committed: each example starts from the same database
        # A published book that is not the seed: FR11 (climate exposure) asks for the 115 from level 1 on.
        seed = in_force_publication(session, start)
        fr11 = copy.deepcopy(seed.documents["FR11.yaml"])
        fr11["version"] = "2026-12-02.1"
        fr11["deadlines"]["ack"] = "PT30M"
        draft = create_draft(session, fr11, actor="test", now=start)
        publish_draft(session, draft.id, actor="test", now=start, reason="propriété")
        for i, (who, flags, place, plan) in enumerate(signals):
            at = start + timedelta(minutes=10 * (i + 1))
            if plan == "lift":
                clear_plan(session, actor="test", now=at - timedelta(seconds=1))
            elif plan is not None:
                set_plan(session, kind=plan[0], level=plan[1], actor="test", now=at - timedelta(seconds=1))
            signal = Signal(
                received_at=at,
                observed_at=at,
                source="maraude",
                people=people_to_json(who),
                flags=sorted(flags),
                postcode=place if isinstance(place, str) else None,
                given_arrondissement=place if isinstance(place, int) else None,
            )
            session.add(signal)
            session.flush()
            orient_signal(session, signal.id, context=DecisionContext(at, fiches_in_force(session), MAP))
        stored = {s.id: s.decision for s in session.exec(select(Signal))}
        replayed = replay(
            stored_signals(session, start, utc_now()),
            fiches_in_force(session),
            MAP,
            weather_history(session, utc_now()),
        )
        decisions = {signal.id: decision.to_json() for signal, decision in replayed}
        assert len(decisions) == len(signals)
        for signal_id, decision in decisions.items():
            expected = stored[signal_id]
            assert expected is not None
            assert without_notes(decision) == without_notes(expected)
        session.rollback()
