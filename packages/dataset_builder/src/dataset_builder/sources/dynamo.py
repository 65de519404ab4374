"""Read-only access to the receipts table: the only place dataset_builder talks to DynamoDB.

How a build reads (strategy `query`, the default):
1. Find the receipts that have a label with a requested status: the GSI3 partition
   `VALIDATION_STATUS#<status>` lists those labels, keys only. One partition is read as 16
   concurrent key ranges (image ids are UUIDs, so the first hex digit spreads them evenly),
   instead of one long sequential pagination.
2. Fetch each selected receipt's words and labels with one GSI4 query, with a bounded thread
   pool. The key range starts at `3_WORD`, so the server never reads the receipt's lines
   (`2_LINE`), and a projection keeps only the attributes the build uses. Receipt headers
   (size) and places (the merchant: the user's table keeps it on `ReceiptPlace`, not on the
   Receipt) come from one paginated GSITYPE query each.
3. Response bodies skip botocore's parser (see `_keep_raw_body`): its shape-driven walk over
   every attribute value cost more CPU than DynamoDB Local itself; `json.loads` of the same
   wire format costs a fraction.

Strategy `scan` (a parallel scan of the whole table, filtered by TYPE) reads every item of
the table, including the unrelated ones the user's table holds (images, letters,
embeddings...), so it only pays on a table that holds little else; `bench/bench_snapshot.py`
measures both against the sequential loader the old trainer used.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import polars as pl

from metrics_store import TableRef, translate_errors
from metrics_store.keys import (
    receipt_key,
    utc_now_iso,
    validation_status_gsi3pk,
)

from ..config import READ_STRATEGIES, ConfigError
from ..dataset import RawRead

ENTITY_TYPES = ("RECEIPT", "RECEIPT_WORD", "RECEIPT_WORD_LABEL", "RECEIPT_PLACE")
_PROJECTED = (
    "PK",
    "SK",
    "TYPE",
    "width",
    "height",
    "merchant_name",
    "text",
    "top_left",
    "top_right",
    "bottom_left",
    "bottom_right",
    "extracted_data",
    "validation_status",
    "timestamp_added",
)
_NAMES = {f"#a{i}": name for i, name in enumerate(_PROJECTED)}
_PROJECTION = ", ".join(_NAMES)
_TYPE_FILTER = "#a2 IN (:t0, :t1, :t2, :t3)"
_TYPE_VALUES = {f":t{i}": {"S": t} for i, t in enumerate(ENTITY_TYPES)}
_HEX = "123456789abcdef"

Progress = Callable[[int, int], None]
_RAW_BODY = "ReceiptMlRawBody"
_reading = threading.local()


def _keep_raw_body(response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any) -> None:
    """botocore `before-parse` hook: while this thread reads for a snapshot, hand the JSON body
    over untouched and give botocore's parser an empty one. DynamoDB's wire format for items
    is exactly the `{"S": ...}` form the low-level client returns, so nothing else changes;
    errors (non-200) are parsed as usual."""
    if getattr(_reading, "raw", False) and response_dict.get("status_code") == 200:
        customized_response_dict[_RAW_BODY] = response_dict["body"]
        response_dict["body"] = b"{}"


def _key_ranges(prefix: str) -> list[tuple[str, dict[str, Any]]]:
    """Sort-key conditions that together cover every `IMAGE#...` key exactly once."""
    bounds = [f"{prefix}{c}" for c in _HEX]
    ranges = [("GSI3SK < :hi", {":hi": {"S": bounds[0]}})]
    ranges += [
        ("GSI3SK BETWEEN :lo AND :hi", {":lo": {"S": lo}, ":hi": {"S": hi}})
        for lo, hi in zip(bounds, bounds[1:], strict=False)
    ]
    ranges.append(("GSI3SK >= :lo", {":lo": {"S": bounds[-1]}}))
    return ranges


LABEL_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
"""A label name the build can use: what the user's client writes (upper-case, no `#`)."""


def label_name(sk: str) -> tuple[str | None, str | None]:
    """The label of a word-label sort key `RECEIPT#..#LINE#..#WORD#..#LABEL#<NAME>`, as the
    user's client spells it (stripped, upper-case), or (None, why) for a key that cannot be
    parsed (`...#LABEL#LINE_TOTAL#2`: a label with a `#` is not one label name)."""
    head, sep, name = sk.partition("#LABEL#")
    if not sep or head.count("#") != 5:
        return None, "not a word-label sort key"
    canonical = name.strip().upper()
    if not LABEL_NAME.match(canonical):
        return None, f"label {name!r} is not one upper-case name"
    return canonical, None


class _Rows:
    """Column lists filled from raw items, turned into frames at the end."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.receipts: dict[str, list] = {k: [] for k in ("image_id", "receipt_id", "width", "height")}
        self.places: dict[str, list] = {k: [] for k in ("image_id", "receipt_id", "place_merchant")}
        self.refused: dict[str, list] = {k: [] for k in ("pk", "sk", "reason")}
        self.words: dict[str, list] = {
            k: []
            for k in (
                "image_id",
                "receipt_id",
                "line_id",
                "word_id",
                "text",
                "tl_x",
                "tl_y",
                "tr_x",
                "tr_y",
                "bl_x",
                "bl_y",
                "br_x",
                "br_y",
                "entity_id",
            )
        }
        self.labels: dict[str, list] = {
            k: []
            for k in ("image_id", "receipt_id", "line_id", "word_id", "label", "validation_status", "timestamp_added")
        }

    def add(self, items: list[dict[str, Any]]) -> None:
        receipts, words, labels, places, refused = [], [], [], [], []
        for item in items:
            kind = item["TYPE"]["S"]
            image_id = item["PK"]["S"][6:]
            parts = item["SK"]["S"].split("#")
            if kind == "RECEIPT_WORD":
                extracted = item.get("extracted_data", {}).get("M") or {}
                entity = extracted.get("entity_id")
                words.append(
                    (
                        image_id,
                        int(parts[1]),
                        int(parts[3]),
                        int(parts[5]),
                        item.get("text", {}).get("S", ""),
                        *(
                            float(item[c]["M"][axis]["N"])
                            for c in ("top_left", "top_right", "bottom_left", "bottom_right")
                            for axis in ("x", "y")
                        ),
                        (entity.get("S") or entity.get("N")) if entity else None,
                    )
                )
            elif kind == "RECEIPT_WORD_LABEL":
                name, why = label_name(item["SK"]["S"])
                if name is None:
                    refused.append((item["PK"]["S"], item["SK"]["S"], why))
                    continue
                labels.append(
                    (
                        image_id,
                        int(parts[1]),
                        int(parts[3]),
                        int(parts[5]),
                        name,
                        item.get("validation_status", {}).get("S") or "NONE",
                        item.get("timestamp_added", {}).get("S"),
                    )
                )
            elif kind == "RECEIPT":
                receipts.append((image_id, int(parts[1]), int(item["width"]["N"]), int(item["height"]["N"])))
            elif kind == "RECEIPT_PLACE":
                merchant = (item.get("merchant_name") or {}).get("S") or ""
                if merchant.strip():
                    places.append((image_id, int(parts[1]), merchant.strip()))
        with self.lock:
            for target, batch in (
                (self.receipts, receipts),
                (self.words, words),
                (self.labels, labels),
                (self.places, places),
                (self.refused, refused),
            ):
                if batch:
                    for column, values in zip(target.values(), zip(*batch, strict=True), strict=True):
                        column.extend(values)

    def frames(self) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        """(receipts, words, labels); receipts carry `place_merchant`, their place's merchant."""
        ints = {"receipt_id": pl.Int32, "line_id": pl.Int32, "word_id": pl.Int32}
        places = pl.DataFrame(
            self.places, schema={"image_id": pl.Utf8, "receipt_id": pl.Int32, "place_merchant": pl.Utf8}
        )
        receipts = pl.DataFrame(
            self.receipts, schema={"image_id": pl.Utf8, "receipt_id": pl.Int32, "width": pl.Int32, "height": pl.Int32}
        ).join(places.unique(["image_id", "receipt_id"], keep="first"), on=["image_id", "receipt_id"], how="left")
        word_schema = {
            "image_id": pl.Utf8,
            **ints,
            "text": pl.Utf8,
            **{c: pl.Float64 for c in list(self.words)[5:13]},
            "entity_id": pl.Utf8,
        }
        words = pl.DataFrame(self.words, schema=word_schema)
        labels = pl.DataFrame(
            self.labels,
            schema={
                "image_id": pl.Utf8,
                **ints,
                "label": pl.Utf8,
                "validation_status": pl.Utf8,
                "timestamp_added": pl.Utf8,
            },
        )
        return receipts, words, labels

    def refused_frame(self) -> pl.DataFrame:
        """Label items whose key cannot be parsed (`label_name`): never used, always reported."""
        return pl.DataFrame(self.refused, schema={"pk": pl.Utf8, "sk": pl.Utf8, "reason": pl.Utf8})


class TableReader:
    def __init__(self, table: TableRef, *, concurrency: int = 16):
        self.table = table
        self.concurrency = max(1, concurrency)
        self.requests = 0
        self._lock = threading.Lock()
        events = table.client.meta.events
        for operation in ("Query", "Scan"):
            events.register(
                f"before-parse.dynamodb.{operation}", _keep_raw_body, unique_id=f"receipt-ml-raw-{operation}"
            )

    def _pages(self, operation: str, **request: Any) -> Iterator[list[dict[str, Any]]]:
        request["TableName"] = self.table.name
        call = getattr(self.table.client, operation)
        with translate_errors(self.table.name, self.table.endpoint_url):
            while True:
                with self._lock:
                    self.requests += 1
                _reading.raw = True
                try:
                    response = call(**request)
                finally:
                    _reading.raw = False
                body = json.loads(response[_RAW_BODY]) if _RAW_BODY in response else response
                yield body.get("Items", [])
                if "LastEvaluatedKey" not in body:
                    return
                request["ExclusiveStartKey"] = body["LastEvaluatedKey"]

    def receipt_keys_with_status(self, statuses: tuple[str, ...]) -> list[tuple[str, int]]:
        """(image_id, receipt_id) of every receipt with a label in one of `statuses`."""
        jobs = [(validation_status_gsi3pk(s), cond, values) for s in statuses for cond, values in _key_ranges("IMAGE#")]

        def one_range(job: tuple[str, str, dict]) -> set[tuple[str, int]]:
            pk, condition, values = job
            found = set()
            for page in self._pages(
                "query",
                IndexName="GSI3",
                KeyConditionExpression=f"GSI3PK = :pk AND {condition}",
                ExpressionAttributeValues={":pk": {"S": pk}, **values},
                ProjectionExpression="GSI3SK",
            ):
                for item in page:
                    parts = item["GSI3SK"]["S"].split("#")  # IMAGE#<id>#RECEIPT#<rid>#LINE#...
                    found.add((parts[1], int(parts[3])))
            return found

        with ThreadPoolExecutor(self.concurrency) as pool:
            keys: set[tuple[str, int]] = set().union(*pool.map(one_range, jobs))
        return sorted(keys)

    def fetch_receipt(self, image_id: str, receipt_id: int) -> list[dict[str, Any]]:
        """A receipt's words and labels (GSI4 keys `3_WORD...`, `4_LABEL...`)."""
        items: list[dict[str, Any]] = []
        for page in self._pages(
            "query",
            IndexName="GSI4",
            KeyConditionExpression="GSI4PK = :pk AND GSI4SK >= :words",
            FilterExpression=_TYPE_FILTER,
            ProjectionExpression=_PROJECTION,
            ExpressionAttributeNames=_NAMES,
            ExpressionAttributeValues={
                ":pk": {"S": receipt_key(image_id, receipt_id)},
                ":words": {"S": "3_WORD"},
                **_TYPE_VALUES,
            },
        ):
            items.extend(page)
        return items

    def receipt_headers(self, wanted: set[tuple[str, int]] | None) -> list[dict[str, Any]]:
        """The Receipt and ReceiptPlace items of `wanted` receipts (None: of every receipt in
        the table), from one pass over each type's partition of the type index."""
        found = []
        for kind in ("RECEIPT", "RECEIPT_PLACE"):
            for page in self._pages(
                "query",
                IndexName="GSITYPE",
                KeyConditionExpression="#a2 = :t0",
                ProjectionExpression=_PROJECTION,
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues={":t0": {"S": kind}},
            ):
                found += [
                    i for i in page if wanted is None or (i["PK"]["S"][6:], int(i["SK"]["S"].split("#")[1])) in wanted
                ]
        return found

    def receipt_header(self, image_id: str, receipt_id: int) -> list[dict[str, Any]]:
        """The Receipt item of one receipt and its ReceiptPlace (GSI4 keys `0_RECEIPT`, `1_PLACE`;
        empty when the table has no such receipt)."""
        found: list[dict[str, Any]] = []
        for page in self._pages(
            "query",
            IndexName="GSI4",
            KeyConditionExpression="GSI4PK = :pk AND GSI4SK BETWEEN :receipt AND :place",
            FilterExpression=_TYPE_FILTER,
            ProjectionExpression=_PROJECTION,
            ExpressionAttributeNames=_NAMES,
            ExpressionAttributeValues={
                ":pk": {"S": receipt_key(image_id, receipt_id)},
                ":receipt": {"S": "0_RECEIPT"},
                ":place": {"S": "1_PLACE"},
                **_TYPE_VALUES,
            },
        ):
            found.extend(page)
        return found

    def read_receipts(self, keys: Sequence[tuple[str, int]], *, progress: Progress | None = None) -> RawRead:
        """Headers, words and labels of the given receipts, whatever their labels' status (the
        receipts a prediction is asked for). A key the table does not hold reads as nothing."""
        started = utc_now_iso()
        rows = _Rows()
        done = 0
        with ThreadPoolExecutor(self.concurrency) as pool:
            for items in pool.map(lambda k: self.receipt_header(*k) + self.fetch_receipt(*k), keys):
                rows.add(items)
                done += 1
                if progress:
                    progress(done, len(keys))
        receipts, words, labels = rows.frames()
        return RawRead(
            receipts,
            words,
            labels,
            started,
            utc_now_iso(),
            {"strategy": "keys", "requests": self.requests},
            rows.refused_frame(),
        )

    def read(self, statuses: tuple[str, ...], *, strategy: str = "query", progress: Progress | None = None) -> RawRead:
        if strategy not in READ_STRATEGIES:
            raise ConfigError(f"unknown read strategy {strategy!r}; choose from {', '.join(READ_STRATEGIES)}")
        started = utc_now_iso()
        rows = _Rows()
        if strategy == "query":
            keys = self.receipt_keys_with_status(statuses)
            rows.add(self.receipt_headers(set(keys)))
            done = 0
            if progress:
                progress(0, len(keys))
            with ThreadPoolExecutor(self.concurrency) as pool:
                for items in pool.map(lambda k: self.fetch_receipt(*k), keys):
                    rows.add(items)
                    done += 1
                    if progress:
                        progress(done, len(keys))
        else:
            self._parallel_scan(rows, progress)
        receipts, words, labels = rows.frames()
        return RawRead(
            receipts,
            words,
            labels,
            started,
            utc_now_iso(),
            {"strategy": strategy, "requests": self.requests},
            rows.refused_frame(),
        )

    def read_every_receipt(self, *, strategy: str = "query", progress: Progress | None = None) -> RawRead:
        """Every receipt of the table with its words and labels, whatever its labels' status,
        including receipts with no label item at all (what a corpus is built from). `query`:
        the receipts come from the RECEIPT partition of the type index (not from their labels,
        as `read` selects them), then one GSI4 query per receipt; `scan` reads the table once."""
        if strategy not in READ_STRATEGIES:
            raise ConfigError(f"unknown read strategy {strategy!r}; choose from {', '.join(READ_STRATEGIES)}")
        started = utc_now_iso()
        rows = _Rows()
        if strategy == "query":
            headers = self.receipt_headers(None)
            rows.add(headers)
            keys = sorted(
                {(i["PK"]["S"][6:], int(i["SK"]["S"].split("#")[1])) for i in headers if i["TYPE"]["S"] == "RECEIPT"}
            )
            if progress:
                progress(0, len(keys))
            with ThreadPoolExecutor(self.concurrency) as pool:
                for done, items in enumerate(pool.map(lambda k: self.fetch_receipt(*k), keys), start=1):
                    rows.add(items)
                    if progress:
                        progress(done, len(keys))
        else:
            self._parallel_scan(rows, progress)
        receipts, words, labels = rows.frames()
        return RawRead(
            receipts,
            words,
            labels,
            started,
            utc_now_iso(),
            {"strategy": strategy, "requests": self.requests},
            rows.refused_frame(),
        )

    def _parallel_scan(self, rows: _Rows, progress: Progress | None) -> None:
        segments = self.concurrency

        def segment(i: int) -> None:
            for page in self._pages(
                "scan",
                Segment=i,
                TotalSegments=segments,
                FilterExpression=_TYPE_FILTER,
                ProjectionExpression=_PROJECTION,
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues=_TYPE_VALUES,
            ):
                rows.add(page)

        done = 0
        with ThreadPoolExecutor(segments) as pool:
            for _ in pool.map(segment, range(segments)):
                done += 1
                if progress:
                    progress(done, segments)


def read_table(
    table: TableRef,
    statuses: tuple[str, ...],
    *,
    concurrency: int = 16,
    strategy: str = "query",
    progress: Progress | None = None,
) -> RawRead:
    """Everything a snapshot build needs from the table, read once."""
    return TableReader(table, concurrency=concurrency).read(statuses, strategy=strategy, progress=progress)


def read_every_receipt(
    table: TableRef, *, concurrency: int = 16, strategy: str = "query", progress: Progress | None = None
) -> RawRead:
    """Every receipt of the table, labelled or not, read once (`TableReader.read_every_receipt`)."""
    return TableReader(table, concurrency=concurrency).read_every_receipt(strategy=strategy, progress=progress)


def frames_from_items(items: Iterable[dict[str, Any]]) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Receipt, word and label items in the table's wire format (`Record.to_item()`, or what a
    query returns) as the (receipts, words, labels) frames a read of the table gives."""
    rows = _Rows()
    rows.add(list(items))
    return rows.frames()
