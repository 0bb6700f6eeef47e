"""The few-shot prompts put what is fixed first and what varies last, and the calls go in that order,
so that llama.cpp (which keeps the previous prompt's KV state for a common prefix) evaluates only the
part that changed. Timings are in benchmarks/llamacpp_speed.py; these check the shape, and (slow) that
reusing the prefix changes no answer."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest

from synsym.backends.base import create_backend
from synsym.core.taxonomy import load_taxonomy
from synsym.engine.engine import Engine, Task
from synsym.pipeline.config import Persona, RunConfig, load_run_config
from synsym.pipeline.context import StageContext
from synsym.recipe.compose import combinations, compose_tasks
from synsym.recipe.expand import from_seeds
from synsym.recipe.generate import generation_items, single_tasks

DEMO = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"
PERSONAS = [
    {
        "name": "student",
        "age_band": "19",
        "situation": "a student living away from home",
        "register": "casual",
    },
    {"name": "nurse", "age_band": "in their 40s", "situation": "a night-shift nurse", "register": "plain"},
]


def demo_config(*overrides: str) -> RunConfig:
    return load_run_config(DEMO, list(overrides), backend="fake")


def plan(config: RunConfig, tmp_path: Path) -> tuple[list[Task], list[Task]]:
    backend = create_backend(config.backend)
    ctx = StageContext(config, load_taxonomy(config.taxonomy), {"default": Engine(backend)}, tmp_path)
    generate = single_tasks(ctx, generation_items(ctx, from_seeds(ctx)))
    return generate, compose_tasks(ctx, asyncio.run(combinations(ctx)))


def test_consecutive_generate_calls_share_all_but_the_last_turn(tmp_path: Path) -> None:
    config = demo_config("generate.statements_per_style=2")
    generate, _ = plan(config, tmp_path)
    items = {(t.payload["symptoms"][0], t.payload["subconcept"]) for t in generate}
    assert len(generate) == len(items) * len(config.styles) * 2 == len({t.id for t in generate})

    def group(t: Task) -> tuple[str, str, int]:  # the calls that share one few-shot block
        return t.payload["symptoms"][0], t.payload["style"], t.sample

    shared = 0
    for a, b in itertools.pairwise(generate):
        if group(a) == group(b):
            assert a.request.messages[:-1] == b.request.messages[:-1]
            assert a.request.messages[-1] != b.request.messages[-1]
            shared += 1
    assert shared == len(generate) - len({group(t) for t in generate})  # each group's calls in a row
    for style in config.styles:
        systems = {t.request.messages[0] for t in generate if t.payload["style"] == style.name}
        assert len(systems) == 1  # one system turn per style, whatever the symptom


def test_the_payloads_still_carry_what_each_post_is(tmp_path: Path) -> None:
    generate, compose = plan(demo_config(), tmp_path)
    for t in generate:
        symptom, sub, style, j = t.id.split("|")
        assert t.payload == {
            "symptoms": [symptom],
            "subconcept": None if sub == "None" else sub,
            "persona": None,
            "style": style,
        }
        assert int(j) == t.sample
    assert {t.payload["style"] for t in compose} == {"clinical", "colloquial"}
    assert all(set(t.payload) == {"symptoms", "severity", "persona", "style"} for t in compose)


def test_compose_calls_go_style_by_style_and_share_the_system_turn(tmp_path: Path) -> None:
    config = demo_config()
    _, compose = plan(config, tmp_path)
    styles = [t.payload["style"] for t in compose]
    assert styles == sorted(styles, key=[s.name for s in config.styles].index)  # style outermost
    n = config.compose.n_combinations
    assert len(compose) == n * len(config.styles) == len({t.id for t in compose})
    for style in config.styles:
        assert len({t.request.messages[0] for t in compose if t.payload["style"] == style.name}) == 1


def test_a_persona_is_in_the_last_turn_not_the_shared_ones(tmp_path: Path) -> None:
    config = demo_config()
    config = config.model_copy(update={"personas": [Persona.model_validate(p) for p in PERSONAS]})
    generate, compose = plan(config, tmp_path)
    for t in generate + compose:
        who = next(p for p in config.personas if p.name == t.payload["persona"]).describe()
        assert t.request.messages[-1][1].endswith(who)
        assert all(who not in text for _, text in t.request.messages[:-1])


def test_planning_is_deterministic(tmp_path: Path) -> None:
    first = plan(demo_config(), tmp_path)
    again = plan(demo_config(), tmp_path)
    assert [(t.id, t.request) for t in first[0] + first[1]] == [
        (t.id, t.request) for t in again[0] + again[1]
    ]


@pytest.mark.slow
def test_a_reused_prefix_gives_the_same_answer_as_a_fresh_state(tmp_path: Path) -> None:
    """Two demo calls that share all but their last turn: the second one evaluates only its own tail,
    and answers exactly what it answers on a model that has seen nothing before."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: pip install 'synsym[local]'")
    from llama_cpp import llama_cpp

    generate, _ = plan(demo_config(), tmp_path)
    first, second = generate[0], generate[1]
    assert first.request.messages[:-1] == second.request.messages[:-1]
    config = load_run_config(DEMO, ["backend.n_threads=1"])
    warm, cold = create_backend(config.backend), create_backend(config.backend)

    async def answers() -> tuple[str, str, int, int]:
        await warm.complete(first.request)
        llm = warm._load()  # type: ignore[attr-defined]
        before = llama_cpp.llama_perf_context(llm._ctx.ctx).n_p_eval
        reused = await warm.complete(second.request)
        evaluated = llama_cpp.llama_perf_context(llm._ctx.ctx).n_p_eval - before
        fresh = await cold.complete(second.request)
        return reused.text, fresh.text, evaluated, reused.usage.prompt_tokens

    reused, fresh, evaluated, prompt_tokens = asyncio.run(answers())
    assert reused == fresh and reused.strip()
    assert 0 < evaluated < prompt_tokens / 2  # most of the prompt came from the KV state
