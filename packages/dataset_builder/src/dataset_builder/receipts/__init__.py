"""Receipts into the table: a deterministic synthetic generator and a JSONL importer.

Generation and import build `ReceiptBundle`s purely; `write_bundles` (called by
`generate.load_synthetic` and `importer.import_jsonl`) is the only step that writes.
"""

from .bundle import LoadSummary, ReceiptBundle, summarize, write_bundles
from .generate import load_synthetic
from .importer import ImportPlan, ImportRejected, ImportReport, import_jsonl, plan_import
from .jsonl import Problem, load_label_map
from .synthetic import LabelMix, SyntheticReceipt, generate_receipt, generate_receipts

__all__ = [
    "ImportPlan",
    "ImportRejected",
    "ImportReport",
    "LabelMix",
    "LoadSummary",
    "Problem",
    "ReceiptBundle",
    "SyntheticReceipt",
    "generate_receipt",
    "generate_receipts",
    "import_jsonl",
    "load_label_map",
    "load_synthetic",
    "plan_import",
    "summarize",
    "write_bundles",
]
