"""Exact and near-duplicate removal: what counts as a duplicate, who is kept, and the recorded reasons."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from synsym.core.columns import Post, new_post
from synsym.core.dataset import read_export
from synsym.core.errors import InputError
from synsym.recipe.dedup.stage import Deduplicator, deduplicate, normalise, shingles


def post(i: int, text: str) -> Post:
    return new_post(
        id=f"p{i:03d}", text=text, style="colloquial", symptoms=["Sleep_disturbance"], stage="generate",
        backend="fake", model="m", template="t", request_key=f"k{i}",
    )  # fmt: skip


LONG = (
    "every night i lie awake until three in the morning staring at the ceiling and then "
    "i drag myself through the whole next day at work feeling like a ghost"
)


def test_normalise_ignores_case_punctuation_and_spacing() -> None:
    assert normalise("  I can't   SLEEP...\n at all!  ") == "i cant sleep at all"
    assert normalise("I can’t sleep — at all") == normalise("i cant sleep at all")


def test_shingles_fall_back_to_unigrams_for_short_texts() -> None:
    assert shingles("i cant sleep") == {"i", "cant", "sleep"}
    assert "i lie awake" in shingles(normalise(LONG))


def test_exact_duplicates_after_normalisation_name_the_first() -> None:
    rows = [post(0, "I can't sleep at night."), post(1, "i cant sleep at NIGHT"), post(2, "I eat all day.")]
    kept, dropped = deduplicate(rows)
    assert [r["id"] for r in kept] == ["p000", "p002"]
    assert [(r["id"], r["drop_class"], r["drop_detail"]) for r in dropped] == [
        ("p001", "exact_duplicate", "exact_duplicate of p000")
    ]
    assert dropped[0]["dropped_by"] == "dedup"


def test_near_duplicates_dropped_with_estimated_jaccard() -> None:
    near = LONG.replace("like a ghost", "like a zombie")  # one shingle-changing edit at the end
    rows = [post(0, LONG), post(1, near)]
    kept, dropped = deduplicate(rows, threshold=0.8)
    assert [r["id"] for r in kept] == ["p000"]
    (d,) = dropped
    m = re.fullmatch(r"near_duplicate of p000 \(jaccard (\d\.\d\d)\)", d["drop_detail"] or "")
    assert m and 0.8 <= float(m.group(1)) <= 1.0


def test_distinct_and_loosely_similar_posts_are_kept() -> None:
    texts = [
        LONG,
        "I have no appetite anymore and I have lost a lot of weight since the summer started.",
        "Sometimes I think everyone would be better off if I was not around.",
        "Every night I lie awake, and during the day I cannot focus on anything my boss says to me.",
    ]
    kept, dropped = deduplicate([post(i, t) for i, t in enumerate(texts)])
    assert len(kept) == 4 and dropped == []


def test_first_occurrence_in_input_order_is_kept() -> None:
    a, b = post(0, LONG), post(1, LONG + " again")
    kept, dropped = deduplicate([b, a])
    assert [r["id"] for r in kept] == ["p001"] and dropped[0]["id"] == "p000"
    assert dropped[0]["drop_detail"].startswith("near_duplicate of p001")  # type: ignore[union-attr]


def test_kept_rows_untouched_and_dropped_rows_are_copies() -> None:
    rows = [post(0, "I cannot sleep."), post(1, "I cannot sleep!")]
    kept, dropped = deduplicate(rows)
    assert kept[0] is rows[0] and kept[0]["drop_class"] is None
    assert dropped[0] is not rows[1] and rows[1]["drop_class"] is None
    drop_fields = ("drop_class", "drop_detail", "dropped_by")
    assert {k: v for k, v in dropped[0].items() if k not in drop_fields} == {
        k: v for k, v in rows[1].items() if k not in drop_fields
    }


def test_deterministic_and_order_preserving_on_a_larger_set() -> None:
    rng = random.Random(7)
    words = ["sleep", "tired", "eat", "guilt", "future", "hope", "work", "night", "day", "focus", "memory"]
    base = [" ".join(rng.choice(words) for _ in range(14)) for _ in range(150)]
    texts = base + [t.replace(t.split()[-1], "banana", 1) for t in base[:40]] + base[:20]
    rng.shuffle(texts)
    rows = [post(i, t) for i, t in enumerate(texts)]
    first = deduplicate(rows)
    second = deduplicate([dict(r) for r in rows])  # type: ignore[misc]
    assert first == second
    kept, dropped = first
    assert len(kept) + len(dropped) == len(rows)
    order = {r["id"]: i for i, r in enumerate(rows)}
    assert [order[r["id"]] for r in kept] == sorted(order[r["id"]] for r in kept)
    assert [order[r["id"]] for r in dropped] == sorted(order[r["id"]] for r in dropped)
    kept_ids = {r["id"] for r in kept}
    for r in dropped:  # every drop names an earlier row; a near duplicate names a kept one
        reason = r["drop_detail"] or ""
        target = reason.split(" of ")[1].split()[0]
        assert order[target] < order[r["id"]]
        assert target in kept_ids or reason.startswith("exact_duplicate")
    assert sum((r["drop_detail"] or "").startswith("exact") for r in dropped) >= 20


def test_threshold_above_one_skips_near_pass_and_bad_arguments_are_input_errors() -> None:
    rows = [post(0, LONG), post(1, LONG + " again")]
    assert len(deduplicate(rows, threshold=1.01)[0]) == 2
    with pytest.raises(InputError):
        deduplicate(rows, threshold=0)
    with pytest.raises(InputError):
        deduplicate(rows, num_perm=4)


def test_empty_input_and_punctuation_only_texts() -> None:
    assert deduplicate([]) == ([], [])
    kept, dropped = deduplicate([post(0, "..."), post(1, "!!"), post(2, "ok")])
    assert [r["id"] for r in kept] == ["p000", "p002"]
    assert dropped[0]["drop_detail"] == "exact_duplicate of p000"


def test_chunked_feeding_decides_exactly_as_one_pass() -> None:
    rng = random.Random(3)
    words = ["sleep", "tired", "eat", "guilt", "future", "hope", "work", "night", "day", "focus"]
    base = [" ".join(rng.choice(words) for _ in range(12)) for _ in range(80)]
    rows = [post(i, t) for i, t in enumerate(base + base[:10] + [t + " again" for t in base[10:30]])]
    whole = Deduplicator().feed(rows)
    chunked = Deduplicator()
    pieces: list[Post] = []
    start = 0
    for size in (1, 7, 2, 40, 3, 1000):
        pieces += chunked.feed(rows[start : start + size])
        start += size
    assert pieces == whole


def test_copies_of_examples_and_seeds_are_dropped_as_their_own_class() -> None:
    example = "I lie awake every night until three and drag myself through the next day at work."
    rows = [
        post(0, example.lower()),  # verbatim, case aside
        post(1, example.replace("at work", "at my job")),  # a near copy
        post(2, "My appetite is gone and I have lost weight since the spring, nothing tastes like anything."),
    ]
    kept, dropped = deduplicate(rows, references=[example])
    assert [r["id"] for r in kept] == ["p002"]
    assert [r["drop_class"] for r in dropped] == ["example_copy", "example_copy"]
    assert "copies an example" in (dropped[0]["drop_detail"] or "")


def test_a_long_run_of_an_examples_words_is_an_example_copy() -> None:
    """A post that lifts 12 words of an example and writes its own around them is far from the example
    by Jaccard over the whole post, and still a copy (issue 18, finding 4)."""
    example = "I lie awake every night until three and drag myself through the next day at work."
    lifted = (
        "Honestly the worst part is that I lie awake every night until three and drag myself through the "
        "next day, and my manager keeps asking me whether everything is fine at home these days."
    )
    seven = "Most weeks I lie awake every night until three, then sleep through my alarm twice."
    kept, dropped = deduplicate([post(0, lifted), post(1, seven)], references=[example])
    assert [r["id"] for r in dropped] == ["p000"] and [r["id"] for r in kept] == ["p001"]
    assert dropped[0]["drop_class"] == "example_copy"
    assert "words in a row" in (dropped[0]["drop_detail"] or "")


def test_a_run_drops_copies_of_its_examples_and_inspect_reports_the_rate(tmp_path: Path) -> None:
    """A model that answers with the taxonomy's own few-shot example (the best example there is, so
    every judge passes it) is caught by dedup, and `inspect` says how often it happened."""
    from synsym.backends.base import ChatRequest, ChatResponse, register_backend
    from synsym.backends.fake import FakeBackend
    from synsym.core.taxonomy import load_taxonomy
    from synsym.pipeline.config import run_config
    from synsym.pipeline.runner import run_pipeline
    from synsym.quality.funnel import funnel
    from synsym.testing.runs import small_fake_run

    example = load_taxonomy().symptom("Sleep_disturbance").examples["colloquial"][0]

    class Copycat(FakeBackend):
        name = "fake-copycat"

        async def complete(self, request: ChatRequest) -> ChatResponse:
            if request.json_schema is None and "sleep" in request.messages[-1][1].lower():
                return ChatResponse(text=example)
            return await super().complete(request)

    register_backend(Copycat)
    cfg = small_fake_run()
    cfg["backend"] = {"name": "fake-copycat"}
    cfg["generate"] = {**cfg["generate"], "statements_per_call": 1}
    result = run_pipeline(run_config(cfg), tmp_path, progress=False)
    copies = [r for r in read_export(tmp_path / "dropped.parquet").rows if r["drop_class"] == "example_copy"]
    assert copies and all(r["dropped_by"] == "dedup" for r in copies)
    assert example not in {r["text"] for r in read_export(tmp_path / "dataset.parquet").rows}
    report = funnel(tmp_path, result.manifest)
    assert report is not None and report["copy_rate"] == round(len(copies) / report["steps"][0]["n"], 4)


def test_vectorised_minhash_is_datasketchs() -> None:
    """The block-at-a-time signatures and band index give exactly what datasketch gives, so dedup's
    decisions (and every run's dataset) do not depend on which computed them."""
    import numpy as np
    from datasketch import MinHash, MinHashLSH

    from synsym.recipe.dedup.minhash import BandIndex, signatures, vectorised_matches_datasketch

    rng = random.Random(3)
    words = LONG.split()
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 30))) for _ in range(300)]
    sets = [sorted(sh.encode() for sh in shingles(normalise(t))) for t in texts]
    for num_perm, seed in ((128, 0), (64, 7)):
        assert vectorised_matches_datasketch(num_perm, seed)
        mine = signatures(sets, num_perm, seed)
        theirs = MinHash.bulk(sets, num_perm=num_perm, seed=seed)
        assert all(np.array_equal(m, t.hashvalues) for m, t in zip(mine, theirs, strict=True))
    lsh = MinHashLSH(threshold=0.5, num_perm=64, weights=(0.05, 0.95))
    index = BandIndex(0.5, 64, (0.05, 0.95))
    found = 0
    for i, (sig, mh) in enumerate(zip(mine, theirs, strict=True)):
        candidates = index.query(index.keys(sig))
        assert candidates == set(lsh.query(mh))
        found += bool(candidates)
        index.insert(i, index.keys(sig))
        lsh.insert(i, mh)
    assert found > 20  # the short texts share words: the comparison is not between empty sets
    with pytest.raises(ValueError, match="empty set"):
        signatures([[]], 64, 0)
