"""Stream one object version from S3 into clamd and turn the reply into a verdict."""

from __future__ import annotations

from dataclasses import dataclass

from scanner.clamd import ClamdDaemon
from scanner.events import ObjectRef
from scanner.exceptions import ClamdConnectionError, ClamdError, ClamdUnavailableError
from scanner.observability import logger
from scanner.storage import ObjectStore
from scanner.verdict import ScanStatus, Verdict, verdict_from_error, verdict_from_reply


@dataclass(frozen=True)
class ScanResult:
    """A verdict and how many bytes clamd received."""

    verdict: Verdict
    bytes_scanned: int


class ObjectScanner:
    """Fetches an object version and scans it with the warm clamd; restarts a dead clamd once."""

    def __init__(self, daemon: ClamdDaemon, store: ObjectStore, *, encrypted_is_infected: bool = False) -> None:
        self.daemon = daemon
        self.store = store
        self.encrypted_is_infected = encrypted_is_infected

    def scan(self, ref: ObjectRef, size: int, etag: str | None = None) -> ScanResult:
        """Scan the full content of `ref` (`size` bytes, and `etag` when given). S3 errors propagate; clamd
        failures become ERROR."""
        try:
            return self._scan_once(ref, size, etag)
        except (ClamdUnavailableError, ClamdConnectionError) as err:
            if self.daemon.is_running():
                logger.warning("clamd failed but is alive; no retry", extra={"error": str(err)})
                return ScanResult(verdict_from_error(err), 0)
            logger.warning("clamd is not running; restarting it once", extra={"error": str(err)})
        try:
            self.daemon.restart()
            return self._scan_once(ref, size, etag)
        except ClamdError as err:
            return ScanResult(verdict_from_error(err), 0)

    def _scan_once(self, ref: ObjectRef, size: int, etag: str | None) -> ScanResult:
        body = self.store.open(ref, etag)
        try:
            reply, sent = self.daemon.client.instream(body)
        finally:
            body.close()
        verdict = verdict_from_reply(reply, encrypted_is_infected=self.encrypted_is_infected)
        if verdict.status is ScanStatus.CLEAN and sent != size:
            # Fail closed: OK for fewer bytes than the object holds is not a clean verdict.
            return ScanResult(Verdict(ScanStatus.ERROR, f"short-stream:{sent}/{size}"), sent)
        return ScanResult(verdict, sent)
