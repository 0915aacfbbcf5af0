"""uvicorn's HTTP protocol, sending each response in one write instead of two.

uvicorn writes a response's status line and headers to the socket as soon as the
application starts the response, then its body in a second write. On a busy server each
write is a system call and a TCP segment, and the client is woken twice for one answer:
for a small JSON answer the socket costs more than the rest of the response. Here the
writes a response makes within one turn of the event loop are gathered and sent
together at the end of that turn. A streamed body, whose parts are separated by waits,
still goes out part by part as it is produced, and a large answer (64 KiB or more held)
goes at once, so the transport's flow control still paces a writer faster than its
client.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


#: Writes held for the turn's end add up to at most this many bytes; more goes at once.
SEND_AT_ONCE_FROM = 64 * 1024


class _GatheringTransport:
    """The connection's transport, with writes held until the loop's turn ends.

    Everything but writing and closing is the transport's own; closing sends what is
    held first, so nothing written is lost or reordered."""

    __slots__ = ("_transport", "_loop", "_held", "_held_bytes")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []
        self._held_bytes = 0

    def write(self, data: bytes) -> None:
        if not self._held:
            self._loop.call_soon(self._send)
        self._held.append(data)
        self._held_bytes += len(data)
        if self._held_bytes >= SEND_AT_ONCE_FROM:
            # Past a small answer's size: the transport's own buffering and flow control
            # (which pauses a writer that outruns the client) take over.
            self._send()

    def writelines(self, parts: Any) -> None:
        for part in parts:
            self.write(part)

    def _send(self) -> None:
        held, self._held = self._held, []
        self._held_bytes = 0
        if held and not self._transport.is_closing():
            self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        self._send()
        self._transport.close()

    def write_eof(self) -> None:
        self._send()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held = []
        self._held_bytes = 0
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + self._held_bytes

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class GatheringHttpToolsProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` whose responses leave in one write each (see the module)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Flow control keeps the real transport: pausing reads is not a write.
        self.transport = _GatheringTransport(transport, self.loop)  # type: ignore[assignment]
