"""The judge drops text that is no statement at all (issue 18, finding 3): a repetition loop, an answer
cut off mid-sentence, word salad, a line of chat; with its own drop class, before any judge scores it.
The share of planted garbage kept and of good posts kept is `benchmarks/judge_garbage.py`'s figure."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from synsym.recipe.common.garbage import garbage

GOOD = [
    "I haven't slept more than three hours a night since March and I'm falling apart at work.",
    "i cant sleep",
    "I experience persistent early-morning awakening, typically around 4 a.m., without being able to "
    "return to sleep.",
    "Nighttime is the worst. I lie there for hours and my brain won't shut up!",
    "Ordering lunch takes me twenty minutes now; I just can't pick anything 😩",
    "I snap at my kids over nothing and then feel awful about it (every single day).",
    "my appetite is gone, food tastes like cardboard, and i've lost 5 kg",
    "My appetite is gone, food tastes like cardboard, and I've lost 5 kg.",
    "took a shower today and had to lie down after. that's where my energy is at",
    "i watched three seasons on Netflix and can't remember a single episode",
]
BAD = {
    "loop": "I feel tired I feel tired I feel tired I feel tired I feel tired all the time.",
    "loop_word": "I am so so so so tired of everything.",
    "cut_off": "I keep waking up at night and then I lie there thinking about how my",
    "cut_comma": "Every morning I drag myself out of bed,",
    "salad": "sleep tired insomnia exhausted night awake fatigue worthless guilt appetite",
    "shuffled": "tired. the I night every at wake and my up can't sleep back to get",
    "chat": "Sure! Here are some statements about sleep disturbance:",
    "json": '{"statement": "I cannot sleep"}',
    "quote_open": 'My friend keeps telling me: "I never sleep anymore and',
    "advice": "Feeling restless is normal, you just have to accept it and breathe.",  # the demo's kind
    "reply": "i guess you'd be right, but i've had those thoughts many times now.",
}


@pytest.mark.parametrize("text", GOOD)
def test_good_posts_pass(text: str) -> None:
    assert garbage(text) is None


def test_the_taxonomys_and_negative_kinds_example_posts_all_pass() -> None:
    """The few-shot examples are what the prompts ask for: casual ones end without a full stop, start in
    lowercase, name Reddit. A filter that drops them drops the posts the model was asked to write. One is
    the known price of catching cut-off answers: capitalised, 13 words, and no closing punctuation."""
    from synsym.core.taxonomy import load_taxonomy
    from synsym.pipeline.config import run_config

    examples = [e for s in load_taxonomy().symptoms for v in s.examples.values() for e in v]
    examples += [e for kind in run_config({}).negatives.kinds for e in kind.examples]
    dropped = [e for e in examples if garbage(e)]
    assert len(examples) > 50 and dropped == [
        "I'm dead tired after leg day lol, can't even walk up the stairs"
    ]


@pytest.mark.parametrize(("kind", "text"), sorted(BAD.items()))
def test_garbage_is_caught_and_says_what_it_found(kind: str, text: str) -> None:
    found = garbage(text)
    assert found is not None, kind
    first = found.split(":")[0]
    assert first in {"repetition", "cut off", "word salad", "not a post", "too short"}


def test_shuffled_words_of_good_posts_are_mostly_caught() -> None:
    rng = random.Random(0)
    base = [t for t in GOOD if len(t.split()) >= 8 and t[0].isupper()]
    caught = 0
    for _ in range(50):
        words = rng.choice(base).split()
        rng.shuffle(words)
        caught += garbage(" ".join(words)) is not None
    assert caught >= 15  # 22 of 50 when written: a casual post may end open, so shuffles often pass


def test_a_run_drops_garbage_as_incoherent_before_judging(tmp_path: Path) -> None:
    from synsym.backends.base import ChatRequest, ChatResponse, register_backend
    from synsym.backends.fake import FakeBackend
    from synsym.core.dataset import read_export
    from synsym.pipeline.config import run_config
    from synsym.pipeline.runner import run_pipeline
    from synsym.testing.runs import small_fake_run

    loop = "I can't sleep I can't sleep I can't sleep I can't sleep at night"

    class Looper(FakeBackend):
        name = "fake-looper"

        async def complete(self, request: ChatRequest) -> ChatResponse:
            if request.json_schema is None and "sleep" in request.messages[-1][1].lower():
                return ChatResponse(text=loop)
            return await super().complete(request)

    register_backend(Looper)
    cfg = small_fake_run()
    cfg["backend"] = {"name": "fake-looper"}
    cfg["generate"] = {**cfg["generate"], "statements_per_call": 1}
    result = run_pipeline(run_config(cfg), tmp_path, progress=False)
    dropped = [r for r in read_export(tmp_path / "dropped.parquet").rows if r["drop_class"] == "incoherent"]
    assert dropped and all(r["dropped_by"] == "judge" for r in dropped)
    assert all("repetition" in (r["drop_detail"] or "") for r in dropped)
    assert loop not in {r["text"] for r in read_export(tmp_path / "dataset.parquet").rows}
    assert result.counts["dropped_by_class"]["incoherent"] == len(dropped)


def test_a_plain_answer_cut_at_max_tokens_loses_its_unfinished_sentence(tmp_path: Path) -> None:
    """The surest sign of a cut-off answer is the server's own: finish_reason "length". A plain-text post
    keeps its finished sentences; one with none is dropped as truncated, not judged."""
    from synsym.backends.base import ChatRequest, ChatResponse, register_backend
    from synsym.backends.fake import FakeBackend
    from synsym.core.dataset import read_export
    from synsym.pipeline.config import run_config
    from synsym.pipeline.runner import run_pipeline
    from synsym.recipe.common.statements import clean_plain
    from synsym.testing.runs import small_fake_run

    assert clean_plain("I can't sleep at night. I keep waking up and", cut=True) == "I can't sleep at night."
    assert clean_plain("I keep waking up at three and then I lie there and", cut=True) is None

    class Cutter(FakeBackend):
        name = "fake-cutter"

        async def complete(self, request: ChatRequest) -> ChatResponse:
            prompt = request.messages[-1][1].lower()
            if request.json_schema is None and "sleep" in prompt:
                return ChatResponse(
                    text="I lie awake every single night. Then in the morning I", finish_reason="length"
                )
            if request.json_schema is None and "appetite" in prompt:
                return ChatResponse(text="My appetite has been gone for weeks and I", finish_reason="length")
            return await super().complete(request)

    register_backend(Cutter)
    cfg = small_fake_run()
    cfg["backend"] = {"name": "fake-cutter"}
    cfg["generate"] = {**cfg["generate"], "statements_per_call": 1}
    run_pipeline(run_config(cfg), tmp_path, progress=False)
    texts = {r["text"] for r in read_export(tmp_path / "dataset.parquet").rows}
    dropped = read_export(tmp_path / "dropped.parquet").rows
    assert not any(t.endswith("Then in the morning I") for t in texts)
    assert any(r["drop_class"] == "truncated" and "max_tokens" in (r["drop_detail"] or "") for r in dropped)
