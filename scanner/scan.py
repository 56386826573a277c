"""Stream one pinned object from S3 into clamd and turn what happened into a verdict.

CLEAN needs all of: clamd's exact `stream: OK`; every stored byte read (count = Content-Length, stream ended); the
Content-Encoding decoded without error; and no archive clamd could not look into. Anything else is another status.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from scanner.archives import ArchiveInspector
from scanner.clamd import ClamdDaemon
from scanner.encoding import ContentEncodingError, DecodedTooLarge, is_encoded, open_decoded
from scanner.exceptions import ClamdConnectionError, ClamdError, ClamdUnavailableError
from scanner.observability import logger
from scanner.storage import ObjectStore, OpenedObject
from scanner.streaming import StoredBytes, Tap
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
        try:
            if not is_encoded(opened.content_encoding):
                return self._scan_stored(opened)
            return self._scan_stored_and_decoded(opened)
        finally:
            opened.close()

    def _scan_stored(self, opened: OpenedObject) -> ScanResult:
        """No Content-Encoding: the stored bytes are what every client receives."""
        stored = StoredBytes(opened.body, opened.size)
        inspector = ArchiveInspector(rar_supported=self.rar_supported)
        watched = Tap(stored, inspector.feed)
        reply, sent = self.daemon.client.instream(watched)
        result = _result(self._verdict(reply), stored, watched, sent)
        return self._inspected(result, inspector, watched, self._range_reader(opened))

    def _scan_stored_and_decoded(self, opened: OpenedObject) -> ScanResult:
        """With a Content-Encoding, clients receive two different byte streams: SDKs and `aws s3 cp` the stored
        bytes, browsers, presigned URLs and CloudFront the decoded ones. Both are scanned in the same pass, each in
        its own INSTREAM; the worse verdict counts. An encoding that cannot be decoded leaves the stored bytes'
        verdict if INFECTED, else UNSCANNABLE content-encoding:<value>."""
        stored = StoredBytes(opened.body, opened.size)
        inspector = ArchiveInspector(rar_supported=self.rar_supported)
        client = self.daemon.client
        undecodable: Verdict | None = None
        with client.session() as stored_session, client.session() as decoded_session:
            tap = Tap(stored, stored_session.send)
            watched = Tap(tap, lambda chunk: None)
            try:
                decoded = open_decoded(tap, opened.content_encoding, max_decoded_bytes=self.max_object_bytes)
                watched = Tap(decoded, inspector.feed)
                while chunk := watched.read(client.chunk_bytes):
                    decoded_session.send(chunk)
            except ContentEncodingError as err:
                undecodable = unscannable(err.reason)
            except DecodedTooLarge:
                undecodable = too_large()
            # Whatever the decoder left (trailing bytes after the last frame) still goes to the stored stream.
            while tap.read(client.chunk_bytes):
                pass
            stored_reply = stored_session.finish()
            decoded_reply = decoded_session.finish() if undecodable is None else None
        stored_result = _result(self._verdict(stored_reply), stored, tap, stored_session.sent)
        if undecodable is not None:
            if stored_result.verdict.status in {ScanStatus.INFECTED, ScanStatus.ERROR}:
                return stored_result
            return ScanResult(undecodable, stored.sha256, stored.count, stored_session.sent)
        assert decoded_reply is not None
        decoded_result = _result(self._verdict(decoded_reply), stored, watched, decoded_session.sent)
        worst = max((stored_result, decoded_result), key=lambda r: _SEVERITY[r.verdict.status])
        result = ScanResult(worst.verdict, stored.sha256, stored.count, decoded_session.sent)
        return self._inspected(result, inspector, watched, None)

    def _verdict(self, reply: str) -> Verdict:
        return verdict_from_reply(reply, encrypted_is_infected=self.encrypted_is_infected)

    @staticmethod
    def _inspected(
        result: ScanResult,
        inspector: ArchiveInspector,
        watched: Tap,
        read_range: Callable[[int, int], bytes] | None,
    ) -> ScanResult:
        """A CLEAN result stands only if the archive inspector knows of nothing clamd could not look into."""
        if result.verdict.status is not ScanStatus.CLEAN:
            return result
        reason = inspector.finish(watched.count, read_range)
        if reason:
            return ScanResult(unscannable(reason), result.sha256, result.stored_bytes, result.scanned_bytes)
        return result

    def _range_reader(self, opened: OpenedObject) -> Callable[[int, int], bytes]:
        return lambda start, end: self.store.read_range(opened.pinned, start, end)


_SEVERITY = {
    ScanStatus.CLEAN: 0,
    ScanStatus.UNSCANNABLE: 1,
    ScanStatus.ERROR: 2,
    ScanStatus.INFECTED: 3,
    ScanStatus.RELEASED: 0,
}
"""Which of two verdicts on the same content counts: a detection over a failure over a blind spot over OK."""


def _result(verdict: Verdict, stored: StoredBytes, watched: Tap, sent: int) -> ScanResult:
    """Fail closed: OK only counts when clamd received everything and every stored byte was read."""
    if verdict.status is ScanStatus.CLEAN and not (stored.complete and watched.at_end and sent == watched.count):
        detail = f"short-stream:{stored.count}/{stored.expected_size}"
        return ScanResult(Verdict(ScanStatus.ERROR, detail), stored.sha256, stored.count, sent)
    return ScanResult(verdict, stored.sha256, stored.count, sent)
