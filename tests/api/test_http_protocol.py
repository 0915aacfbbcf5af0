"""The HTTP protocol `kinerja serve` runs: a real uvicorn on a real loopback socket, with the
transport under it counted, so that "one write per response" is observed, not assumed."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from api.http_protocol import (
    SEND_AT_ONCE_FROM,
    GatheringHttpToolsProtocol,
    _GatheringTransport,
)

BODY = b'{"recorded":true}'
LARGE = bytes(range(256)) * 4096  # 1 MiB


class _CountedTransport:
    """The socket's own transport, counting the writes that reach it."""

    def __init__(self, transport: asyncio.Transport, writes: list[bytes]) -> None:
        self._transport = transport
        self._writes = writes

    def write(self, data: bytes) -> None:
        self._writes.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


async def _app(scope: dict, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await receive()
    if scope["path"] == "/large":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(LARGE)).encode())]})
        await send({"type": "http.response.body", "body": LARGE})
        return
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        for part in (b"first ", b"second ", b"third"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
            await asyncio.sleep(0.05)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    await send({"type": "http.response.start", "status": 201,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(BODY)).encode())]})
    await send({"type": "http.response.body", "body": BODY})


@pytest.fixture
def served() -> Iterator[tuple[int, list[bytes]]]:
    writes: list[bytes] = []

    class Counted(GatheringHttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(_CountedTransport(transport, writes))  # type: ignore[arg-type]

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    server = uvicorn.Server(uvicorn.Config(_app, http=Counted, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield listener.getsockname()[1], writes
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _request(path: str, *, close: bool = False) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Length: 2\r\n"
            + ("Connection: close\r\n" if close else "") + "\r\n{}").encode()


def _read_until(connection: socket.socket, done: Any) -> bytes:
    received = b""
    connection.settimeout(10)
    while not done(received):
        chunk = connection.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def test_a_response_leaves_in_one_write(served: tuple[int, list[bytes]]) -> None:
    port, writes = served
    with socket.create_connection(("127.0.0.1", port)) as connection:
        for _ in range(3):
            connection.sendall(_request("/feedback"))
            answer = _read_until(connection, lambda got: got.endswith(BODY))
            assert answer.startswith(b"HTTP/1.1 201 Created\r\n")
    assert len(writes) == 3
    assert all(write.startswith(b"HTTP/1.1 201") and write.endswith(BODY) for write in writes)


def test_pipelined_requests_are_answered_whole_and_in_order(
        served: tuple[int, list[bytes]]) -> None:
    port, writes = served
    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.sendall(_request("/a") * 4)
        answer = _read_until(connection, lambda got: got.count(BODY) == 4)
    assert answer.count(b"HTTP/1.1 201 Created\r\n") == 4
    assert b"".join(writes) == answer


def test_a_streamed_body_still_leaves_as_it_is_produced(
        served: tuple[int, list[bytes]]) -> None:
    port, writes = served
    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.sendall(_request("/stream"))
        answer = _read_until(connection, lambda got: got.endswith(b"0\r\n\r\n"))
    assert b"first " in answer and b"second " in answer and b"third" in answer
    # The headers go with the first part; each later part, produced after a wait, alone.
    assert len(writes) >= 3
    assert writes[0].startswith(b"HTTP/1.1 200") and b"first " in writes[0]
    assert b"".join(writes) == answer


def test_closing_the_connection_sends_what_is_held_first(
        served: tuple[int, list[bytes]]) -> None:
    port, writes = served
    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.sendall(_request("/feedback", close=True))
        answer = _read_until(connection, lambda got: False)  # until the server closes
    assert answer.startswith(b"HTTP/1.1 201 Created\r\n") and answer.endswith(BODY)
    assert b"connection: close" in answer.lower()
    assert len(writes) == 1


def test_a_small_write_waits_for_the_turns_end_and_a_large_one_goes_at_once() -> None:
    async def run() -> tuple[bytes, bytes, bytes]:
        ours, peer = socket.socketpair()
        peer.setblocking(False)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, ours)
        gathering = _GatheringTransport(transport, loop)  # type: ignore[arg-type]
        try:
            gathering.write(b"small")
            held = _received(peer)
            await asyncio.sleep(0.05)  # the turn ends: what was held is sent
            after_turn = _received(peer)
            gathering.write(b"head")
            gathering.write(b"x" * SEND_AT_ONCE_FROM)
            at_once = _received(peer)  # before the loop runs again
            return held, after_turn, at_once
        finally:
            gathering.close()
            peer.close()

    held, after_turn, at_once = asyncio.run(run())
    assert held == b"" and after_turn == b"small"
    assert at_once.startswith(b"headxxx")


def _received(peer: socket.socket) -> bytes:
    try:
        return peer.recv(1 << 20)
    except BlockingIOError:
        return b""


def test_a_large_answer_is_not_held_and_arrives_whole(served: tuple[int, list[bytes]]
                                                      ) -> None:
    port, writes = served
    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.sendall(_request("/large"))
        answer = _read_until(connection, lambda got: got.endswith(LARGE[-64:])
                             and len(got) > len(LARGE))
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(LARGE)
    # Sent as soon as the body was written, with the headers before it, in order.
    assert b"".join(writes) == answer and len(writes) <= 2
