"""A body shorter than its Content-Length (or a chunked one that stops) is not waited for forever: against a real
uvicorn on a free port, with raw sockets, the server answers 408 and closes the connection."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from services.api.app import create_app
from services.api.limits import BODY_SECONDS
from tests.support.stack import free_port
from tests.support.waiting import wait_for

# The bound under test, plus room for a loaded machine: past it the server has waited too long.
GIVE_UP_AFTER = BODY_SECONDS + 20


@pytest.fixture(scope="module")
def server_port() -> Iterator[int]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    wait_for(lambda: server.started or None, what="le démarrage d'uvicorn")
    yield port
    server.should_exit = True
    thread.join(15)


def stalled(port: int, head: bytes, partial: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(GIVE_UP_AFTER)
    sock.sendall(head + partial)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return received
        received += chunk


def test_a_body_that_never_arrives_times_out_with_408_and_a_closed_connection(server_port: int) -> None:
    short = stalled(
        server_port,
        b"POST /v1/signals HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n",
        b'{"source": ',
    )
    chunked = stalled(
        server_port,
        b"POST /v1/signals HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        b'5\r\n{"a":\r\n',
    )
    form = stalled(
        server_port,
        b"POST /connexion HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 50\r\n\r\n",
        b"username=",
    )
    started = time.monotonic()
    try:
        answers = [read_until_closed(sock) for sock in (short, chunked, form)]  # recv raises if never answered
    finally:
        for sock in (short, chunked, form):
            sock.close()
    elapsed = time.monotonic() - started
    assert elapsed < GIVE_UP_AFTER
    for answer in answers[:2]:
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert b"application/problem+json" in answer and "n'est pas arrivé à temps".encode() in answer
    assert answers[2].startswith(b"HTTP/1.1 408 ") and b"text/html" in answers[2]  # a page, in French


def test_a_complete_body_is_still_served(server_port: int) -> None:
    with socket.create_connection(("127.0.0.1", server_port)) as sock:
        sock.settimeout(GIVE_UP_AFTER)
        sock.sendall(
            b"POST /v1/signals HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
            b"Connection: close\r\n\r\n{}"
        )
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]  # read whole, then refused for want of a token
