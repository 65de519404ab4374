"""`dsb snapshot ...`: create, list, show, verify and diff snapshots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from metrics_store.cli_support import (
    EXIT_FAILED,
    EndpointOpt,
    JsonOpt,
    ProfileOpt,
    RegionOpt,
    TableOpt,
    fail,
    print_json,
    run_or_exit,
    store_config,
)

from .common import DEFAULT_ROOT, RootOpt, backend, console, read_keys_file, rich_table

app = typer.Typer(help="Versioned, immutable Parquet snapshots of the labelled receipts.", no_args_is_help=True)


def _parse_merges(pairs: list[str]) -> tuple[tuple[str, str], ...]:
    merges = []
    for pair in pairs:
        source, sep, target = pair.partition("=")
        if not sep or not source or not target:
            raise ValueError(f"--merge expects SOURCE=TARGET, got {pair!r}")
        merges.append((source.strip().upper(), target.strip().upper()))
    return tuple(merges)


@app.command("create")
def create(
    table: TableOpt = "ReceiptsTable",
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    root: RootOpt = DEFAULT_ROOT,
    status: Annotated[list[str], typer.Option("--status", help="Validation status(es) whose labels supervise (repeatable).")] = ["VALID"],  # noqa: B006
    merge_preset: Annotated[str, typer.Option(help="none, amounts, date_time, address_phone or sroie.")] = "none",
    merge: Annotated[list[str], typer.Option("--merge", help="Extra merge SOURCE=TARGET (repeatable).")] = [],  # noqa: B006
    allowed_label: Annotated[list[str], typer.Option("--allowed-label", help="Keep only these labels, after merging (repeatable); others become O.")] = [],  # noqa: B006
    extra_label: Annotated[list[str], typer.Option("--extra-label", help="Widen the 22-label vocabulary (repeatable).")] = [],  # noqa: B006
    o_entity_ratio: Annotated[float | None, typer.Option(help="Target O:entity word ratio for the training split.")] = None,
    ratio_mechanism: Annotated[str, typer.Option(help="drop (O-only training lines removed; measured best) or mask (kept as unsupervised context).")] = "drop",
    val_fraction: Annotated[float, typer.Option(help="Share of receipts (or merchants) in validation.")] = 0.1,
    seed: Annotated[int, typer.Option(help="Seed of the split and the ratio control.")] = 7,
    split_by: Annotated[str, typer.Option(help="receipt, or merchant to hold out whole merchants.")] = "receipt",
    val_keys: Annotated[Path | None, typer.Option(help="Frozen validation split: a file of <image_id>#<receipt_id> keys.")] = None,
    holdout_merchant: Annotated[list[str], typer.Option("--holdout-merchant", help="Put this merchant's receipts in validation (repeatable).")] = [],  # noqa: B006
    concurrency: Annotated[int, typer.Option(help="Concurrent DynamoDB requests.")] = 16,
    strategy: Annotated[str, typer.Option(help="query (GSI3 + GSI4 per receipt) or scan (parallel table scan).")] = "query",
    allow_contract_failures: Annotated[bool, typer.Option(help="Publish even if error-level contracts fail (stamped in the manifest).")] = False,
    skip_contracts: Annotated[bool, typer.Option(help="Do not run the data contracts (the manifest says `unchecked`).")] = False,
    contracts_dir: Annotated[Path | None, typer.Option(help="Folder of contract suites (default: the repository's data_contracts/).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Read the table once, apply the labelling rules, check the contracts, publish `vN`.

    Prints the new id on stdout (the summary goes to stderr), so `ID=$(dsb snapshot create)` works."""
    from ..build import ContractGateFailed, create_snapshot
    from ..config import BuildConfig

    def build():
        from metrics_store import connect

        config = BuildConfig(
            statuses=tuple(status), merge_preset=merge_preset, custom_merge=_parse_merges(merge),
            allowed_labels=tuple(allowed_label) or None, extra_labels=tuple(extra_label),
            o_entity_ratio=o_entity_ratio, ratio_mechanism=ratio_mechanism, val_fraction=val_fraction,
            seed=seed, split_by=split_by, val_keys=read_keys_file(val_keys) if val_keys else None,
            holdout_merchants=tuple(holdout_merchant), concurrency=concurrency,
            allow_contract_failures=allow_contract_failures,
        )
        settings = store_config(table, endpoint_url, region, profile)
        checker = None
        if not skip_contracts:
            from ..contracts import contract_gate

            checker = contract_gate(contracts_dir)
        with _progress() as progress:
            return create_snapshot(
                table=connect(settings), backend=backend(root, region), config=config, strategy=strategy,
                source={"table": table, "region": region, "endpoint_url": endpoint_url},
                check_contracts=checker, progress=progress,
            )

    try:
        result = run_or_exit(build)
    except ContractGateFailed as exc:
        if as_json:
            print_json({"published": False, "error": str(exc), "contracts": exc.report})
        else:
            from .contracts import render_report

            render_report(exc.report, console(stderr=True))
        fail(str(exc), code=EXIT_FAILED)
        return
    if as_json:
        print_json({"id": result.snapshot_id, "uri": result.uri, "recorded": result.recorded, "manifest": result.manifest})
        return
    _render_summary(result.manifest, console(stderr=True))
    typer.echo(result.snapshot_id)


class _progress:
    """A rich progress bar fed by the reader's (done, total) callback."""

    def __enter__(self):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._bar = Progress(TextColumn("reading receipts"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console(stderr=True), transient=True)
        self._bar.__enter__()
        self._task = self._bar.add_task("read", total=None)
        return self

    def __call__(self, done: int, total: int) -> None:
        self._bar.update(self._task, completed=done, total=total)

    def __exit__(self, *exc):
        self._bar.__exit__(*exc)


def _render_summary(manifest: dict, out) -> None:
    splits = manifest["counts"]["splits"]
    ratio = manifest["o_entity_ratio"]
    fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    rows = [[s, splits[s]["receipts"], splits[s]["words"], splits[s]["supervised_words"], sum(splits[s]["entities"].values()),
             fmt(ratio["before"][s]), fmt(ratio["after"][s])] for s in ("train", "val")]
    out.print(rich_table(f"snapshot {manifest['id']} ({manifest['content_sha256'][:12]})",
                         ["split", "receipts", "words", "supervised", "entities", "O:entity before", "after"], rows))
    labels = sorted(set(splits["train"]["entities"]) | set(splits["val"]["entities"]))
    out.print(rich_table("entities per label", ["label", "train", "val"],
                         [[lab, splits["train"]["entities"].get(lab, 0), splits["val"]["entities"].get(lab, 0)] for lab in labels]))
    out.print(f"contracts: {manifest.get('contracts', {}).get('status', 'unchecked')}; parent: {manifest.get('parent_id') or '-'}")


@app.command("list")
def list_(root: RootOpt = DEFAULT_ROOT, as_json: JsonOpt = False) -> None:
    """Every published snapshot, oldest first."""
    from ..snapshot import SnapshotError, list_snapshots

    rows = run_or_exit(lambda: list_snapshots(root, backend=backend(root)), handled=(SnapshotError,))
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo(f"no snapshots in {root} yet: create one with `dsb snapshot create`")
        return
    console().print(rich_table(f"snapshots in {root}", ["id", "created", "parent", "train", "val", "labels", "contracts", "content"],
                               [[r["id"], r["created_at"][:19], r["parent_id"], r["train_receipts"], r["val_receipts"], r["labels"], r["contracts"], r["content_sha256"][:12]] for r in rows]))


@app.command("show")
def show(snapshot_id: Annotated[str, typer.Argument(help="Snapshot id (v12) or `latest`.")] = "latest", root: RootOpt = DEFAULT_ROOT, as_json: JsonOpt = False) -> None:
    """The manifest of one snapshot."""
    from ..snapshot import SnapshotError, open_snapshot

    snap = run_or_exit(lambda: open_snapshot(root, snapshot_id, verify=False, backend=backend(root)), handled=(SnapshotError,))
    if as_json:
        print_json(snap.manifest)
        return
    _render_summary(snap.manifest, console())
    config = snap.manifest["build_config"]
    console().print(f"uri: {snap.uri}\nlabels: {', '.join(snap.label_list)}\nmerge: {config['merge_map'] or '-'}\n"
                    f"read: {snap.manifest['source'].get('read_started_at')} .. {snap.manifest['source'].get('read_finished_at')} "
                    f"from {snap.manifest['source'].get('table')}")


@app.command("verify")
def verify(snapshot_id: Annotated[str, typer.Argument(help="Snapshot id (v12) or `latest`.")] = "latest", root: RootOpt = DEFAULT_ROOT, as_json: JsonOpt = False) -> None:
    """Re-hash every file of a snapshot. Exit 0: intact; 1: modified; 2: cannot check."""
    from ..snapshot import SnapshotCorrupted, SnapshotError, open_snapshot

    try:
        snap = open_snapshot(root, snapshot_id, verify=True, backend=backend(root))
    except SnapshotCorrupted as exc:
        if as_json:
            print_json({"id": snapshot_id, "ok": False, "error": str(exc)})
        fail(str(exc), code=EXIT_FAILED)
    except SnapshotError as exc:
        fail(str(exc))
    if as_json:
        print_json({"id": snap.id, "ok": True, "content_sha256": snap.content_sha256, "files": snap.manifest["files"]})
    else:
        typer.echo(f"{snap.id}: {len(snap.manifest['files'])} files intact (content {snap.content_sha256[:12]})")


@app.command("diff")
def diff(a: Annotated[str, typer.Argument(help="Older snapshot id.")], b: Annotated[str, typer.Argument(help="Newer snapshot id.")] = "latest", root: RootOpt = DEFAULT_ROOT, as_json: JsonOpt = False) -> None:
    """What changed between two snapshots: labels, receipts, relabelled words, statuses, splits."""
    from ..diff import diff_snapshots
    from ..snapshot import SnapshotError, open_snapshot

    store = backend(root)
    result = run_or_exit(lambda: diff_snapshots(open_snapshot(root, a, backend=store), open_snapshot(root, b, backend=store)), handled=(SnapshotError,))
    if as_json:
        print_json(result)
        return
    out = console()
    r = result["receipts"]
    out.print(f"{result['a']} -> {result['b']}: receipts {r['a']} -> {r['b']} (+{r['added']} / -{r['removed']}), "
              f"{result['relabelled_words']['count']} relabelled words, same val split: {result['split']['same_val_split']}")
    out.print(rich_table("entity words per label", ["label", result["a"], result["b"], "change"],
                         [[lab, c["a"], c["b"], f"{c['change']:+d}"] for lab, c in result["label_counts"].items()]))
    if result["status_transitions"]:
        out.print(rich_table("status transitions", ["from", "to", "labels"], [[t["from"], t["to"], t["labels"]] for t in result["status_transitions"]]))
    if result["split"]["moved"]:
        out.print(rich_table("receipts that changed split", ["from", "to", "receipts"], [[m["from"], m["to"], m["receipts"]] for m in result["split"]["moved"]]))
    if result["config_changes"]:
        out.print(rich_table("build config changes", ["option", result["a"], result["b"]], [[k, v["from"], v["to"]] for k, v in result["config_changes"].items()]))
