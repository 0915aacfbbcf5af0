"""A lean HTTP/1.1 load generator: keep-alive connections on asyncio, in its own process.

A Python HTTP client library spends hundreds of microseconds of its own per request; run
in the benchmark's process, it competes with the server for the two cores and measures
itself. This one is an asyncio protocol per connection: it writes each request as
prepared bytes and, from what arrives, takes only the status code and `Content-Length`
bytes of body, so nearly all the CPU goes to the server. (Line-by-line stream reading
cost it twice as much per request.)

    python -m bench.http_load URL CLIENTS SECONDS RESULT.json < spec.json

The spec names the method, the headers, and either a body template with `{n}` for a
unique request number or `paths`, a list of paths (with query) requested in turn, for
GETs. A response that is not 2xx, or that has no Content-Length, is counted as an error
and stops the run.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

try:
    import uvloop
except ImportError:  # pragma: no cover - the server extra brings it
    uvloop = None

_HEAD_END = b"\r\n\r\n"
_LENGTH = b"\r\ncontent-length:"


class _Connection(asyncio.Protocol):
    """One keep-alive client: a request, its answer, the next request, until `deadline`."""

    def __init__(self, request_for: Callable[[int], bytes], first: int, step: int,
                 deadline: float, latencies: list[float], errors: list[str],
                 finished: asyncio.Future[int]) -> None:
        self._request_for = request_for
        self._number = first
        self._step = step
        self._deadline = deadline
        self._latencies = latencies
        self._errors = errors
        self._finished = finished
        self._buffer = b""
        self._sent_at = 0.0
        self._done = 0
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._send()

    def _send(self) -> None:
        assert self._transport is not None
        request = self._request_for(self._number)
        self._number += self._step
        self._sent_at = time.perf_counter()
        self._transport.write(request)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        while True:
            head_end = buffer.find(_HEAD_END)
            if head_end < 0:
                break
            head = buffer[:head_end].lower()
            at = head.find(_LENGTH)
            if at < 0:
                self._stop(f"an answer without Content-Length: {head[:300]!r}")
                return
            line_end = head.find(b"\r\n", at + 2)
            length = int(head[at + len(_LENGTH):line_end if line_end >= 0 else None])
            end = head_end + 4 + length
            if len(buffer) < end:
                break
            answered = time.perf_counter()
            status = int(head[9:12])
            if not 200 <= status < 300:
                body = buffer[head_end + 4:end][:300].decode(errors="replace")
                self._stop(f"HTTP {status}: {body}")
                return
            self._latencies.append(answered - self._sent_at)
            self._done += 1
            buffer = buffer[end:]
            if answered >= self._deadline or self._errors:
                self._stop(None)
                return
            self._send()
        self._buffer = buffer

    def _stop(self, error: str | None) -> None:
        if error is not None:
            self._errors.append(error)
        if self._transport is not None:
            self._transport.close()
        if not self._finished.done():
            self._finished.set_result(self._done)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._finished.done():
            if time.perf_counter() < self._deadline and not self._errors:
                self._errors.append(f"the server closed the connection: {exc}")
            self._finished.set_result(self._done)


async def run(url: str, clients: int, seconds: float, spec: dict[str, Any]) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = "".join(f"{k}: {v}\r\n" for k, v in spec.get("headers", {}).items())
    if spec.get("paths"):
        requests = [(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{headers}\r\n"
                     ).encode() for path in spec["paths"]]

        def request_for(n: int) -> bytes:
            return requests[n % len(requests)]
    else:
        head = (f"{spec.get('method', 'POST')} {target} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                + headers)
        body = spec.get("body", "")
        body = json.dumps(body) if not isinstance(body, str) else body

        def request_for(n: int) -> bytes:
            payload = body.replace("{n}", str(n)).encode()
            return (head + f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    errors: list[str] = []
    began = time.perf_counter()
    deadline = began + seconds
    finished = [loop.create_future() for _ in range(clients)]
    for index, future in enumerate(finished):
        await loop.create_connection(
            lambda index=index, future=future: _Connection(
                request_for, index, clients, deadline, latencies, errors, future),
            host, port)
    counts = await asyncio.gather(*finished)
    return {"operations": sum(counts), "seconds": time.perf_counter() - began,
            "latencies": latencies, "errors": errors[:5]}


def main() -> None:
    url, clients, seconds, output = (sys.argv[1], int(sys.argv[2]), float(sys.argv[3]),
                                     Path(sys.argv[4]))
    spec = json.load(sys.stdin)
    if uvloop is not None:
        uvloop.install()
    # Written to a file, not standard output: a result of some hundred kilobytes once
    # reached the benchmark cut short at 128 KiB through the pipe.
    output.write_text(json.dumps(asyncio.run(run(url, clients, seconds, spec))))


if __name__ == "__main__":
    main()
