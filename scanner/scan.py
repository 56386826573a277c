"""Stream one pinned object from S3 into clamd and turn what happened into a verdict.

CLEAN needs all of: clamd's exact `stream: OK`; every stored byte read (count = Content-Length, stream ended); the
Content-Encoding decoded without error; and no archive clamd could not look into. Anything else is another status.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from scanner.archives import ArchiveInspector
from scanner.clamd import ClamdDaemon
from scanner.encoding import ContentEncodingError, DecodedTooLarge, open_decoded
from scanner.exceptions import ClamdConnectionError, ClamdError, ClamdUnavailableError
from scanner.observability import logger
from scanner.storage import ObjectStore, OpenedObject
from scanner.streaming import StoredBytes, WatchedBytes
from scanner.verdict import ScanStatus, Verdict, too_large, unscannable, verdict_from_error, verdict_from_reply


@dataclass(frozen=True)
class ScanResult:
    """A verdict, the content's identity, and what clamd was given."""

    verdict: Verdict
    sha256: str | None = None
    """Hex SHA-256 of the stored bytes; None unless every byte was read."""
    stored_bytes: int = 0
    scanned_bytes: int = 0
    """Bytes clamd received (the decoded content)."""


class ObjectScanner:
    """Scans pinned objects with the warm clamd; a dead clamd is restarted once and the object read again."""

    def __init__(
        self,
        daemon: ClamdDaemon,
        store: ObjectStore,
        *,
        max_object_bytes: int,
        encrypted_is_infected: bool = False,
        rar_supported: bool = False,
    ) -> None:
        self.daemon = daemon
        self.store = store
        self.max_object_bytes = max_object_bytes
        self.encrypted_is_infected = encrypted_is_infected
        self.rar_supported = rar_supported

    def scan(self, opened: OpenedObject) -> ScanResult:
        """Scan the opened object (its body is consumed and closed). S3 failures propagate; clamd failures become
        ERROR, after one restart and a fresh GET of the same pinned content when clamd died."""
        pid = self.daemon.pid
        try:
            return self._scan_once(opened)
        except (ClamdUnavailableError, ClamdConnectionError) as err:
            if self.daemon.is_running() and self.daemon.pid == pid:
                logger.warning("clamd failed but is alive; no retry", extra={"error": str(err)})
                return ScanResult(verdict_from_error(err))
            logger.warning("clamd is not running; restarting it once", extra={"error": str(err)})
        try:
            self.daemon.restart_if(pid)
            return self._scan_once(self.store.open_pinned(opened.pinned))
        except ClamdError as err:
            return ScanResult(verdict_from_error(err))

    def _scan_once(self, opened: OpenedObject) -> ScanResult:
        stored = StoredBytes(opened.body, opened.size)
        inspector = ArchiveInspector(rar_supported=self.rar_supported)
        try:
            decoded = open_decoded(stored, opened.content_encoding, max_decoded_bytes=self.max_object_bytes)
            watched = WatchedBytes(decoded, inspector.feed)
            reply, sent = self.daemon.client.instream(watched)
        except ContentEncodingError as err:
            return ScanResult(unscannable(err.reason), stored.sha256, stored.count)
        except DecodedTooLarge:
            return ScanResult(too_large(), stored.sha256, stored.count)
        finally:
            opened.close()
        result = _result(
            verdict_from_reply(reply, encrypted_is_infected=self.encrypted_is_infected), stored, watched, sent
        )
        if result.verdict.status is not ScanStatus.CLEAN:
            return result
        encoded = decoded is not stored
        reason = inspector.finish(watched.count, None if encoded else self._range_reader(opened))
        if reason:
            return ScanResult(unscannable(reason), result.sha256, result.stored_bytes, result.scanned_bytes)
        return result

    def _range_reader(self, opened: OpenedObject) -> Callable[[int, int], bytes]:
        return lambda start, end: self.store.read_range(opened.pinned, start, end)


def _result(verdict: Verdict, stored: StoredBytes, watched: WatchedBytes, sent: int) -> ScanResult:
    """Fail closed: OK only counts when clamd received everything and every stored byte was read."""
    if verdict.status is ScanStatus.CLEAN and not (stored.complete and watched.at_end and sent == watched.count):
        detail = f"short-stream:{stored.count}/{stored.expected_size}"
        return ScanResult(Verdict(ScanStatus.ERROR, detail), stored.sha256, stored.count, sent)
    return ScanResult(verdict, stored.sha256, stored.count, sent)
