"""`dsb snapshot ...`: create, list, show, verify and diff snapshots."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli_edge import (
    JsonOpt,
    console,
    exit_on_error,
    key_table,
    new_app,
    print_json,
    progress,
    run_or_exit,
    store_options,
)
from cli_edge.options import DEFAULT_ROOT, RootOpt
from metrics_store import StoreConfig

from ..config import BuildConfig, BuildOptions
from .common import backend, read_keys_file

if TYPE_CHECKING:
    from ..manifest import Manifest

app = new_app("Versioned, immutable Parquet snapshots of the labelled receipts.")

SPEC = BuildConfig()  # every default below comes from the config dataclasses
RUN = BuildOptions()
SnapshotArg = Annotated[str, typer.Argument(help="Snapshot id (v12, or 12) or `latest`.")]


def _parse_merges(pairs: list[str]) -> tuple[tuple[str, str], ...]:
    from ..config import ConfigError

    merges = []
    for pair in pairs:
        source, sep, target = pair.partition("=")
        if not sep or not source or not target:
            raise ConfigError(f"--merge expects SOURCE=TARGET, got {pair!r}")
        merges.append((source.strip().upper(), target.strip().upper()))
    return tuple(merges)


@app.command("create")
@store_options(StoreConfig)
def create(
    store: StoreConfig,
    root: RootOpt = DEFAULT_ROOT,
    status: Annotated[list[str], typer.Option("--status", help="Validation status whose labels supervise training and select receipts (repeatable).")] = list(SPEC.statuses),  # noqa: B006
    merge_preset: Annotated[str, typer.Option(help="Label merges: none, amounts, date_time, address_phone or sroie.")] = SPEC.merge_preset,
    merge: Annotated[list[str], typer.Option("--merge", help="Extra merge SOURCE=TARGET, after the preset (repeatable).")] = [],  # noqa: B006
    allowed_label: Annotated[list[str], typer.Option("--allowed-label", help="Keep only this label, after merging (repeatable); others become O.")] = [],  # noqa: B006
    extra_label: Annotated[list[str], typer.Option("--extra-label", help="A label name beyond the 22 core ones (repeatable).")] = [],  # noqa: B006
    o_entity_ratio: Annotated[float | None, typer.Option(help="Target O words per entity word in the training split (a positive finite number; default: as read).")] = SPEC.o_entity_ratio,
    ratio_mechanism: Annotated[str, typer.Option(help="How the ratio is met: drop (O-only training lines removed; measured best) or mask (kept as unsupervised context).")] = SPEC.ratio_mechanism,
    val_fraction: Annotated[float, typer.Option(help="Share of receipts (or merchants) in validation, 0 to <1.")] = SPEC.val_fraction,
    seed: Annotated[int, typer.Option(help="Seed of the split and of the ratio control.")] = SPEC.seed,
    split_by: Annotated[str, typer.Option(help="Unit of the split: receipt, or merchant to hold out whole merchants.")] = SPEC.split_by,
    val_keys: Annotated[Path | None, typer.Option(help="Frozen validation split: a file of <image_id>#<receipt_id> keys, one per line.")] = None,
    holdout_merchant: Annotated[list[str], typer.Option("--holdout-merchant", help="Put this merchant's receipts in validation (repeatable).")] = [],  # noqa: B006
    unvalidated: Annotated[str, typer.Option(help="Words whose label items all lack a --status (NEEDS_REVIEW, INVALID...): ignore (layout context only, neither trained nor scored) or o (trained and scored as O, as old runs did).")] = SPEC.unvalidated,
    concurrency: Annotated[int, typer.Option(help="Concurrent DynamoDB requests while reading.")] = RUN.concurrency,
    strategy: Annotated[str, typer.Option(help="How to read: query (GSI3 + one GSI4 query per receipt) or scan (parallel table scan).")] = RUN.strategy,
    allow_contract_failures: Annotated[bool, typer.Option("--allow-contract-failures", help="Publish even if error-level contracts fail (stamped in the manifest).")] = RUN.allow_contract_failures,
    parent: Annotated[str, typer.Option(help="Snapshot that drift is measured against: latest, none, or an id (v12).")] = RUN.parent,
    skip_contracts: Annotated[bool, typer.Option("--skip-contracts", help="Do not run the data contracts (the manifest says `unchecked`).")] = False,
    contracts_dir: Annotated[Path | None, typer.Option(help="Folder of contract suites (default: the repository's data_contracts/).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Read the table once, apply the labelling rules, check the contracts, publish `vN`.

    Prints the new id on stdout (the summary goes to stderr), so `ID=$(dsb snapshot create)` works."""
    from ..build import ContractGateFailed, choose_parent, create_snapshot

    def build():
        from metrics_store import TableNotFound, connect, table_exists

        table = connect(store)
        if not table_exists(table):  # one DescribeTable before the contracts load or anything is read
            raise TableNotFound(store.table, store.endpoint_url)

        config = BuildConfig(
            statuses=tuple(status), merge_preset=merge_preset, custom_merge=_parse_merges(merge),
            allowed_labels=tuple(allowed_label) or None, extra_labels=tuple(extra_label),
            o_entity_ratio=o_entity_ratio, ratio_mechanism=ratio_mechanism, val_fraction=val_fraction,
            seed=seed, split_by=split_by, val_keys=read_keys_file(val_keys) if val_keys else None,
            holdout_merchants=tuple(holdout_merchant), unvalidated=unvalidated,
        )
        options = BuildOptions(concurrency=concurrency, strategy=strategy, allow_contract_failures=allow_contract_failures, parent=parent)
        snapshots = backend(root, store.region)
        parent_snapshot = choose_parent(snapshots, parent)  # a missing or damaged parent fails before the contracts load
        checker = None
        if not skip_contracts:
            from ..contracts import contract_gate

            checker = contract_gate(contracts_dir)
        with progress("reading receipts", quiet=as_json) as on_progress:
            return create_snapshot(
                table=table, backend=snapshots, config=config, options=options,
                source={"table": store.table, "region": store.region, "endpoint_url": store.endpoint_url},
                check_contracts=checker, progress=on_progress, parent=parent_snapshot,
            )

    with exit_on_error():
        try:
            result = build()
        except ContractGateFailed as exc:  # show the report, then exit 1 with its one line
            if as_json:
                print_json({"published": False, "error": str(exc), "contracts": exc.report})
            else:
                from .contracts import render_report

                render_report(exc.report, console(stderr=True))
            raise
    if result.record_error:
        typer.secho(f"warning: {result.snapshot_id} is published, but its table record could not be written ({result.record_error}); "
                    "`dsb snapshot repair` writes it", fg=typer.colors.YELLOW, err=True)
    if as_json:
        print_json({"id": result.snapshot_id, "uri": result.uri, "recorded": result.recorded, "record_error": result.record_error,
                    "debris_removed": list(result.cleaned), "manifest": result.manifest.to_dict()})
        return
    render_summary(result.manifest, console(stderr=True))
    typer.echo(result.snapshot_id)


def render_summary(manifest: Manifest, out: Any) -> None:
    lock = manifest.lock
    splits, ratio = lock.counts.splits, lock.o_entity_ratio
    fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    rows = [[s, c.receipts, c.words, c.supervised_words, c.unknown_words, sum(c.entities.values()), fmt(ratio.before.get(s)),
             fmt(ratio.after.get(s))] for s, c in splits.items()]
    out.print(key_table(f"snapshot {manifest.id} (content {lock.content_sha256[:12]})",
                        ["split", "receipts", "words", "supervised", "unknown", "entities", "O:entity before", "after"], rows))
    labels = sorted({label for c in splits.values() for label in (*c.entities, *c.unknown_words_by_label)})
    unknown = lambda c, lab: sum(c.unknown_words_by_label.get(lab, {}).values())  # noqa: E731
    out.print(key_table("entities and unknown words per label (unknown: items name the label, none with a selected status)",
                        ["label", *(f"{s} {what}" for s in splits for what in ("entities", "unknown"))],
                        [[lab, *(n for c in splits.values() for n in (c.entities.get(lab, 0), unknown(c, lab)))] for lab in labels]))
    moved = {s: (ratio.unknown_before.get(s), ratio.unknown_after.get(s)) for s in splits}
    treated = "left out of training and scoring" if manifest.spec.unvalidated == "ignore" else "trained and scored as O"
    out.print(f"unknown words ({treated}, --unvalidated {manifest.spec.unvalidated}): "
              + ", ".join(f"{s} {b if b is not None else '-'} before the ratio control, {a if a is not None else '-'} after"
                          for s, (b, a) in moved.items()))
    merchants, quality = lock.merchants, lock.data_quality
    if merchants is not None:
        out.print(f"merchants: {merchants.place} receipts from their place, {merchants.labelled_words} from MERCHANT_NAME words, "
                  f"{merchants.none} none ({merchants.distinct} distinct)" + (f", {merchants.receipt} from the receipt" if merchants.receipt else ""))
    if quality.refused_label_items or quality.empty_text_words or quality.clipped_boxes:
        out.print(f"data quality: {quality.refused_label_items} label items refused (unparseable key), {quality.empty_text_words} "
                  f"empty-text words ({quality.empty_text_entity_words} labelled as entities), {quality.clipped_boxes} boxes clipped "
                  f"to the page ({quality.zero_size_boxes} to no size)")
    out.print(f"contracts: {lock.contracts.status}; parent: {lock.parent_id or '-'}")


def _recorded_hashes(store: StoreConfig) -> set[str] | None:
    """The manifest hashes the table has records of; None when the table cannot be read (a
    listing of the files still works)."""
    from metrics_store import Queries, StoreError, connect

    from ..stats import recorded_manifest_hashes

    try:
        return recorded_manifest_hashes(Queries(connect(store)))
    except StoreError:  # a bad endpoint URL fails before any read
        return None


@app.command("list")
@store_options(StoreConfig)
def list_(store: StoreConfig, root: RootOpt = DEFAULT_ROOT, as_json: JsonOpt = False) -> None:
    """Every published snapshot, oldest first, and whether the table has its record."""
    from ..snapshot import list_snapshots

    recorded = _recorded_hashes(store)
    rows = run_or_exit(lambda: list_snapshots(root, backend=backend(root), recorded=recorded))
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo(f"no snapshots in {root} yet: create one with `dsb snapshot create`")
        return
    from cli_edge import Column

    columns = [Column("id", key=True), Column("created"), Column("parent", drop=2), Column("train"), Column("val"),
               Column("labels", drop=3), Column("contracts"), Column("record", drop=4), Column("content", drop=1)]
    mark = {True: "yes", False: "MISSING", None: "?"}
    out = console()
    out.print(key_table(f"snapshots in {root}", columns,
                        [[r["id"], r["created_at"][:19], r["parent_id"], r["train_receipts"], r["val_receipts"], r["labels"],
                          r["contracts"], mark[r["recorded"]], r["content_sha256"][:12]] for r in rows]))
    missing = [r["id"] for r in rows if r["recorded"] is False]
    if missing:
        out.print(f"{', '.join(missing)}: published without a table record; `dsb snapshot repair` writes them")


@app.command("show")
def show(snapshot_id: SnapshotArg = "latest", root: RootOpt = DEFAULT_ROOT, as_json: JsonOpt = False) -> None:
    """The manifest of one snapshot: spec (what was asked) and lock (what came out)."""
    from ..snapshot import open_snapshot

    snap = run_or_exit(lambda: open_snapshot(root, snapshot_id, verify=False, backend=backend(root)))
    if as_json:
        print_json(snap.manifest.to_dict())
        return
    out = console()
    render_summary(snap.manifest, out)
    source = snap.lock.source
    out.print(f"uri: {snap.uri}\nlabels: {', '.join(snap.label_list)}\nmerge: {snap.spec.merge_map or '-'}\n"
              f"read: {source.read_started_at} .. {source.read_finished_at} from {source.table}")


@app.command("verify")
@store_options(StoreConfig)
def verify(store: StoreConfig, snapshot_id: SnapshotArg = "latest", root: RootOpt = DEFAULT_ROOT, as_json: JsonOpt = False) -> None:
    """Re-hash every file of a snapshot, and look for its table record. Exit 0: intact; 1:
    modified; 2: cannot check. A missing record is reported (`dsb snapshot repair`)."""
    from ..snapshot import SnapshotCorrupted, open_snapshot

    with exit_on_error():
        try:
            snap = open_snapshot(root, snapshot_id, verify=True, backend=backend(root))
        except SnapshotCorrupted as exc:  # exit 1: the check ran and found a modified file
            if as_json:
                print_json({"id": snapshot_id, "ok": False, "error": str(exc)})
            raise
    files = {name: entry.model_dump() for name, entry in snap.lock.files.items()}
    hashes = _recorded_hashes(store)
    recorded = None if hashes is None else snap.manifest_sha256 in hashes
    if as_json:
        print_json({"id": snap.id, "ok": True, "content_sha256": snap.content_sha256, "files": files, "recorded": recorded})
    else:
        note = {True: "", False: "; its table record is MISSING: `dsb snapshot repair` writes it", None: "; table record not checked"}[recorded]
        typer.echo(f"{snap.id}: {len(files)} files intact (content {snap.content_sha256[:12]}){note}")


@app.command("repair")
@store_options(StoreConfig)
def repair(store: StoreConfig, root: RootOpt = DEFAULT_ROOT, as_json: JsonOpt = False) -> None:
    """Write the missing table records of published snapshots, and remove what killed builds
    left (staging folders, unpublished uploads, older than an hour). Live builds are never touched."""
    from metrics_store import connect

    from ..build import repair_records

    report = run_or_exit(lambda: repair_records(connect(store), backend(root, store.region)))
    if as_json:
        print_json(report)
        return
    typer.echo(f"records written: {', '.join(report['records_written']) or 'none needed'}")
    typer.echo(f"debris removed: {len(report['debris_removed'])}" + "".join(f"\n  {d}" for d in report["debris_removed"]))
    if report["unpublished_ids"]:
        typer.echo(f"reserved but never published (gaps; ids are never reused): {', '.join(report['unpublished_ids'])}")


@app.command("diff")
def diff(a: Annotated[str, typer.Argument(help="Older snapshot id.")], b: Annotated[str, typer.Argument(help="Newer snapshot id.")] = "latest",
         root: RootOpt = DEFAULT_ROOT, as_json: JsonOpt = False) -> None:
    """What changed between two snapshots: labels, receipts, relabelled words, statuses, splits, spec."""
    from ..diff import diff_snapshots
    from ..snapshot import open_snapshot

    store = backend(root)
    result = run_or_exit(lambda: diff_snapshots(open_snapshot(root, a, backend=store), open_snapshot(root, b, backend=store)))
    if as_json:
        print_json(result)
        return
    out = console()
    r = result["receipts"]
    out.print(f"{result['a']} -> {result['b']}: receipts {r['a']} -> {r['b']} (+{r['added']} / -{r['removed']}), "
              f"{result['relabelled_words']['count']} relabelled words, same val split: {result['split']['same_val_split']}")
    out.print(key_table("entity words per label", ["label", result["a"], result["b"], "change"],
                        [[lab, c["a"], c["b"], f"{c['change']:+d}"] for lab, c in result["label_counts"].items()]))
    if result["status_transitions"]:
        out.print(key_table("status transitions", ["from", "to", "labels"], [[t["from"], t["to"], t["labels"]] for t in result["status_transitions"]]))
    if result["split"]["moved"]:
        out.print(key_table("receipts that changed split", ["from", "to", "receipts"], [[m["from"], m["to"], m["receipts"]] for m in result["split"]["moved"]]))
    if result["config_changes"]:
        out.print(key_table("spec changes (build options that change the data)", ["option", result["a"], result["b"]],
                            [[k, v["from"], v["to"]] for k, v in result["config_changes"].items()]))
