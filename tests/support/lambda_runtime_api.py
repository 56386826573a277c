"""A test double of the Lambda Runtime API: the HTTP protocol a runtime client (awslambdaric) speaks.

It serves queued events on loopback and records what the runtime replies, so a real container image can be
invoked without Lambda:

    with LambdaRuntimeApi() as api:                      # AWS_LAMBDA_RUNTIME_API=api.address
        request_id = api.invoke({"Records": [...]})
        invocation = api.wait(request_id, timeout_s=60)
        assert invocation.succeeded, invocation.error

Endpoints (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html):
`GET /2018-06-01/runtime/invocation/next` long-polls for the next event; `POST .../invocation/<id>/response`,
`POST .../invocation/<id>/error` and `POST .../init/error` record the replies.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

API_VERSION = "2018-06-01"
_PREFIX = f"/{API_VERSION}/runtime"
_POLL_S = 0.2

HEADER_REQUEST_ID = "Lambda-Runtime-Aws-Request-Id"
HEADER_DEADLINE_MS = "Lambda-Runtime-Deadline-Ms"
HEADER_FUNCTION_ARN = "Lambda-Runtime-Invoked-Function-Arn"
HEADER_TRACE_ID = "Lambda-Runtime-Trace-Id"
HEADER_ERROR_TYPE = "Lambda-Runtime-Function-Error-Type"


class RuntimeApiTimeout(AssertionError):
    """An awaited reply did not arrive in time."""


@dataclass
class Invocation:
    """One event handed to the runtime and what became of it."""

    request_id: str
    event: Any
    queued_at: float = field(default_factory=time.monotonic)
    """time.monotonic() when invoke() queued the event."""
    delivered_at: float | None = None
    """When the runtime fetched the event from /next."""
    completed_at: float | None = None
    """When the runtime posted its response or error."""
    response: Any = None
    """The handler's return value (decoded JSON) after POST .../response."""
    error: Any = None
    """The error document after POST .../error."""
    error_type: str | None = None
    """The Lambda-Runtime-Function-Error-Type header of an error, when the runtime sends one."""

    @property
    def done(self) -> bool:
        return self.completed_at is not None

    @property
    def succeeded(self) -> bool:
        return self.done and self.error is None


@dataclass(frozen=True)
class InitError:
    """A POST to /runtime/init/error: the handler could not be loaded."""

    error: Any
    error_type: str | None
    at: float


class LambdaRuntimeApi:
    """The Runtime API on 127.0.0.1 (port 0 picks a free one); a context manager that starts and stops it."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:scanner-test",
        timeout_s: float = 300.0,
    ) -> None:
        self.function_arn = function_arn
        self.timeout_s = timeout_s
        """Each invocation's deadline, sent as Lambda-Runtime-Deadline-Ms."""
        self.invocations: dict[str, Invocation] = {}
        self.init_errors: list[InitError] = []
        self.first_poll_at: float | None = None
        """time.monotonic() of the runtime's first GET /next: the end of its init phase."""
        self._pending: queue.Queue[Invocation] = queue.Queue()
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._server = _Server((host, port), _handler_class(self))
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        """host:port, the value of AWS_LAMBDA_RUNTIME_API."""
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> LambdaRuntimeApi:
        self._thread = threading.Thread(target=self._server.serve_forever, name="lambda-runtime-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> LambdaRuntimeApi:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def invoke(self, event: Any, request_id: str | None = None) -> str:
        """Queue an event for the runtime's next poll; return its request id."""
        invocation = Invocation(request_id or str(uuid.uuid4()), event)
        with self._changed:
            self.invocations[invocation.request_id] = invocation
        self._pending.put(invocation)
        return invocation.request_id

    def wait(self, request_id: str, timeout_s: float) -> Invocation:
        """Block until the runtime replied to `request_id` (response or error)."""
        invocation = self.invocations[request_id]
        with self._changed:
            if not self._changed.wait_for(lambda: invocation.done or bool(self.init_errors), timeout_s):
                raise RuntimeApiTimeout(f"no reply to invocation {request_id} within {timeout_s:.0f} s")
        if not invocation.done:
            raise AssertionError(f"the runtime failed to initialise: {self.init_errors[0].error}")
        return invocation

    def wait_for_poll(self, timeout_s: float) -> float:
        """Block until the runtime first polled /next; return that time (time.monotonic())."""
        with self._changed:
            if not self._changed.wait_for(lambda: self.first_poll_at is not None or bool(self.init_errors), timeout_s):
                raise RuntimeApiTimeout(f"the runtime did not poll for an event within {timeout_s:.0f} s")
        if self.first_poll_at is None:
            raise AssertionError(f"the runtime failed to initialise: {self.init_errors[0].error}")
        return self.first_poll_at

    # Called by the request handler threads.

    def _next(self) -> Invocation | None:
        with self._changed:
            if self.first_poll_at is None:
                self.first_poll_at = time.monotonic()
            self._changed.notify_all()
        while not self._stopping.is_set():
            try:
                invocation = self._pending.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            invocation.delivered_at = time.monotonic()
            return invocation
        return None

    def _complete(
        self, request_id: str, *, response: Any = None, error: Any = None, error_type: str | None = None
    ) -> bool:
        with self._changed:
            invocation = self.invocations.get(request_id)
            if invocation is None or invocation.delivered_at is None or invocation.done:
                return False
            invocation.response, invocation.error, invocation.error_type = response, error, error_type
            invocation.completed_at = time.monotonic()
            self._changed.notify_all()
            return True

    def _init_error(self, error: Any, error_type: str | None) -> None:
        with self._changed:
            self.init_errors.append(InitError(error, error_type, time.monotonic()))
            self._changed.notify_all()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A runtime killed mid-poll (the container stopped) resets its connection: not a fault of the test.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _handler_class(api: LambdaRuntimeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(_RuntimeApiHandler):
        runtime_api = api

    return Handler


class _RuntimeApiHandler(BaseHTTPRequestHandler):
    # HTTP/1.1: the runtime client keeps its connection alive and may send `Expect: 100-continue`.
    protocol_version = "HTTP/1.1"
    runtime_api: LambdaRuntimeApi

    def do_GET(self) -> None:
        if self.path != f"{_PREFIX}/invocation/next":
            self._reply(HTTPStatus.NOT_FOUND, {"errorType": "NotFound", "errorMessage": self.path})
            return
        invocation = self.runtime_api._next()
        if invocation is None:
            self._reply(HTTPStatus.SERVICE_UNAVAILABLE, {"errorType": "ShuttingDown", "errorMessage": "stopping"})
            return
        deadline_ms = int((time.time() + self.runtime_api.timeout_s) * 1000)
        self._reply(
            HTTPStatus.OK,
            invocation.event,
            {
                HEADER_REQUEST_ID: invocation.request_id,
                HEADER_DEADLINE_MS: str(deadline_ms),
                HEADER_FUNCTION_ARN: self.runtime_api.function_arn,
                HEADER_TRACE_ID: f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
            },
        )

    def do_POST(self) -> None:
        body = self._read_body()
        document = _decode(body)
        error_type = self.headers.get(HEADER_ERROR_TYPE)
        parts = self.path.removeprefix(_PREFIX).strip("/").split("/")
        if parts == ["init", "error"]:
            self.runtime_api._init_error(document, error_type)
            self._reply(HTTPStatus.ACCEPTED, {"status": "OK"})
        elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in {"response", "error"}:
            if parts[2] == "response":
                known = self.runtime_api._complete(parts[1], response=document)
            else:
                known = self.runtime_api._complete(parts[1], error=document, error_type=error_type)
            if known:
                self._reply(HTTPStatus.ACCEPTED, {"status": "OK"})
            else:
                self._reply(HTTPStatus.BAD_REQUEST, {"errorType": "InvalidRequestID", "errorMessage": parts[1]})
        else:
            self._reply(HTTPStatus.NOT_FOUND, {"errorType": "NotFound", "errorMessage": self.path})

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in {b"\r\n", b"\n", b""}:
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _reply(self, status: HTTPStatus, document: Any, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _decode(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")
