"""An open-loop load generator that costs the machine little: requests sent at fixed instants, whatever the
answers' pace, over keep-alive HTTP/1.1 connections written and read by hand.

The benches run on the machine they measure. A generic client (httpx: headers, cookies, pools, JSON encoding)
spent 2.4 ms of CPU per request here, more than the API it loaded; this one sends bytes encoded in advance
and reads the status line, the headers and the body by its `Content-Length` (about 0.1 ms per request), so
the cores go to the system under test. A request finds an idle connection, or opens one: a slow answer never
delays the next request (that would be a closed loop, which hides queueing)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


def post_request(host: str, path: str, headers: dict[str, str], body: dict[str, Any]) -> bytes:
    """One POST with a JSON body, as bytes on the wire."""
    payload = json.dumps(body).encode()
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", "Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(payload)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


@dataclass
class Answers:
    """What came back: status codes by count, and the bodies of the accepted requests."""

    statuses: dict[int, int] = field(default_factory=dict)
    accepted: list[bytes] = field(default_factory=list)
    errors: int = 0


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def open_loop(
    host: str, port: int, requests: Sequence[bytes], rate: float, accepted_status: int = 202
) -> Answers:
    """Send `requests` at `rate` per second (request i at i / rate seconds), each on an idle connection."""
    answers = Answers()
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    opened: list[asyncio.StreamWriter] = []

    async def one(request: bytes) -> None:
        if idle:
            reader, writer = idle.pop()
        else:
            reader, writer = await asyncio.open_connection(host, port)
            opened.append(writer)
        try:
            writer.write(request)
            status, body = await _read_answer(reader)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            answers.errors += 1
            writer.close()
            return
        answers.statuses[status] = answers.statuses.get(status, 0) + 1
        if status == accepted_status:
            answers.accepted.append(body)
        idle.append((reader, writer))

    tasks = []
    started = time.perf_counter()
    for index, request in enumerate(requests):
        delay = started + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(request)))
    await asyncio.gather(*tasks)
    for writer in opened:
        writer.close()
    return answers


def accepted_ids(answers: Answers) -> list[str]:
    return [json.loads(body)["id"] for body in answers.accepted]
