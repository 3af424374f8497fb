"""The live queue: `GET /file/{lead}/flux`, server-sent events fed by PostgreSQL LISTEN/NOTIFY.

One listening connection per API process (the `Hub`) receives the ids of the situations that changed (the core
announces each change in its own transaction, so a notification means a commit). It reads those situations once
per batch, renders each one's queue row once, and hands the change to every open stream concerned, whatever
replica made the change. Streams are asyncio queues: no thread and no database connection per open page.

Each message's id is the situation's last event id: a browser that reconnects sends it back (`Last-Event-ID`)
and gets every situation changed since then, so a network cut loses nothing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
import threading
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import cached_property
from types import FrameType
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from services.api.deps import TerritoryDep
from services.api.web.auth import PageRoute, require_page_roles
from services.api.web.formats import time_left
from services.api.web.render import ENVIRONMENT
from services.core.access import Principal
from services.core.access.policy import can_see_situation, readable_queue
from services.core.clock import utc_now
from services.core.db import session_scope
from services.core.fiches import FicheBook
from services.core.leads import LEAD_MUS
from services.core.models import Situation
from services.core.paging import MAX_PAGE
from services.core.procedures import fiches_in_force
from services.core.settings import get_settings
from services.core.situations.live import CHANNEL, changed_since, read_changed
from services.core.situations.status import OPEN_STATUSES, status_label
from services.core.situations.views import QueueRow, SituationFilter, queue_item, queue_page

log = logging.getLogger(__name__)
router = APIRouter(route_class=PageRoute, include_in_schema=False)
Coordination = Annotated[Principal, Depends(require_page_roles("coordinator", "admin"))]
HEARTBEAT_SECONDS = 15.0
HEARTBEAT = ": toujours là\n\n"
BATCH_SECONDS = 0.05  # notifications arriving this close together are read in one query
RECONNECT_SECONDS = 1.0
STREAM_BUFFER = 2_000  # a page this far behind is told to reload instead of holding memory
RETRY_MILLISECONDS = 2_000
KNOWN_AT_START = 1_000


@dataclass(frozen=True)
class Change:
    situation: Situation
    event_id: int
    html: str  # the queue row, rendered once for every stream
    item: dict[str, Any]

    def in_queue(self, lead: str) -> bool:
        s = self.situation
        return s.status in OPEN_STATUSES and (s.lead == lead or (lead == LEAD_MUS and s.escalation_level > 0))

    # What a page hears, written once per change rather than once per open stream (hundreds of them).
    @cached_property
    def shown(self) -> str:
        data = {"id": self.situation.id, "in_queue": True, "event_id": self.event_id, "html": self.html}
        data.update(_row_keys(self.item))
        return _message("situation", data, self.event_id)

    @cached_property
    def dropped(self) -> str:
        data = {"id": self.situation.id, "in_queue": False, "event_id": self.event_id}
        return _message("situation", data, self.event_id)


def describe(situation: Situation, event_id: int, fiches: FicheBook) -> Change:
    now = utc_now()
    item = queue_item(QueueRow.of(situation), now)
    code = situation.primary_fiche
    item["fiche_label"] = fiches.label(code) if code in fiches else code  # as the page's own rows
    item["status_label"] = status_label(situation.status)
    item["time_left"], item["overdue"] = time_left(item["next_deadline"], now)
    html = ENVIRONMENT.get_template("queue_row.html").render(item=item)
    return Change(situation, event_id, html, item)


def _message(kind: str, data: dict[str, Any], event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@dataclass(eq=False)
class Stream:
    principal: Principal
    lead: str
    known: set[str] = field(default_factory=set)  # ids the page shows (or may show)
    queue: asyncio.Queue[str | None] = field(default_factory=lambda: asyncio.Queue(STREAM_BUFFER))

    def offer(self, change: Change) -> None:
        """Queue what this page must hear of `change`, if anything: a row to show or a row to take away."""
        sid = change.situation.id
        inside = change.in_queue(self.lead)
        if not inside and sid not in self.known:
            return
        if inside and can_see_situation(self.principal, change.situation):
            self.known.add(sid)
            self._put(change.shown)
        else:  # left this queue (closed, merged, moved to another lead): the page only learns to drop it
            self.known.discard(sid)
            self._put(change.dropped)

    def _put(self, text: str | None) -> None:
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            with contextlib.suppress(asyncio.QueueEmpty):
                while True:
                    self.queue.get_nowait()
            self.queue.put_nowait(_message("reload", {}))


def _row_keys(item: dict[str, Any]) -> dict[str, Any]:
    return {key: item[key] for key in ("status", "primary_fiche", "sector", "next_deadline", "escalation_level")}


class Hub:
    """This process's one LISTEN connection and the streams it feeds."""

    def __init__(self) -> None:
        self.streams: set[Stream] = set()
        self._task: asyncio.Task[None] | None = None
        self._pending: set[str] = set()
        self._wake = asyncio.Event()
        self.last_event_id = 0
        self.listening = asyncio.Event()
        self.closing = False

    def subscribe(self, stream: Stream) -> None:
        self.streams.add(stream)
        if self.closing:
            stream.queue.put_nowait(None)
        if self._task is None or self._task.done():
            loop = asyncio.get_running_loop()
            self._task = loop.create_task(self._run(), name="urgence-live-listener")
            _end_streams_on_stop(self, loop)

    def close_all(self) -> None:
        """The server is stopping: end every stream now (browsers reconnect elsewhere and resume), or the
        server would wait for pages that never finish."""
        self.closing = True
        for stream in list(self.streams):
            stream._put(None)

    def unsubscribe(self, stream: Stream) -> None:
        self.streams.discard(stream)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        dispatcher, beating = loop.create_task(self._dispatch()), loop.create_task(self._beat())
        try:
            while True:
                try:
                    await self._listen()
                except (psycopg.Error, OSError) as err:
                    log.warning("écoute des changements interrompue (%s) : reconnexion", err)
                    self.listening.clear()
                    await asyncio.sleep(RECONNECT_SECONDS)
        finally:
            dispatcher.cancel()
            beating.cancel()

    async def _beat(self) -> None:
        """One timer for every stream (not a timeout per stream and per message): keeps proxies from closing an
        idle stream."""
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            for stream in list(self.streams):
                stream._put(HEARTBEAT)

    async def _listen(self) -> None:
        url = get_settings().require_database_url().replace("postgresql+psycopg://", "postgresql://", 1)
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
            await connection.execute(f"LISTEN {CHANNEL}")
            if self.last_event_id:
                await self._catch_up()  # what committed while this connection was down
            self.listening.set()
            async for notification in connection.notifies():
                self._pending.add(notification.payload)
                self._wake.set()

    async def _catch_up(self) -> None:
        since = self.last_event_id
        rows = await run_in_threadpool(_read_since, since)
        for change in rows or []:
            self._fan_out(change)

    async def _dispatch(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(BATCH_SECONDS)
            self._wake.clear()
            ids, self._pending = self._pending, set()
            try:
                changes = await run_in_threadpool(_read, ids)
            except Exception:  # the database is out: the listener reconnects and catches up
                log.exception("lecture des situations modifiées impossible")
                continue
            for change in changes:
                self._fan_out(change)

    def _fan_out(self, change: Change) -> None:
        self.last_event_id = max(self.last_event_id, change.event_id)
        for stream in list(self.streams):
            stream.offer(change)


def _end_streams_on_stop(center: Hub, loop: asyncio.AbstractEventLoop) -> None:
    """Chain a handler before the server's own for SIGINT and SIGTERM (uvicorn waits for open answers to finish
    before it stops). Only the main thread may: a server run in a thread (tests) is stopped otherwise."""
    if threading.current_thread() is not threading.main_thread():
        return
    for number in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(number)
        if not callable(previous):  # no server handler to chain to: leave the signal's own behaviour
            continue

        def handler(signum: int, frame: FrameType | None, previous: Any = previous) -> None:
            loop.call_soon_threadsafe(center.close_all)
            previous(signum, frame)

        signal.signal(number, handler)


def _read(ids: set[str]) -> list[Change]:
    with session_scope() as session:
        fiches = fiches_in_force(session)
        return [describe(situation, last, fiches) for situation, last in read_changed(session, ids)]


def _read_since(event_id: int) -> list[Change] | None:
    with session_scope() as session:
        rows = changed_since(session, event_id)
        fiches = fiches_in_force(session)
        return None if rows is None else [describe(situation, last, fiches) for situation, last in rows]


def _known_ids(lead: str) -> set[str]:
    """The ids of the queue as it is now (the page shows them): their departures are news for the page."""
    with session_scope() as session:
        where = SituationFilter(lead=lead, include_escalated=lead == LEAD_MUS)
        page = queue_page(session, where, limit=MAX_PAGE)
        # Interned: every stream of a lead holds the same strings, not a copy each (500 streams, 1 000 ids).
        known = {sys.intern(row.id) for row in page.rows}
        while page.next_cursor and len(known) < KNOWN_AT_START:
            page = queue_page(session, where, limit=MAX_PAGE, cursor=page.next_cursor)
            known.update(sys.intern(row.id) for row in page.rows)
        return known


_HUBS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def hub() -> Hub:
    """The process's hub (one per event loop: a server runs one), made the first time a page asks."""
    loop = asyncio.get_running_loop()
    if loop not in _HUBS:
        _HUBS[loop] = Hub()
    return _HUBS[loop]


def _parse_event_id(*values: str | None) -> int | None:
    for value in values:
        if value and value.strip().isdigit():
            return int(value.strip())
    return None


@router.get("/file/{lead}/flux")
async def queue_stream(
    lead: str,
    request: Request,
    principal: Coordination,
    territory_map: TerritoryDep,
    last_event_id: Annotated[str | None, Header(max_length=30)] = None,
    depuis: Annotated[str | None, Query(max_length=30)] = None,
) -> Response:
    readable_queue(principal, lead, territory_map)
    since = _parse_event_id(last_event_id, depuis)
    stream = Stream(principal, lead)
    center = hub()
    center.subscribe(stream)  # before reading: a change committed meanwhile is queued, not lost
    try:
        stream.known = await run_in_threadpool(_known_ids, lead)
        replay = await run_in_threadpool(_read_since, since) if since is not None else []
    except BaseException:
        center.unsubscribe(stream)
        raise
    return StreamingResponse(
        _events(center, stream, replay),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _events(center: Hub, stream: Stream, replay: list[Change] | None) -> AsyncIterator[str]:
    try:
        yield f"retry: {RETRY_MILLISECONDS}\n: flux ouvert\n\n"
        if replay is None:
            yield _message("reload", {})
            return
        for change in replay:
            stream.offer(change)
        while True:
            text = await stream.queue.get()
            batch: list[str] = []
            while text is not None:  # what queued meanwhile goes in the same write
                batch.append(text)
                if stream.queue.empty():
                    break
                text = stream.queue.get_nowait()
            if batch:
                yield "".join(batch)
            if text is None:
                return
    finally:
        center.unsubscribe(stream)
