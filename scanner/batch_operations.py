"""S3 Batch Operations `LambdaInvoke` events (invocation schema 1.0 and 2.0) and the per-task answer.

Schema 1.0 names the bucket by ARN (`s3BucketArn`), 2.0 by name (`s3Bucket`, plus the job's `userArguments`).
Keys arrive URL-encoded (AWS's Batch Operations guide; AWS Lambda Powertools decodes both schemas the same
way) and are decoded here, exactly once. The answer echoes the schema version and invocation id and gives every
task a result code: Succeeded (a final verdict, named in the result string), TemporaryFailure (Batch
Operations runs the task again) or PermanentFailure (reported as failed in the job's completion report).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote_plus

from scanner.events import ObjectRef

if TYPE_CHECKING:
    from scanner.process import Outcome

SCHEMA_VERSIONS: Final = ("1.0", "2.0")
SUCCEEDED: Final = "Succeeded"
TEMPORARY_FAILURE: Final = "TemporaryFailure"
PERMANENT_FAILURE: Final = "PermanentFailure"
TREAT_MISSING_KEYS_AS: Final = PERMANENT_FAILURE
"""A task left out of the answer (only one without a usable taskId) is reported failed, as in AWS's examples."""
MAX_RESULT_STRING: Final = 1024
_S3_MAX_KEY_BYTES: Final = 1024


@dataclass(frozen=True)
class Task:
    """One task of the event: the object it names, or why it names none."""

    task_id: str
    ref: ObjectRef | None = None
    malformed: str | None = None


@dataclass(frozen=True)
class TaskResult:
    task_id: str
    result_code: str
    result_string: str

    def document(self) -> dict[str, str]:
        return {"taskId": self.task_id, "resultCode": self.result_code, "resultString": self.result_string}


def is_batch_operations_event(event: Any) -> bool:
    """An S3 Batch Operations invocation: `invocationSchemaVersion`, `invocationId` and a `tasks` list."""
    return (
        isinstance(event, Mapping)
        and "invocationSchemaVersion" in event
        and isinstance(event.get("invocationId"), str)
        and isinstance(event.get("tasks"), list)
    )


def parse_tasks(event: Mapping[str, Any]) -> list[Task]:
    """Every task that can be answered (it has a taskId), each with its object or the reason it has none."""
    version = event.get("invocationSchemaVersion")
    tasks: list[Task] = []
    for raw in event.get("tasks") or []:
        task_id = raw.get("taskId") if isinstance(raw, Mapping) else None
        if not isinstance(task_id, str) or not task_id:
            continue  # cannot be answered: treatMissingKeysAs reports it
        if version not in SCHEMA_VERSIONS:
            tasks.append(Task(task_id, malformed=f"unsupported invocationSchemaVersion {version!r}"))
            continue
        try:
            tasks.append(Task(task_id, ref=_object_ref(raw, version)))
        except ValueError as err:
            tasks.append(Task(task_id, malformed=str(err)))
    return tasks


def _object_ref(task: Mapping[str, Any], version: str) -> ObjectRef:
    if version == "1.0":
        arn = task.get("s3BucketArn")
        if not isinstance(arn, str) or not arn.startswith("arn:"):
            raise ValueError("schema 1.0 task without an s3BucketArn")
        # arn:aws:s3:::bucket (and the regional form in AWS's example): the bucket is after the last ':'.
        bucket = arn.rsplit(":", 1)[-1]
    else:
        bucket = task.get("s3Bucket")
    if not isinstance(bucket, str) or not bucket or "/" in bucket:
        raise ValueError(f"task without a valid bucket ({bucket!r})")
    raw_key = task.get("s3Key")
    if not isinstance(raw_key, str) or not raw_key:
        raise ValueError("task without an s3Key")
    key = unquote_plus(raw_key)
    if len(key.encode()) > _S3_MAX_KEY_BYTES:
        raise ValueError(f"s3Key decodes to {len(key.encode())} bytes, above S3's 1,024")
    version_id = task.get("s3VersionId")
    if version_id is not None and not isinstance(version_id, str):
        raise ValueError(f"s3VersionId must be a string or null, got {type(version_id).__name__}")
    return ObjectRef(bucket=bucket, key=key, version_id=version_id or None)


def result_for(task: Task, outcome: Outcome | None) -> TaskResult:
    """Outcome -> result code: a retry is temporary, a vanished or refused object permanent, a verdict success."""
    if task.malformed is not None:
        return TaskResult(task.task_id, PERMANENT_FAILURE, _short(f"malformed task: {task.malformed}"))
    if outcome is None:
        return TaskResult(task.task_id, PERMANENT_FAILURE, "not scanned: the scanner processed no object for it")
    where = str(outcome.ref)
    if outcome.retry:
        why = ", ".join(outcome.problems) or (outcome.detail or "retry requested")
        return TaskResult(task.task_id, TEMPORARY_FAILURE, _short(f"retry {where}: {why}"))
    if outcome.skipped:
        return TaskResult(task.task_id, PERMANENT_FAILURE, _short(f"{outcome.skipped}: {where}"))
    if outcome.status is None or not outcome.status.is_final:
        status = outcome.status.value if outcome.status else "no verdict"
        return TaskResult(task.task_id, TEMPORARY_FAILURE, _short(f"{status} {outcome.detail or ''}".strip()))
    parts = [outcome.status.value]
    if outcome.detail:
        parts.append(outcome.detail)
    if outcome.quarantine_location:
        parts.append(f"-> {outcome.quarantine_location}")
    return TaskResult(task.task_id, SUCCEEDED, _short(" ".join(parts)))


def response(event: Mapping[str, Any], results: Sequence[TaskResult]) -> dict[str, Any]:
    """The answer Batch Operations reads: the event's schema version and invocation id, one result per task."""
    return {
        "invocationSchemaVersion": event.get("invocationSchemaVersion"),
        "treatMissingKeysAs": TREAT_MISSING_KEYS_AS,
        "invocationId": event.get("invocationId"),
        "results": [r.document() for r in results],
    }


def answer(event: Mapping[str, Any], tasks: Sequence[Task], outcomes: Mapping[str, Outcome | None]) -> dict[str, Any]:
    """`response` for tasks and their outcomes by task id (a task without one is answered PermanentFailure)."""
    return response(event, [result_for(t, outcomes.get(t.task_id)) for t in tasks])


def _short(text: str) -> str:
    return text[:MAX_RESULT_STRING]
