"""One pipelined connection to Redis for an event loop, for the rate limit on the API's hot path.

Why not `redis.asyncio`: its per-command machinery (a pooled connection taken and given back, its parser, its
retry wrapper) costs about 190 µs of CPU per call on this machine, this about 35 µs — the rate limit runs on every
authenticated request. Commands are written as they come on a single connection and Redis answers in order, so a
FIFO of futures pairs each answer with its caller: concurrent requests share the connection (their writes
coalesce under load) without a pool. Only what the rate limit needs is spoken: integer, status and error
replies (a bulk or array reply is read and returned raw, never expected).

Any failure (refused, reset, an answer later than `timeout`) raises a `redis.exceptions` error for the caller to
fall back on, and closes the connection: the next call opens a new one."""

from __future__ import annotations

import asyncio
import collections
import ssl
from typing import Any

from redis.connection import parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError


class PipelinedRedis:
    def __init__(self, url: str, timeout: float) -> None:
        self._options: dict[str, Any] = parse_url(url)  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
        self._tls = url.startswith("rediss://")
        self._timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reading: asyncio.Task[None] | None = None
        self._waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._connecting: asyncio.Lock = asyncio.Lock()

    async def execute(self, *args: str | int) -> Any:
        """Send one command, return its reply; raises a `redis.exceptions` error (ResponseError for an error
        reply, NoScriptError for NOSCRIPT) or `RedisTimeoutError` after `timeout`."""
        try:
            async with asyncio.timeout(self._timeout):
                writer = await self._connected()
                answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                self._waiting.append(answer)
                writer.write(_encode(args))
                return await answer
        except TimeoutError:
            self._close(RedisConnectionError("connexion à Redis fermée après un délai dépassé"))
            raise RedisTimeoutError(f"Redis n'a pas répondu en {self._timeout:g} s") from None
        except OSError as err:
            self._close(RedisConnectionError(str(err)))
            raise RedisConnectionError(str(err)) from err

    async def close(self) -> None:
        self._close(RedisConnectionError("connexion fermée"))
        if self._reading is not None:
            self._reading.cancel()
            self._reading = None

    async def _connected(self) -> asyncio.StreamWriter:
        if self._writer is not None:
            return self._writer
        async with self._connecting:
            if self._writer is None:
                await self._open()
        assert self._writer is not None
        return self._writer

    async def _open(self) -> None:
        options = self._options
        if "path" in options:
            reader, writer = await asyncio.open_unix_connection(options["path"])
        else:
            context = ssl.create_default_context() if self._tls else None
            reader, writer = await asyncio.open_connection(
                options.get("host", "localhost"), options.get("port", 6379), ssl=context
            )
        setup: list[tuple[str | int, ...]] = []
        if options.get("password") is not None:
            username = options.get("username")
            setup.append(("AUTH", username, options["password"]) if username else ("AUTH", options["password"]))
        if options.get("db"):
            setup.append(("SELECT", int(options["db"])))
        for command in setup:
            writer.write(_encode(command))
            reply = await _read_reply(reader)
            if isinstance(reply, ResponseError):
                writer.close()
                raise RedisConnectionError(f"Redis a refusé la connexion : {reply}")
        self._reader, self._writer = reader, writer
        self._reading = asyncio.get_running_loop().create_task(self._read_replies(reader))

    async def _read_replies(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                reply = await _read_reply(reader)
                if not self._waiting:
                    raise RedisConnectionError("réponse de Redis inattendue")
                answer = self._waiting.popleft()
                if answer.done():  # its caller gave up waiting
                    continue
                if isinstance(reply, ResponseError):
                    answer.set_exception(reply)
                else:
                    answer.set_result(reply)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            if self._reader is reader:
                self._close(err if isinstance(err, RedisConnectionError) else RedisConnectionError(str(err)))

    def _close(self, error: Exception) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
        while self._waiting:
            answer = self._waiting.popleft()
            if not answer.done():
                answer.set_exception(error)


def _encode(args: tuple[str | int, ...]) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


async def _read_reply(reader: asyncio.StreamReader) -> Any:
    line = await reader.readline()
    if not line.endswith(b"\r\n"):
        raise RedisConnectionError("connexion à Redis interrompue")
    kind, body = line[:1], line[1:-2]
    if kind == b":":
        return int(body)
    if kind == b"+":
        return body.decode()
    if kind == b"-":
        message = body.decode(errors="replace")
        return NoScriptError(message) if message.startswith("NOSCRIPT") else ResponseError(message)
    if kind == b"$":
        size = int(body)
        return None if size < 0 else (await reader.readexactly(size + 2))[:-2]
    if kind == b"*":
        return [await _read_reply(reader) for _ in range(max(0, int(body)))]
    raise RedisConnectionError(f"réponse de Redis illisible : {line[:40]!r}")
