"""The Redis transport of kombu, with one client per channel instead of one per command.

kombu's Redis channel builds a new redis-py client for every acknowledgement, publication and event it sends
(`Channel.conn_or_acquire`); each build fills the client's table of about 170 response callbacks, which cost a
worker about a third of a millisecond per routing message, more than the message's own Redis commands. A
client holds no connection of its own (it takes one from the channel's pool for each command, as the built
ones do), so one client, made again if the channel's pool is replaced, serves the channel."""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    _shared_client: Any = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:
            return super()._create_client(asynchronous=True)  # type: ignore[no-untyped-call]
        client = self._shared_client
        if client is None or client.connection_pool is not self.pool:
            client = self._shared_client = super()._create_client()  # type: ignore[no-untyped-call]
        return client


class Transport(kombu_redis.Transport):
    Channel = Channel


TRANSPORT = f"{__name__}:Transport"
