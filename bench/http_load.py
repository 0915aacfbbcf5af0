"""A lean HTTP/1.1 load generator: keep-alive connections on asyncio, in its own process.

A Python HTTP client library spends hundreds of microseconds of its own per request; run
in the benchmark's process, it competes with the server for the two cores and measures
itself. This one writes each request as prepared bytes and reads just the status line,
the headers and Content-Length bytes of body, so nearly all the CPU goes to the server.

    python -m bench.http_load URL CLIENTS SECONDS RESULT.json < spec.json

The spec names the method, the headers, and either a body template with `{n}` for a
unique request number or `paths`, a list of paths (with query) requested in turn, for
GETs; a response that is not 2xx is counted as an error and stops the run.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

try:
    import uvloop
except ImportError:  # pragma: no cover - the server extra brings it
    uvloop = None


async def _client(index: int, clients: int, host: str, port: int,
                  requests: list[bytes] | None, head: str, body: str, deadline: float,
                  latencies: list[float], errors: list[str]) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    n, done = index, 0
    try:
        while time.perf_counter() < deadline and not errors:
            if requests is not None:
                request = requests[n % len(requests)]
            else:
                payload = body.replace("{n}", str(n)).encode()
                request = (head + f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload
            began = time.perf_counter()
            writer.write(request)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            answer = await reader.readexactly(length)
            latencies.append(time.perf_counter() - began)
            status = int(status_line.split()[1])
            if not 200 <= status < 300:
                errors.append(f"HTTP {status}: {answer[:300].decode(errors='replace')}")
            done += 1
            n += clients
    finally:
        writer.close()
    return done


async def run(url: str, clients: int, seconds: float, spec: dict[str, Any]) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = "".join(f"{k}: {v}\r\n" for k, v in spec.get("headers", {}).items())
    head = f"{spec.get('method', 'POST')} {target} HTTP/1.1\r\nHost: {host}:{port}\r\n"
    head += headers
    body = spec.get("body", "")
    body = json.dumps(body) if not isinstance(body, str) else body
    requests = None
    if spec.get("paths"):
        requests = [(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{headers}\r\n"
                     ).encode() for path in spec["paths"]]
    latencies: list[float] = []
    errors: list[str] = []
    began = time.perf_counter()
    deadline = began + seconds
    counts = await asyncio.gather(*(
        _client(i, clients, host, port, requests, head, body, deadline, latencies, errors)
        for i in range(clients)))
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
