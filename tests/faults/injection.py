"""Faults injected into the scanner's own clients: S3 errors through botocore's `before-send` hook, S3's size
limits that moto does not enforce, and a clamd socket that kills or freezes clamd at a chosen point of INSTREAM.

`before-send` runs after signing and before the HTTP request, inside botocore's retry loop: an injected 503
is retried by botocore exactly as a real one would be.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import urllib3
from botocore.awsrequest import AWSResponse
from urllib3.exceptions import ProtocolError

from scanner.clamd import ClamdDaemon

S3_KEY_MAX_BYTES = 1024
S3_USER_METADATA_MAX_BYTES = 2048


class _Body:
    """The `raw` of an AWSResponse built here: an error document, read once."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield self.data

    def read(self, amt: int | None = None) -> bytes:
        data, self.data = (self.data, b"") if amt is None else (self.data[:amt], self.data[amt:])
        return data


def error_response(url: str, status: int, code: str, message: str = "injected fault") -> AWSResponse:
    """What S3 sends for an error: status, XML body, request id."""
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
        f"<RequestId>FAULT</RequestId><HostId>fault</HostId></Error>"
    ).encode()
    headers = {"Content-Type": "application/xml", "Content-Length": str(len(body)), "x-amz-request-id": "FAULT"}
    return AWSResponse(url, status, headers, _Body(body))


@dataclass
class S3Fault:
    """Answer `operation` with an S3 error, `times` times (None: until removed), optionally for one bucket/key."""

    operation: str
    status: int
    code: str
    times: int | None = None
    bucket: str | None = None
    key: str | None = None
    injected: int = 0

    def matches(self, operation: str, bucket: str | None, key: str | None) -> bool:
        if operation != self.operation or (self.times is not None and self.injected >= self.times):
            return False
        return (self.bucket is None or self.bucket == bucket) and (self.key is None or self.key == key)

    @property
    def label(self) -> str:
        return f"s3:{self.operation}:{self.status}:{self.code}"


@dataclass
class TruncatedGet:
    """GetObject returns the real headers, then the body breaks after `after_bytes` (a reset, or an early EOF)."""

    after_bytes: int
    reset: bool = True
    times: int | None = None
    injected: int = 0

    @property
    def label(self) -> str:
        return f"s3:GetObject:{'reset' if self.reset else 'eof'}-after-{self.after_bytes}"


class _TruncatedRaw:
    """urllib3's response, cut short: what the StreamingBody sees when the connection drops mid-body."""

    def __init__(self, response: Any, after_bytes: int, reset: bool) -> None:
        self.response, self.left, self.reset = response, after_bytes, reset

    def read(self, amt: int | None = None, **kwargs: Any) -> bytes:
        if self.left <= 0:
            self.response.release_conn()
            if self.reset:
                raise ProtocolError("Connection broken: injected reset", ConnectionResetError(104, "reset"))
            return b""
        data = self.response.read(min(amt or self.left, self.left))
        self.left -= len(data)
        return data

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield self.read()

    def close(self) -> None:
        self.response.release_conn()


@dataclass
class S3FaultInjector:
    """Registered on one boto3 S3 client; `faults` can change between calls (remove them to let a rerun pass)."""

    client: Any
    faults: list[S3Fault | TruncatedGet] = field(default_factory=list)
    enforce_s3_limits: bool = False
    """Answer like S3 where moto is lenient: keys over 1,024 bytes, user metadata over 2 KB."""
    seen: list[str] = field(default_factory=list)
    """Every operation sent, in order."""
    _http: urllib3.PoolManager = field(default_factory=urllib3.PoolManager)

    def __post_init__(self) -> None:
        self.client.meta.events.register("before-send.s3", self._before_send, unique_id=f"faults-{id(self)}")

    def remove(self) -> None:
        self.client.meta.events.unregister("before-send.s3", unique_id=f"faults-{id(self)}")

    def add(self, fault: S3Fault | TruncatedGet) -> S3Fault | TruncatedGet:
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        self.faults.clear()

    @property
    def injected(self) -> int:
        return sum(f.injected for f in self.faults)

    def _before_send(self, request: Any, event_name: str, **kwargs: Any) -> AWSResponse | None:
        operation = event_name.rsplit(".", 1)[-1]
        self.seen.append(operation)
        bucket, key = _bucket_and_key(request.url)
        if self.enforce_s3_limits and (limit := _s3_limit_error(operation, key, request.headers)):
            return error_response(request.url, 400, *limit)
        for fault in self.faults:
            if isinstance(fault, TruncatedGet):
                if operation == "GetObject" and (fault.times is None or fault.injected < fault.times):
                    fault.injected += 1
                    return self._truncated(request, fault)
            elif fault.matches(operation, bucket, key):
                fault.injected += 1
                return error_response(request.url, fault.status, fault.code)
        return None

    def _truncated(self, request: Any, fault: TruncatedGet) -> AWSResponse:
        response = self._http.request(
            request.method,
            request.url,
            headers=dict(request.headers.items()),
            body=request.body,
            preload_content=False,
            decode_content=False,
        )
        return AWSResponse(
            request.url,
            response.status,
            dict(response.headers),
            _TruncatedRaw(response, fault.after_bytes, fault.reset),
        )


def _bucket_and_key(url: str) -> tuple[str | None, str | None]:
    """Path-style URL (the moto endpoint) -> bucket and decoded key."""
    path = urlsplit(url).path.lstrip("/")
    bucket, _, key = path.partition("/")
    return (unquote(bucket) or None), (unquote(key) or None)


def _s3_limit_error(operation: str, key: str | None, headers: Any) -> tuple[str, str] | None:
    if operation not in {"PutObject", "CopyObject", "CreateMultipartUpload"}:
        return None
    if key is not None and len(key.encode()) > S3_KEY_MAX_BYTES:
        return "KeyTooLongError", "Your key is too long"
    metadata = 0
    for name, value in headers.items():
        name = name.decode() if isinstance(name, bytes) else name
        value = value.decode() if isinstance(value, bytes) else value
        if name.lower().startswith("x-amz-meta-"):
            metadata += len(name[len("x-amz-meta-") :].encode()) + len(value.encode())
    if metadata > S3_USER_METADATA_MAX_BYTES:
        return "MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size"
    return None


# clamd faults


TERMINATOR = struct.pack("!L", 0)


class ClamdFault:
    """Does `action` to clamd at one point of the next `times` INSTREAM exchanges (None: every one).

    Points: "command" (right after `zINSTREAM`), "mid-stream" (after `after_bytes` of data were sent),
    "terminator" (after the zero-length chunk: clamd has everything, is scanning, and has not answered).
    Installed on the daemon's own client, so the scanner's restart-and-rescan goes through it too.
    """

    def __init__(
        self,
        daemon: ClamdDaemon,
        point: str,
        action: Callable[[], None],
        *,
        after_bytes: int = 0,
        times: int | None = 1,
    ) -> None:
        if point not in {"command", "mid-stream", "terminator"}:
            raise ValueError(point)
        self.daemon, self.point, self.action, self.after_bytes, self.times = daemon, point, action, after_bytes, times
        self.fired = 0
        self._connect = daemon.client._connect

    def install(self, monkeypatch: Any) -> ClamdFault:
        monkeypatch.setattr(self.daemon.client, "_connect", self.connect)
        return self

    def connect(self, timeout_s: float | None = None) -> _FaultySocket:
        return _FaultySocket(self._connect(timeout_s), self)

    @property
    def armed(self) -> bool:
        return self.times is None or self.fired < self.times

    def disarm(self) -> None:
        self.times = self.fired

    def fire(self) -> None:
        self.fired += 1
        self.action()


class _FaultySocket:
    """clamd's socket for one command; only an INSTREAM exchange can fire the fault."""

    def __init__(self, sock: socket.socket, fault: ClamdFault) -> None:
        self.sock, self.fault = sock, fault
        self.instream = False
        self.fired = False
        self.sent = 0

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)
        if data.startswith(b"zINSTREAM"):
            self.instream = True
            self._maybe_fire("command")
        elif self.instream and data == TERMINATOR:
            self._maybe_fire("terminator")
        elif self.instream:
            self.sent += len(data) - 4
            if self.sent >= self.fault.after_bytes:
                self._maybe_fire("mid-stream")

    def _maybe_fire(self, point: str) -> None:
        if point == self.fault.point and not self.fired and self.fault.armed:
            self.fired = True
            self.fault.fire()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)

    def __enter__(self) -> _FaultySocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def kill(daemon: ClamdDaemon) -> Callable[[], None]:
    """SIGKILL clamd and reap it, so the scanner sees it dead."""

    def action() -> None:
        if daemon.is_running() and daemon.pid:
            os.kill(daemon.pid, signal.SIGKILL)
            assert daemon.process is not None
            daemon.process.wait(10)

    return action


def freeze(daemon: ClamdDaemon) -> Callable[[], None]:
    """SIGSTOP clamd: alive, accepting connections into its backlog, answering nothing."""

    def action() -> None:
        if daemon.pid:
            os.kill(daemon.pid, signal.SIGSTOP)

    return action


def thaw(daemon: ClamdDaemon) -> None:
    if daemon.is_running() and daemon.pid:
        os.kill(daemon.pid, signal.SIGCONT)
