"""A small TCP balancer in the proof's event loop: round-robin over upstreams, and a switch to cut them off.

It stands where nginx stands in the long proofs when nginx is not installed (CI installs only what pip
can), and in front of PostgreSQL for a database outage: `cut()` drops every open connection and refuses
new ones until `restore()`, as a stopped server or a blocked port would. A connection is pinned to one
upstream for its life; one that cannot be reached is skipped for the next, as nginx's
`proxy_next_upstream error` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

HOST = "127.0.0.1"
CHUNK = 64 * 1024


@dataclass
class Balancer:
    """Round-robin TCP forwarding to `upstreams` ((host, port) pairs), with an outage switch."""

    upstreams: Sequence[tuple[str, int]]
    up: bool = True
    refused: int = 0  # connections refused or dropped because of a cut
    _turn: itertools.count = field(default_factory=itertools.count)
    _open: set[asyncio.StreamWriter] = field(default_factory=set)

    def cut(self) -> None:
        """The upstreams go away: open connections are dropped, new ones closed at once."""
        self.up = False
        for writer in list(self._open):
            self.refused += 1
            writer.transport.abort()
        self._open.clear()

    def restore(self) -> None:
        self.up = True

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            self.refused += 1
            writer.transport.abort()
            return
        upstream = await self._connect()
        if upstream is None:
            writer.transport.abort()
            return
        up_reader, up_writer = upstream
        self._open |= {writer, up_writer}
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            self._open -= {writer, up_writer}
            for end in (writer, up_writer):
                end.transport.abort()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        start = next(self._turn)
        for offset in range(len(self.upstreams)):
            host, port = self.upstreams[(start + offset) % len(self.upstreams)]
            with contextlib.suppress(OSError):
                return await asyncio.wait_for(asyncio.open_connection(host, port), 2)
        return None


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until either side closes; a half-closed request is passed on as EOF."""
    with contextlib.suppress(OSError, asyncio.IncompleteReadError, ConnectionError):
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()


@contextlib.asynccontextmanager
async def balancing(
    upstreams: Sequence[tuple[str, int]], port: int = 0
) -> AsyncIterator[tuple[Balancer, int]]:
    """Serve a balancer on 127.0.0.1 (a free port unless given); yields it and its port."""
    balancer = Balancer(list(upstreams))
    server = await asyncio.start_server(balancer.handle, HOST, port)
    try:
        yield balancer, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        balancer.cut()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 5)
