"""Exceptions raised by the scanner, all under one base."""

from __future__ import annotations


class ScannerError(Exception):
    """Base of every error the scanner raises on purpose."""


class SettingsError(ScannerError):
    """A setting from the environment is missing or invalid; the message names it."""


class MalformedEventError(ScannerError):
    """An event does not have the shape of any event the handler accepts; the message says what is missing."""


class ClamdError(ScannerError):
    """clamd could not give a verdict."""


class ClamdUnavailableError(ClamdError):
    """clamd is not running or does not accept connections."""


class ClamdStartError(ClamdUnavailableError):
    """clamd did not answer PING within the start timeout."""


class ClamdConnectionError(ClamdError):
    """The connection to clamd broke or timed out during a command."""


class TransientError(ScannerError):
    """A failure worth retrying (S3 error after botocore's retries, clamd down after a restart)."""


class SourceReadError(ScannerError):
    """Reading the object from S3 failed mid-stream (never a clamd failure, never a verdict)."""


class QuarantineError(ScannerError):
    """The quarantine copy failed or could not be verified; the source object was kept."""


class DefinitionsError(ScannerError):
    """Virus definitions could not be fetched, verified or published."""


class AllowListError(ScannerError):
    """The release allow-list could not be read or written."""
