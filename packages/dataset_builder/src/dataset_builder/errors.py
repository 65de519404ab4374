"""The one base of every error dataset_builder raises for a person to fix, so a caller can
catch them all (`except DatasetBuilderError`) and the CLIs map them to one line and an exit
code (cli_edge.EXIT_CODES). Each error lives beside the code that raises it:

- `config.ConfigError`: a build option that cannot work (`layout.BoxOutsideConvention`,
  `layout.ReceiptNotFound` refine it);
- `storage.SnapshotError`: a snapshot that cannot be found, published or used
  (`SnapshotNotFound`, `SnapshotExists`, `snapshot.SnapshotCorrupted`,
  `build.ContractGateFailed`, `review.ReviewDataError`);
- `manifest.ManifestError`: a manifest that cannot be read;
- `dataset.EmptyDataset`: nothing left to build a snapshot from;
- `ContractError` (here: the contracts package and its Great Expectations loader share it):
  contracts that cannot be loaded or run;
- `receipts.importer.ImportRejected`, `receipts.jsonl.LabelMapError`: a receipts file or a
  label map that cannot be imported.

Each also derives from the builtin it refines (ValueError mostly), so callers that catch
those keep working."""

from __future__ import annotations


class DatasetBuilderError(Exception):
    """Base class: dataset_builder cannot do what was asked, and the message says why."""


class ContractError(DatasetBuilderError, ValueError):
    """The contracts cannot be loaded or run (as opposed to data that fails them)."""
