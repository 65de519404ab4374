"""Examples, windows, label/box alignment, collation, batch order (sampler) and the feature cache."""

from __future__ import annotations

import polars as pl
import pytest
import torch

from trainer.model.build import train_tiny_tokenizer
from trainer.model.features import (
    CLS_BOX,
    IGNORE_INDEX,
    SEP_BOX,
    FeatureCollator,
    ReceiptExample,
    build_features,
    examples_from_frame,
    plan_windows,
    supervised_tag_counts,
)
from trainer.training.feature_cache import (
    feature_cache_key_parts,
    load_or_build_features,
    tokenizer_fingerprint,
)
from trainer.training.sampler import LengthBucketSampler

TAGS = ["O", "B-AMOUNT", "I-AMOUNT", "B-DATE", "I-DATE"]


def words_frame(rows: list[dict]) -> pl.DataFrame:
    """A snapshot words frame; each row needs receipt_key, position, text, tag (rest defaulted)."""
    full = [
        {
            "split": "train",
            "supervised": True,
            "x0": 10 * row["position"],
            "y0": 5,
            "x1": 10 * row["position"] + 8,
            "y1": 20,
            **row,
        }
        for row in rows
    ]
    return pl.DataFrame(full, schema_overrides={"position": pl.Int32})


@pytest.fixture(scope="module")
def tokenizer():
    return train_tiny_tokenizer(["total", "12.99", "walmart", "date", "01/02/2024", "milk"] * 3, 500)


def example(words: list[str], tags: list[int] | None = None, supervised: list[bool] | None = None) -> ReceiptExample:
    count = len(words)
    return ReceiptExample(
        receipt_key="r",
        words=words,
        boxes=[[index, index + 1, index + 2, index + 3] for index in range(count)],
        tag_ids=tags or [0] * count,
        supervised=supervised or [True] * count,
    )


def test_examples_follow_position_order_and_split():
    frame = words_frame(
        [
            {"receipt_key": "b", "position": 1, "text": "12.99", "tag": "B-AMOUNT"},
            {"receipt_key": "a", "position": 1, "text": "milk", "tag": "O", "supervised": False},
            {"receipt_key": "a", "position": 0, "text": "TOTAL", "tag": "O"},
            {"receipt_key": "b", "position": 0, "text": None, "tag": "O"},
            {"receipt_key": "c", "position": 0, "text": "x", "tag": "O", "split": "val"},
        ]
    )
    examples = examples_from_frame(frame, TAGS, split="train")
    assert [e.receipt_key for e in examples] == ["a", "b"]
    assert examples[0].words == ["TOTAL", "milk"]
    assert examples[0].supervised == [True, False]
    assert examples[0].boxes == [[0, 5, 8, 20], [10, 5, 18, 20]]
    assert examples[1].words == ["", "12.99"]
    assert examples[1].tag_ids == [0, 1]
    assert [e.receipt_key for e in examples_from_frame(frame, TAGS, split="val")] == ["c"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tag": "B-TIP"}, "not in the label list"),
        ({"x1": 1001}, "outside 0..1000"),
        ({"x0": 50, "x1": 40}, "inverted"),
        ({"position": 0}, "duplicate positions"),
    ],
)
def test_examples_reject_corrupt_rows(change, message):
    rows = [
        {"receipt_key": "a", "position": 0, "text": "a", "tag": "O"},
        {"receipt_key": "a", "position": 1, "text": "b", "tag": "O", **change},
    ]
    with pytest.raises(ValueError, match=message):
        examples_from_frame(words_frame(rows), TAGS)


def test_supervised_tag_counts_only_count_train_targets():
    frame = words_frame(
        [
            {"receipt_key": "a", "position": 0, "text": "a", "tag": "O"},
            {"receipt_key": "a", "position": 1, "text": "b", "tag": "O", "supervised": False},
            {"receipt_key": "a", "position": 2, "text": "c", "tag": "B-AMOUNT"},
            {"receipt_key": "v", "position": 0, "text": "d", "tag": "B-DATE", "split": "val"},
        ]
    )
    assert supervised_tag_counts(frame) == {"O": 1, "B-AMOUNT": 1}


def test_plan_windows_exact_overlap():
    # 10 words of 2 sub-tokens, windows of 6 tokens sharing at most 2: advance 2 words each time.
    assert plan_windows([2] * 10, max_tokens=6, stride=2) == [
        (0, 3),
        (2, 5),
        (4, 7),
        (6, 9),
        (8, 10),
    ]
    assert plan_windows([2] * 10, max_tokens=6, stride=0) == [(0, 3), (3, 6), (6, 9), (9, 10)]
    assert plan_windows([3], max_tokens=6, stride=2) == [(0, 1)]


def test_plan_windows_shrinks_overlap_for_a_long_next_word():
    # The next new word fills the whole window, so the overlap must give way to it.
    assert plan_windows([1, 1, 1, 6, 1], max_tokens=6, stride=4) == [(0, 3), (3, 4), (4, 5)]
    with pytest.raises(ValueError):
        plan_windows([7], max_tokens=6, stride=2)


def test_labels_on_first_subtoken_and_boxes_repeated(tokenizer):
    # "12.99" -> 12 . 99 (3 sub-tokens); "milk" -> 1; "" -> [UNK].
    receipt = example(["12.99", "milk", ""], tags=[1, 0, 3], supervised=[True, False, True])
    (feature,) = build_features([receipt], tokenizer, max_seq_length=32, doc_stride=4)
    tokens = tokenizer.convert_ids_to_tokens(feature["input_ids"])
    assert tokens == ["[CLS]", "12", ".", "99", "milk", "[UNK]", "[SEP]"]
    assert feature["labels"] == [
        IGNORE_INDEX,
        1,
        IGNORE_INDEX,
        IGNORE_INDEX,
        IGNORE_INDEX,
        3,
        IGNORE_INDEX,
    ]
    assert feature["word_ids"] == [-1, 0, 0, 0, 1, 2, -1]
    assert feature["bbox"] == [
        CLS_BOX,
        [0, 1, 2, 3],
        [0, 1, 2, 3],
        [0, 1, 2, 3],
        [1, 2, 3, 4],
        [2, 3, 4, 5],
        SEP_BOX,
    ]
    assert feature["attention_mask"] == [1] * 7 and feature["token_type_ids"] == [0] * 7
    assert feature["example_index"] == 0


def test_two_thousand_word_receipt_loses_no_word(tokenizer):
    words = ["12.99" if index % 3 == 0 else "milk" for index in range(2000)]  # 3 or 1 sub-tokens
    receipt = example(words, tags=[index % len(TAGS) for index in range(2000)])
    features = build_features([receipt], tokenizer, max_seq_length=64, doc_stride=16)
    assert len(features) > 1
    assert max(len(f["input_ids"]) for f in features) <= 64
    covered = set()
    for previous, current in zip(features, features[1:], strict=False):
        shared = set(previous["word_ids"]) & set(current["word_ids"]) - {-1}
        shared_tokens = sum(1 for word in current["word_ids"] if word in shared)
        assert 0 < shared_tokens <= 16
        # always moves forward
        assert min(current["word_ids"][1:-1]) > min(previous["word_ids"][1:-1])
    for feature in features:
        body = feature["word_ids"][1:-1]
        # whole words, contiguous
        assert body == sorted(body) and body[-1] - body[0] + 1 == len(set(body))
        covered.update(body)
        for position, word in enumerate(feature["word_ids"]):
            first = word >= 0 and feature["word_ids"][position - 1] != word
            assert feature["labels"][position] == (receipt.tag_ids[word] if first else IGNORE_INDEX)
    assert covered == set(range(2000))


def test_word_longer_than_window_is_truncated_not_dropped(tokenizer):
    long_word = ".".join(["12"] * 20)  # 39 sub-tokens
    receipt = example(["milk", long_word, "milk"], tags=[0, 1, 0])
    features = build_features([receipt], tokenizer, max_seq_length=16, doc_stride=4)
    assert [sorted(set(f["word_ids"]) - {-1}) for f in features] == [[0], [1], [2]]
    long_feature = features[1]
    assert len(long_feature["input_ids"]) == 16
    assert long_feature["word_ids"] == [-1] + [1] * 14 + [-1]
    assert long_feature["labels"][1] == 1 and set(long_feature["labels"][2:]) == {IGNORE_INDEX}
    assert tokenizer.convert_ids_to_tokens(long_feature["input_ids"][1:3]) == ["12", "."]


def test_collator_pads_every_input():
    features = [
        {"input_ids": [2, 7, 3], "attention_mask": [1] * 3, "token_type_ids": [0] * 3,
         "bbox": [CLS_BOX, [1, 2, 3, 4], SEP_BOX], "labels": [-100, 4, -100],
         "example_index": 0, "word_ids": [-1, 0, -1]},
        {"input_ids": [2, 3], "attention_mask": [1] * 2, "token_type_ids": [0] * 2,
         "bbox": [CLS_BOX, SEP_BOX], "labels": [-100, -100], "example_index": 1, "word_ids": [-1, -1]},
    ]  # fmt: skip
    batch = FeatureCollator(pad_token_id=0, pad_to_multiple_of=None)(features)
    assert set(batch) == {"input_ids", "attention_mask", "token_type_ids", "bbox", "labels"}
    assert batch["input_ids"].tolist() == [[2, 7, 3], [2, 3, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].tolist() == [[-100, 4, -100], [-100, -100, -100]]
    assert batch["bbox"].tolist()[1] == [CLS_BOX, SEP_BOX, [0, 0, 0, 0]]
    assert batch["bbox"].dtype == torch.long and batch["bbox"].shape == (2, 3, 4)

    padded = FeatureCollator(pad_token_id=0, pad_to_multiple_of=8)(features)
    assert padded["input_ids"].shape == (2, 8)
    capped = FeatureCollator(pad_token_id=0, pad_to_multiple_of=8, max_length=5)(features)
    assert capped["input_ids"].shape == (2, 5)


def test_feature_cache_miss_then_hit(tmp_path, tokenizer):
    receipt = example(["12.99", "milk"], tags=[1, 0])
    key = feature_cache_key_parts("sha-1", tokenizer, 32, 4, TAGS)
    calls = []

    def build():
        calls.append(1)
        return build_features([receipt], tokenizer, 32, 4)

    first = load_or_build_features(tmp_path, key, build)
    second = load_or_build_features(tmp_path, key, build)
    assert (first.hit, second.hit, len(calls)) == (False, True, 1)
    assert second.features == first.features
    assert [p.name for p in tmp_path.iterdir()] == [first.path.name]  # no temporary file left

    other = load_or_build_features(tmp_path, {**key, "doc_stride": 8}, build)
    assert not other.hit and other.path != first.path and len(calls) == 2


def test_tokenizer_fingerprint_tracks_vocabulary():
    words = ["total", "12.99", "milk"]
    assert tokenizer_fingerprint(train_tiny_tokenizer(words, 100)) == tokenizer_fingerprint(
        train_tiny_tokenizer(list(words), 100)
    )
    assert tokenizer_fingerprint(train_tiny_tokenizer(words, 100)) != tokenizer_fingerprint(
        train_tiny_tokenizer(words + ["bread"], 100)
    )


def _epoch(sampler: LengthBucketSampler) -> list[list[int]]:
    indices = list(sampler)
    return [indices[i : i + sampler.batch_size] for i in range(0, len(indices), sampler.batch_size)]


def test_length_buckets_cover_every_window_once_in_batches_of_similar_length():
    lengths = [int(x) for x in torch.randint(10, 512, (203,), generator=torch.Generator().manual_seed(0))]
    sampler = LengthBucketSampler(lengths, batch_size=8, generator=torch.Generator().manual_seed(1))
    batches = _epoch(sampler)
    assert sorted(i for batch in batches for i in batch) == list(range(203))
    assert [len(b) for b in batches[:-1]] == [8] * 25 and len(batches[-1]) == 3  # only the last is short
    padded = sum(8 * max(lengths[i] for i in batch) for batch in batches[:-1])
    real = sum(lengths[i] for batch in batches[:-1] for i in batch)
    assert padded / real < 1.1  # one sorted bucket: under 10% padding (random batches: ~55%)
    jittered = _epoch(
        LengthBucketSampler(lengths, batch_size=8, jitter=0.6, generator=torch.Generator().manual_seed(1))
    )
    assert sorted(i for batch in jittered for i in batch) == list(range(203))
    jittered_padded = sum(8 * max(lengths[i] for i in batch) for batch in jittered[:-1])
    random_padded = sum(8 * max(lengths[i] for i in range(start, start + 8)) for start in range(0, 200, 8))
    assert padded < jittered_padded < random_padded  # jitter trades some padding for randomness


def test_length_buckets_shuffle_batches_not_longest_first():
    lengths = list(range(1, 257))
    sampler = LengthBucketSampler(lengths, batch_size=4, generator=torch.Generator().manual_seed(3))
    first, second = _epoch(sampler), _epoch(sampler)
    maxima = [max(lengths[i] for i in batch) for batch in first]
    assert maxima != sorted(maxima) and maxima != sorted(maxima, reverse=True)
    assert first != second  # a new order every epoch
    again = _epoch(LengthBucketSampler(lengths, batch_size=4, generator=torch.Generator().manual_seed(3)))
    assert again == first  # and the same order for the same seed


def test_length_buckets_small_buckets_still_group():
    lengths = [5, 500] * 40
    sampler = LengthBucketSampler(lengths, batch_size=2, bucket_batches=4, generator=torch.Generator().manual_seed(0))
    spreads = [max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in _epoch(sampler)]
    assert spreads.count(0) >= len(spreads) - 10  # at most one mixed batch per bucket of 8 windows
    with pytest.raises(ValueError, match="batch_size"):
        LengthBucketSampler(lengths, batch_size=0)
    with pytest.raises(ValueError, match="jitter"):
        LengthBucketSampler(lengths, batch_size=2, jitter=1.0)


def test_jitter_mixes_lengths_within_batches():
    lengths = [int(x) for x in torch.randint(10, 128, (850,), generator=torch.Generator().manual_seed(5))]

    def spread(jitter: float) -> float:
        """Mean ratio of the shortest to the longest window of a batch (1: all alike)."""
        sampler = LengthBucketSampler(lengths, batch_size=16, jitter=jitter, generator=torch.Generator().manual_seed(2))
        batches = _epoch(sampler)[:-1]
        return sum(min(lengths[i] for i in b) / max(lengths[i] for i in b) for b in batches) / len(batches)

    random_batches = sum(min(lengths[i : i + 16]) / max(lengths[i : i + 16]) for i in range(0, 848, 16)) / 53
    assert spread(0.0) > 0.9  # exact sort: near-identical lengths
    assert random_batches < spread(0.6) < spread(0.0)  # jitter: mixed, but less than at random
