"""`dsb corpus ...`: create, list, show, verify and check corpora (every receipt's words, for pretraining)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli_edge import (
    EXIT_FAILED,
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

from .common import backend

if TYPE_CHECKING:
    from ..corpus import CorpusManifest

app = new_app("Corpora: every receipt's words in the table, labelled or not, for pretraining (ids c1, c2, ...).")

CorpusArg = Annotated[str, typer.Argument(help="Corpus id (c3, or 3) or `latest`.")]
ContractsDirOpt = Annotated[
    Path | None,
    typer.Option("--contracts-dir", help="Folder of contract suites (default: the repository's data_contracts/)."),
]


def _corpora(root: str, region: str | None = None):
    from ..corpus import corpus_backend

    return corpus_backend(root, region=region)


def choose_excluded(root: str, ref: str, region: str | None = None):
    """The snapshot whose val split the corpus leaves out: `none`, `latest` (None when the root
    holds no snapshot yet) or an id; opened and verified before the table is read."""
    from ..snapshot import open_snapshot

    if ref == "none":
        return None
    snapshots = backend(root, region)
    if ref == "latest" and not snapshots.published_ids():
        return None
    return open_snapshot(root, ref, backend=snapshots)


@app.command("create")
@store_options(StoreConfig)
def create(
    store: StoreConfig,
    root: RootOpt = DEFAULT_ROOT,
    exclude_val_of: Annotated[
        str,
        typer.Option(
            "--exclude-val-of",
            help="The snapshot the corpus is built for: its val receipts are left out, so pretraining never reads the "
            "words that score the fine-tuned model. latest (the newest snapshot in --root, if any), a snapshot id, "
            "or none (keep every receipt).",
        ),
    ] = "latest",
    concurrency: Annotated[int, typer.Option(help="Concurrent DynamoDB requests while reading.")] = 16,
    strategy: Annotated[
        str,
        typer.Option(
            help="How to read: query (every Receipt from the type index, then one GSI4 query each) or scan (parallel "
            "table scan)."
        ),
    ] = "query",
    allow_contract_failures: Annotated[
        bool,
        typer.Option(
            "--allow-contract-failures", help="Publish even if error-level contracts fail (stamped in the manifest)."
        ),
    ] = False,
    skip_contracts: Annotated[
        bool, typer.Option("--skip-contracts", help="Do not run the corpus contracts (the manifest says `unchecked`).")
    ] = False,
    contracts_dir: ContractsDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Read every receipt of the table (labelled or not), lay its words out as a snapshot does,
    leave out the val receipts of --exclude-val-of, check the corpus contracts, publish `cN`.

    Prints the new id on stdout (the summary goes to stderr), so `ID=$(dsb corpus create)` works."""
    from ..build import ContractGateFailed
    from ..corpus import CorpusOptions, create_corpus

    def build():
        from metrics_store import TableNotFound, connect, table_exists

        options = CorpusOptions(
            concurrency=concurrency, strategy=strategy, allow_contract_failures=allow_contract_failures
        )
        table = connect(store)
        if not table_exists(table):
            raise TableNotFound(store.table, store.endpoint_url)
        excluded = choose_excluded(root, exclude_val_of, store.region)
        checker = None
        if not skip_contracts:
            from ..contracts import corpus_gate

            checker = corpus_gate(contracts_dir)
        with progress("reading every receipt", quiet=as_json) as on_progress:
            return create_corpus(
                table=table,
                backend=_corpora(root, store.region),
                exclude=excluded,
                options=options,
                source={"table": store.table, "region": store.region, "endpoint_url": store.endpoint_url},
                check_contracts=checker,
                progress=on_progress,
            )

    with exit_on_error():
        try:
            result = build()
        except ContractGateFailed as exc:
            if as_json:
                print_json({"published": False, "error": str(exc), "contracts": exc.report})
            else:
                from .contracts import render_report

                render_report(exc.report, console(stderr=True))
            raise
    if as_json:
        print_json(
            {
                "id": result.corpus_id,
                "uri": result.uri,
                "debris_removed": list(result.cleaned),
                "manifest": result.manifest.to_dict(),
            }
        )
        return
    render_summary(result.manifest, console(stderr=True))
    if result.manifest.excluded is None:
        typer.secho(
            f"warning: {result.corpus_id} leaves no val split out: a model pretrained on it has read every receipt, "
            "including those that may score it later (--exclude-val-of vN)",
            fg=typer.colors.YELLOW,
            err=True,
        )
    typer.echo(result.corpus_id)


def render_summary(manifest: CorpusManifest, out: Any) -> None:
    lock, counts = manifest.lock, manifest.lock.counts
    out.print(
        key_table(
            f"corpus {manifest.id} (content {lock.content_sha256[:12]})",
            ["what", "count"],
            [
                ["receipts", counts.receipts],
                ["words", counts.words],
                ["  with a VALID label", counts.receipts_with_valid_labels],
                ["  with labels, none VALID", counts.receipts_with_unvalidated_labels_only],
                ["  with no label item", counts.receipts_without_labels],
                ["  with no word", counts.receipts_without_words],
            ],
        )
    )
    excluded = lock.excluded
    if excluded is not None:
        out.print(
            f"left out: the {excluded.receipts} val receipts of {excluded.snapshot_id} ({excluded.found} in the table; "
            f"split hash {excluded.split_hash[:12]})"
        )
    else:
        out.print("left out: nothing (no --exclude-val-of snapshot)")
    quality = lock.data_quality
    if quality.empty_text_words or quality.clipped_boxes:
        out.print(
            f"data quality: {quality.empty_text_words} empty-text words, {quality.clipped_boxes} boxes clipped to "
            "the page "
            f"({quality.zero_size_boxes} to no size)"
        )
    out.print(f"contracts: {lock.contracts.status}")


@app.command("list")
def list_(root: RootOpt = DEFAULT_ROOT, as_json: JsonOpt = False) -> None:
    """Every published corpus, oldest first."""
    from ..corpus import list_corpora

    rows = run_or_exit(lambda: list_corpora(root, backend=_corpora(root)))
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo(f"no corpus in {root} yet: create one with `dsb corpus create`")
        return
    from cli_edge import Column

    columns = [
        Column("id", key=True),
        Column("created"),
        Column("receipts"),
        Column("unlabelled", drop=3),
        Column("words", drop=2),
        Column("val left out of"),
        Column("contracts"),
        Column("content", drop=1),
    ]
    console().print(
        key_table(
            f"corpora in {root}",
            columns,
            [
                [
                    r["id"],
                    r["created_at"][:19],
                    r["receipts"],
                    r["receipts_without_labels"],
                    r["words"],
                    r["exclude_val_of"] or "-",
                    r["contracts"],
                    r["content_sha256"][:12],
                ]
                for r in rows
            ],
        )
    )


@app.command("show")
def show(corpus_id: CorpusArg = "latest", root: RootOpt = DEFAULT_ROOT, as_json: JsonOpt = False) -> None:
    """The manifest of one corpus: spec (what was asked) and lock (what came out)."""
    from ..corpus import open_corpus

    corpus = run_or_exit(lambda: open_corpus(root, corpus_id, verify=False, backend=_corpora(root)))
    if as_json:
        print_json(corpus.manifest.to_dict())
        return
    out = console()
    render_summary(corpus.manifest, out)
    source = corpus.lock.source
    out.print(f"uri: {corpus.uri}\nread: {source.read_started_at} .. {source.read_finished_at} from {source.table}")


@app.command("verify")
def verify(corpus_id: CorpusArg = "latest", root: RootOpt = DEFAULT_ROOT, as_json: JsonOpt = False) -> None:
    """Re-hash every file of a corpus. Exit 0: intact; 1: modified; 2: cannot check."""
    from ..corpus import CorpusCorrupted, open_corpus

    with exit_on_error():
        try:
            corpus = open_corpus(root, corpus_id, verify=True, backend=_corpora(root))
        except CorpusCorrupted as exc:
            if as_json:
                print_json({"id": corpus_id, "ok": False, "error": str(exc)})
            raise
    if as_json:
        print_json(
            {
                "id": corpus.id,
                "ok": True,
                "content_sha256": corpus.content_sha256,
                "files": {name: entry.model_dump() for name, entry in corpus.lock.files.items()},
            }
        )
    else:
        typer.echo(f"{corpus.id}: {len(corpus.lock.files)} files intact (content {corpus.content_sha256[:12]})")


@app.command("check")
def check(
    corpus_id: CorpusArg = "latest",
    root: RootOpt = DEFAULT_ROOT,
    contracts_dir: ContractsDirOpt = None,
    max_failing_rows: Annotated[
        int, typer.Option(min=0, help="Failing rows shown per expectation, identified by their keys.")
    ] = 10,
    as_json: JsonOpt = False,
) -> None:
    """Check a published corpus against the corpus contracts (data_contracts/corpus.yaml).

    Exit 0: passed or warned; 1: a contract failed; 2: the check could not run."""
    from ..contracts import check_corpus
    from ..corpus import open_corpus

    report = run_or_exit(
        lambda: check_corpus(
            open_corpus(root, corpus_id, backend=_corpora(root)), contracts_dir, max_failing_rows=max_failing_rows
        )
    )
    if as_json:
        print_json(report)
    else:
        from .contracts import render_report

        render_report(report, console())
    if report["status"] == "failed":
        raise typer.Exit(EXIT_FAILED)
