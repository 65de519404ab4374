"""Read runs (and receipt statistics) back from the table.

Every list query returns a `Page` (items plus an opaque `next_token` for the next page) and
has an `iter_*` twin that walks every page. Readers accept what every writer of the table left
(ours, the user's previous trainer, their client): logs with no `timestamp` attribute, logs
kept in parts; what the records hold is read by `run_records`.
"""

from __future__ import annotations

import base64
import json
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from . import keys
from .codec import decode_item
from .connection import TableRef, translate_errors
from .errors import AmbiguousJob, JobNotFound, StoreError
from .records import (
    JOB_STATUSES,
    VALIDATION_STATUSES,
    DatasetSnapshotRecord,
    Job,
    JobCheckpoint,
    JobLog,
    JobMetric,
    JobResource,
    JobStatus,
    LocalCheckpoint,
    ReceiptWordLabel,
)
from .retry import RetryPolicy

T = TypeVar("T")
BATCH_GET_LIMIT = 100


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_token: str | None = None


def _encode_token(key: dict[str, Any] | None) -> str | None:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode() if key else None


def _decode_token(token: str | None) -> dict[str, Any] | None:
    if not token:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError as exc:
        raise ValueError(f"invalid page token {token[:20]!r}") from exc


@dataclass
class LabelCounts:
    """VALID/INVALID/... counts per label, as the agent asks before training."""

    by_label: dict[str, dict[str, int]] = field(default_factory=dict)

    def total(self, status: str = "VALID") -> int:
        return sum(c.get(status, 0) for c in self.by_label.values())


@dataclass(frozen=True)
class MerchantSources:
    """How many receipts of the table have a merchant, and from where (`Queries.merchant_sources`)."""

    receipts: int
    place: int
    labelled_words: int
    none: int
    distinct_places: int

    def to_dict(self) -> dict[str, int]:
        return {
            "receipts": self.receipts,
            "place": self.place,
            "labelled_words": self.labelled_words,
            "none": self.none,
            "distinct_places": self.distinct_places,
        }


@dataclass(frozen=True)
class WordLabelStates:
    """Words of the table that carry label items, by label state: `labelled` (an item with
    one of `statuses`), `unknown` (items, none with one of them: the words a snapshot build
    leaves out of training and scoring, or trains as O with `--unvalidated o`)."""

    statuses: tuple[str, ...]
    labelled_words: int = 0
    unknown_words: int = 0
    unknown_by_label: dict[str, dict[str, int]] = field(default_factory=dict)
    """Unknown words per label name their items carry, and status."""


@runtime_checkable
class JobReader(Protocol):
    """The reads of jobs that code running other jobs needs (a sweep's trials, a review's
    folds): `Queries` on a table, `MemoryJobs` in memory."""

    def get_job(self, job_id: str) -> Job: ...

    def find_job(self, job_ref: str) -> Job: ...

    def jobs_by_parent(self, parent_job_id: str) -> list[Job]: ...

    def iter_job_metrics(self, job_id: str, metric_name: str | None = None) -> Iterator[JobMetric]: ...

    def latest_status(self, job_id: str) -> JobStatus | None: ...


class Queries:
    def __init__(self, table: TableRef):
        self.table = table

    # --- primitives -------------------------------------------------------------------

    def _query_page(
        self, decode: Callable[[dict], T], *, limit: int | None, token: str | None, **kwargs: Any
    ) -> Page[T]:
        """One logical page: keeps querying until `limit` items pass the filter or the end."""
        items: list[T] = []
        start = _decode_token(token)
        with translate_errors(self.table.name, self.table.endpoint_url):
            while True:
                request: dict[str, Any] = dict(TableName=self.table.name, **kwargs)
                if start:
                    request["ExclusiveStartKey"] = start
                if limit:
                    request["Limit"] = limit - len(items)
                response = self.table.client.query(**request)
                items.extend(decode(i) for i in response.get("Items", []))
                start = response.get("LastEvaluatedKey")
                if not start or (limit and len(items) >= limit):
                    return Page(items, _encode_token(start))

    def _in_job(
        self,
        job_id: str,
        prefix: str,
        decode: Callable[[dict], T],
        *,
        limit: int | None = None,
        token: str | None = None,
        newest_first: bool = False,
    ) -> Page[T]:
        """Items of one job whose sort key starts with `prefix` (METRIC#, LOG#, STATUS#...)."""
        return self._query_page(
            decode,
            limit=limit,
            token=token,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
            ExpressionAttributeValues={":pk": {"S": keys.job_pk(job_id)}, ":prefix": {"S": prefix}},
            ScanIndexForward=not newest_first,
        )

    def _iterate(self, page_fn: Callable[..., Page[T]], *args: Any, **kwargs: Any) -> Iterator[T]:
        token = None
        while True:
            page = page_fn(*args, token=token, **kwargs)
            yield from page.items
            token = page.next_token
            if not token:
                return

    # --- jobs -------------------------------------------------------------------------

    def get_job(self, job_id: str) -> Job:
        with translate_errors(self.table.name, self.table.endpoint_url):
            item = self.table.client.get_item(
                TableName=self.table.name,
                Key={"PK": {"S": keys.job_pk(job_id)}, "SK": {"S": "JOB"}},
                ConsistentRead=True,
            ).get("Item")
        if item is None:
            raise JobNotFound(job_id)
        return Job.from_item(item)

    def find_job(self, job_ref: str) -> Job:
        """A job by id, unique id prefix (8+ characters) or name. A name or prefix that two
        jobs share is refused (`AmbiguousJob`, listing them): nothing picks one silently."""
        try:
            return self.get_job(job_ref)
        except JobNotFound:
            pass
        by_name = self.jobs_by_name(job_ref, limit=None).items
        if len(by_name) > 1:
            raise AmbiguousJob(job_ref, "name", by_name)
        if by_name:
            return by_name[0]
        if len(job_ref) >= 8:
            matches = [j for j in self.iter_all_jobs() if j.job_id.startswith(job_ref)]
            if len(matches) > 1:
                raise AmbiguousJob(job_ref, "id prefix", matches)
            if matches:
                return matches[0]
        raise JobNotFound(job_ref)

    def jobs_by_status(self, status: str, *, limit: int | None = 50, token: str | None = None) -> Page[Job]:
        """Jobs in a status, newest first. Job and JobStatus share GSI1's STATUS# partitions,
        so this filters on TYPE=JOB."""
        return self._query_page(
            Job.from_item,
            limit=limit,
            token=token,
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :pk AND begins_with(GSI1SK, :created)",
            FilterExpression="#type = :job",
            ExpressionAttributeNames={"#type": "TYPE"},
            ExpressionAttributeValues={
                ":pk": {"S": keys.job_status_gsi1pk(status)},
                ":created": {"S": "CREATED#"},
                ":job": {"S": "JOB"},
            },
            ScanIndexForward=False,
        )

    def iter_jobs_by_status(self, status: str) -> Iterator[Job]:
        return self._iterate(self.jobs_by_status, status, limit=None)

    def iter_all_jobs(self) -> Iterator[Job]:
        for status in ("running", "pending", "interrupted", "failed", "succeeded", "cancelled"):
            yield from self.iter_jobs_by_status(status)

    def jobs_by_parent(self, parent_job_id: str) -> list[Job]:
        """The jobs another job started (`Job.parent_job_id`), oldest first. There is no index
        on the parent: each status partition of GSI1 is read with a filter, as `iter_all_jobs`."""
        children: list[Job] = []
        for status in JOB_STATUSES:
            children += self._query_page(
                Job.from_item,
                limit=None,
                token=None,
                IndexName="GSI1",
                KeyConditionExpression="GSI1PK = :pk AND begins_with(GSI1SK, :created)",
                FilterExpression="#type = :job AND parent_job_id = :parent",
                ExpressionAttributeNames={"#type": "TYPE"},
                ExpressionAttributeValues={
                    ":pk": {"S": keys.job_status_gsi1pk(status)},
                    ":created": {"S": "CREATED#"},
                    ":job": {"S": "JOB"},
                    ":parent": {"S": parent_job_id},
                },
            ).items
        return sorted(children, key=lambda j: (j.created_at, j.job_id))

    def jobs_by_name(self, name: str, *, limit: int | None = 50, token: str | None = None) -> Page[Job]:
        return self._query_page(
            Job.from_item,
            limit=limit,
            token=token,
            IndexName="GSI2",
            KeyConditionExpression="GSI2PK = :pk",
            ExpressionAttributeValues={":pk": {"S": keys.job_name_gsi2pk(name)}},
            ScanIndexForward=False,
        )

    def job_metrics(
        self, job_id: str, metric_name: str | None = None, *, limit: int | None = None, token: str | None = None
    ) -> Page[JobMetric]:
        prefix = keys.metric_sk(metric_name, "") if metric_name else "METRIC#"
        return self._in_job(job_id, prefix, JobMetric.from_item, limit=limit, token=token)

    def iter_job_metrics(self, job_id: str, metric_name: str | None = None) -> Iterator[JobMetric]:
        return self._iterate(self.job_metrics, job_id, metric_name)

    def metric_over_time(
        self, metric_name: str, *, limit: int | None = 100, token: str | None = None, newest_first: bool = True
    ) -> Page[JobMetric]:
        """One metric across all jobs, by time (GSI1)."""
        return self._query_page(
            JobMetric.from_item,
            limit=limit,
            token=token,
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :pk",
            ExpressionAttributeValues={":pk": {"S": keys.metric_gsi_pk(metric_name)}},
            ScanIndexForward=not newest_first,
        )

    def metric_by_job(
        self, metric_name: str, *, job_id: str | None = None, limit: int | None = 100, token: str | None = None
    ) -> Page[JobMetric]:
        """One metric across jobs grouped by job (GSI2), optionally for one job."""
        condition = "GSI2PK = :pk"
        values = {":pk": {"S": keys.metric_gsi_pk(metric_name)}}
        if job_id:
            condition += " AND begins_with(GSI2SK, :job)"
            values[":job"] = {"S": f"JOB#{job_id}#"}
        return self._query_page(
            JobMetric.from_item,
            limit=limit,
            token=token,
            IndexName="GSI2",
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
        )

    def job_logs(
        self, job_id: str, *, limit: int | None = None, token: str | None = None, newest_first: bool = False
    ) -> Page[JobLog]:
        """Logs of a job, whoever wrote them (the time of a log is its sort key: the user's
        client writes no `timestamp` attribute), with messages kept in part items joined again:
        `LOG_PART#` items (`message_parts` on the head) and, from older releases of ours,
        `LOG#<ts>#PART#` items after a head that holds the first part (`parts`)."""
        page = self._in_job(job_id, "LOG#", lambda item: item, limit=limit, token=token, newest_first=newest_first)
        legacy_parts: dict[str, dict[int, str]] = defaultdict(dict)
        heads = []
        for item in page.items:
            if item["TYPE"]["S"] == "JOB_LOG_PART":  # an older release kept parts under LOG#<ts>#PART#
                row = decode_item(item)
                legacy_parts[keys.parse_log_sk(row["SK"]).split("#")[0]][int(row["part"])] = row["message"]
            else:
                heads.append(item)
        logs: list[JobLog] = []
        for item in heads:
            log = JobLog.from_item(item)
            if "message_parts" in item:
                whole = self._log_parts(job_id, keys.log_part_prefix(log.timestamp), int(item["message_parts"]["N"]))
                if whole is not None:
                    log = replace(log, message=whole)
            elif "parts" in item and int(item["parts"]["N"]) > 1:
                rest = legacy_parts.get(log.timestamp) or self._legacy_log_parts(job_id, log.timestamp)
                log = replace(
                    log, message=log.message + "".join(rest.get(i, "") for i in range(2, int(item["parts"]["N"]) + 1))
                )
            logs.append(log)
        return Page(logs, page.next_token)

    def _log_parts(self, job_id: str, prefix: str, expected: int) -> str | None:
        """The whole message from its part items, or None when some are missing."""
        rows = self._in_job(job_id, prefix, decode_item).items
        parts = {int(r["part"]): r["message"] for r in rows}
        if sorted(parts) != list(range(1, expected + 1)):
            return None
        return "".join(parts[i] for i in range(1, expected + 1))

    def _legacy_log_parts(self, job_id: str, timestamp: str) -> dict[int, str]:
        page = self._in_job(job_id, f"{keys.log_sk(timestamp)}#PART#", decode_item)
        return {int(r["part"]): r["message"] for r in page.items}

    def iter_job_logs(self, job_id: str) -> Iterator[JobLog]:
        return self._iterate(self.job_logs, job_id)

    def structured_logs(self, job_id: str, log_type: str) -> list[dict[str, Any]]:
        """JSON logs of one `type` (e.g. `run_config`, `run_summary`), oldest first."""
        found = []
        for log in self.iter_job_logs(job_id):
            if log.message.startswith("{"):
                try:
                    payload = json.loads(log.message)
                except ValueError:
                    continue
                if isinstance(payload, dict) and payload.get("type") == log_type:
                    found.append(payload)
        return found

    def status_history(self, job_id: str) -> list[JobStatus]:
        return self._in_job(job_id, "STATUS#", JobStatus.from_item).items

    def latest_status(self, job_id: str) -> JobStatus | None:
        page = self._in_job(job_id, "STATUS#", JobStatus.from_item, limit=1, newest_first=True)
        return page.items[0] if page.items else None

    def checkpoints(self, job_id: str) -> list[JobCheckpoint]:
        """Uploaded checkpoints (JobCheckpoint items) and local ones (ours), oldest first."""
        uploaded = self._in_job(job_id, "CHECKPOINT#", JobCheckpoint.from_item).items
        local = [c.as_checkpoint() for c in self._in_job(job_id, "LOCAL_CHECKPOINT#", LocalCheckpoint.from_item).items]
        return sorted(uploaded + local, key=lambda c: c.timestamp)

    def best_checkpoint(self, job_id: str) -> JobCheckpoint | None:
        best = [c for c in self.checkpoints(job_id) if c.is_best]
        return best[-1] if best else None

    def resources(self, job_id: str) -> list[JobResource]:
        return self._in_job(job_id, "RESOURCE#", JobResource.from_item).items

    # --- receipts -------------------------------------------------------------------------

    def word_labels(
        self, keys_: Iterable[tuple[str, str]], *, max_attempts: int = 10
    ) -> dict[tuple[str, str], ReceiptWordLabel]:
        """The ReceiptWordLabel items at these (PK, SK) keys that exist (BatchGetItem, 100 keys
        a request, unprocessed keys asked again with backoff), consistent reads."""
        wanted = list(dict.fromkeys(keys_))
        found: dict[tuple[str, str], ReceiptWordLabel] = {}
        rng = random.Random()
        for start in range(0, len(wanted), BATCH_GET_LIMIT):
            pending: list[dict[str, Any]] = [
                {"PK": {"S": pk}, "SK": {"S": sk}} for pk, sk in wanted[start : start + BATCH_GET_LIMIT]
            ]
            for attempt in range(max_attempts):
                with translate_errors(self.table.name, self.table.endpoint_url):
                    response = self.table.client.batch_get_item(
                        RequestItems={self.table.name: {"Keys": pending, "ConsistentRead": True}}
                    )
                for item in response.get("Responses", {}).get(self.table.name, []):
                    found[(item["PK"]["S"], item["SK"]["S"])] = ReceiptWordLabel.from_item(item)
                pending = response.get("UnprocessedKeys", {}).get(self.table.name, {}).get("Keys", [])
                if not pending:
                    break
                time.sleep(RetryPolicy().delay(attempt, rng))
            else:
                raise StoreError(f"BatchGetItem kept returning {len(pending)} unprocessed keys")
        return found

    # --- datasets -------------------------------------------------------------------------

    def snapshot_records(self, snapshot_id: str | None = None) -> list[DatasetSnapshotRecord]:
        if snapshot_id:
            return self._query_page(
                DatasetSnapshotRecord.from_item,
                limit=None,
                token=None,
                IndexName="GSI2",
                KeyConditionExpression="GSI2PK = :pk",
                ExpressionAttributeValues={":pk": {"S": keys.snapshot_id_gsi2pk(snapshot_id)}},
            ).items
        return self._query_page(
            DatasetSnapshotRecord.from_item,
            limit=None,
            token=None,
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :pk",
            ExpressionAttributeValues={":pk": {"S": "DATASET_SNAPSHOT"}},
        ).items

    def count_by_type(self, item_type: str) -> int:
        """Items of one TYPE (GSITYPE), counted server-side."""
        total = 0
        start = None
        with translate_errors(self.table.name, self.table.endpoint_url):
            while True:
                request = dict(
                    TableName=self.table.name,
                    IndexName="GSITYPE",
                    Select="COUNT",
                    KeyConditionExpression="#type = :type",
                    ExpressionAttributeNames={"#type": "TYPE"},
                    ExpressionAttributeValues={":type": {"S": item_type}},
                )
                if start:
                    request["ExclusiveStartKey"] = start
                response = self.table.client.query(**request)
                total += response["Count"]
                start = response.get("LastEvaluatedKey")
                if not start:
                    return total

    def count_receipts(self) -> int:
        return self.count_by_type("RECEIPT")

    def label_counts(self, labels: list[str] | None = None) -> LabelCounts:
        """Label items per label and validation status. With `labels`, one GSI1 query per
        label (cheap); without, one pass over the RECEIPT_WORD_LABEL type index."""
        counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(VALIDATION_STATUSES, 0))
        projection = {"ProjectionExpression": "SK, validation_status"}
        if labels:
            for label in labels:
                page = self._query_page(
                    decode_item,
                    limit=None,
                    token=None,
                    IndexName="GSI1",
                    KeyConditionExpression="GSI1PK = :pk",
                    ExpressionAttributeValues={":pk": {"S": keys.label_gsi1pk(label)}},
                    **projection,
                )
                counts[label]  # noqa: B018 - a label with no items still gets a row of zeros
                for row in page.items:
                    counts[label][row.get("validation_status") or "NONE"] += 1
        else:
            page = self._query_page(
                decode_item,
                limit=None,
                token=None,
                IndexName="GSITYPE",
                KeyConditionExpression="#type = :type",
                ExpressionAttributeNames={"#type": "TYPE"},
                ExpressionAttributeValues={":type": {"S": "RECEIPT_WORD_LABEL"}},
                **projection,
            )
            for row in page.items:
                label = keys.parse_word_sk(row["SK"])[3] or ""
                counts[label][row.get("validation_status") or "NONE"] += 1
        return LabelCounts({k: dict(v) for k, v in sorted(counts.items())})

    def merchant_sources(self) -> MerchantSources:
        """Where the receipts' merchants would come from in a snapshot build: a ReceiptPlace, else
        words VALID-labelled MERCHANT_NAME (or its legacy name BUSINESS_NAME), else nowhere.
        One pass over the places (type index) and two label partitions (GSI1), keys only."""
        places: dict[tuple[str, str], str] = {}
        for row in self._query_page(
            decode_item,
            limit=None,
            token=None,
            IndexName="GSITYPE",
            KeyConditionExpression="#type = :type",
            ExpressionAttributeNames={"#type": "TYPE"},
            ExpressionAttributeValues={":type": {"S": "RECEIPT_PLACE"}},
            ProjectionExpression="PK, SK, merchant_name",
        ).items:
            if str(row.get("merchant_name") or "").strip():
                places[(row["PK"], row["SK"].removesuffix("#PLACE"))] = str(row["merchant_name"]).strip().lower()
        named: set[tuple[str, str]] = set()
        for label in ("MERCHANT_NAME", "BUSINESS_NAME"):
            for row in self._query_page(
                decode_item,
                limit=None,
                token=None,
                IndexName="GSI1",
                KeyConditionExpression="GSI1PK = :pk",
                ExpressionAttributeValues={":pk": {"S": keys.label_gsi1pk(label)}},
                ProjectionExpression="PK, SK, validation_status",
            ).items:
                if row.get("validation_status") == "VALID":
                    named.add((row["PK"], row["SK"].split("#LINE#")[0]))
        receipts = self.count_receipts()
        from_words = len(named - set(places))
        return MerchantSources(
            receipts, len(places), from_words, max(receipts - len(places) - from_words, 0), len(set(places.values()))
        )

    def word_label_states(self, statuses: tuple[str, ...] = ("VALID",)) -> WordLabelStates:
        """Labelled and unknown words (see `WordLabelStates`), from one pass over the
        RECEIPT_WORD_LABEL type index (keys and status only)."""
        page = self._query_page(
            decode_item,
            limit=None,
            token=None,
            IndexName="GSITYPE",
            KeyConditionExpression="#type = :type",
            ExpressionAttributeNames={"#type": "TYPE"},
            ExpressionAttributeValues={":type": {"S": "RECEIPT_WORD_LABEL"}},
            ProjectionExpression="PK, SK, validation_status",
        )
        return _word_label_states(page.items, tuple(statuses))


def _word_label_states(items: list[dict[str, Any]], statuses: tuple[str, ...]) -> WordLabelStates:
    words: dict[tuple[str, int, int, int], list[tuple[str, str]]] = defaultdict(list)
    for row in items:
        rid, lid, wid, label = keys.parse_word_sk(row["SK"])
        words[(row["PK"], rid, lid, wid)].append((label or "", row.get("validation_status") or "NONE"))
    labelled = 0
    unknown: dict[str, dict[str, set]] = defaultdict(lambda: defaultdict(set))
    for word, word_items in words.items():
        if any(status in statuses for _, status in word_items):
            labelled += 1
            continue
        for label, status in word_items:
            unknown[label][status].add(word)
    by_label = {label: {status: len(w) for status, w in sorted(per.items())} for label, per in sorted(unknown.items())}
    return WordLabelStates(statuses, labelled, len(words) - labelled, by_label)
