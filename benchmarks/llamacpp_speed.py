"""The in-process llama.cpp backend against raw llama-cpp-python, on the demo's own prompts.

configs/demo.yaml's few-shot requests (SmolLM2-135M, one plain-text post per call) are built by the
pipeline's own planning code (generate's `single_tasks`, compose's `compose_tasks`): all of the demo's
calls for the first `--symptoms` symptoms and the first `--combos` combinations, in the demo's order.
Each variant gets its own model instance (its own KV state), same GGUF, n_ctx and threads; they take
turns call by call, so that a machine shared with other work slows them alike:

  raw      `Llama.create_chat_completion` with the backend's arguments (messages, temperature,
           max_tokens, seed)
  backend  `LlamaCppBackend.complete`, the demo's path less the engine
  before   the backend on the same requests as the prompts were before their fixed part came first:
           the old call order (sub-concept before style; combination before style) and few-shot
           examples drawn per call (the demo declares no personas, so the turns' text is otherwise the same)
  fresh    raw, with the KV state reset before each call: no prefix reuse at all
  ramcache raw with `Llama.set_cache(LlamaRAMCache(...))` (with --ramcache)

Prints one JSON line per variant: seconds per post (generate, compose), completion tokens/s, prompt
tokens sent and actually evaluated per call, prompt-eval and decode seconds per call, and how many
answers equal raw's. The last line: ratio = backend tokens/s over raw (goal >= 0.9), speedup over
before, and the demo's model time projected from them (its real calls: 112 generate, 48 compose; the
goal for the whole demo is under 300 s on 2 cores). Timings on a shared machine vary; compare variants
within one run. Does not assert.

    python benchmarks/llamacpp_speed.py [--symptoms 3] [--combos 8] [--threads N] [--ramcache]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from synsym.backends.base import ChatRequest, create_backend
from synsym.backends.llamacpp import LlamaCppBackend
from synsym.core.taxonomy import load_taxonomy
from synsym.engine.engine import Engine, Task
from synsym.pipeline.config import RunConfig, load_run_config
from synsym.pipeline.context import StageContext
from synsym.recipe.common.statements import example_pool
from synsym.recipe.compose import combinations, compose_tasks
from synsym.recipe.expand import from_seeds
from synsym.recipe.generate import generation_items, single_tasks

ROOT = Path(__file__).resolve().parents[1]
DEMO_CALLS = {"generate": 112, "compose": 48}  # configs/demo.yaml: 14 symptoms x 4 items x 2 styles; 24 x 2


def demo_tasks(config: RunConfig) -> tuple[StageContext, list[Task], list[Task]]:
    """The demo's few-shot tasks, planned as the pipeline plans them (expand.method: seeds)."""
    backend = create_backend(config.backend)  # not loaded until it answers
    ctx = StageContext(
        config, load_taxonomy(config.taxonomy), {"default": Engine(backend)}, Path(tempfile.mkdtemp())
    )
    generate = single_tasks(ctx, generation_items(ctx, from_seeds(ctx)))
    compose = compose_tasks(ctx, asyncio.run(combinations(ctx)))
    return ctx, generate, compose


def before(ctx: StageContext, generate: list[Task], compose: list[Task]) -> list[Task]:
    """The same tasks as the old plan sent them: generate by (symptom, sub-concept), then style, with
    its two examples drawn per call; compose by combination, then style."""
    styles = [s.name for s in ctx.config.styles]
    items = [(t.payload["symptoms"][0], t.payload["subconcept"]) for t in generate]
    order = {item: k for k, item in enumerate(dict.fromkeys(items))}
    old: list[tuple[tuple[int, ...], Task]] = []
    for task, (symptom, sub) in zip(generate, items, strict=True):
        style = task.payload["style"]
        pool = example_pool(ctx.taxonomy.symptom(symptom), style)
        ex1, ex2 = ctx.rng("generate", symptom, sub, style, task.sample).sample(pool * 2, 2)
        turns = list(task.request.messages)
        turns[2], turns[4] = ("assistant", ex1), ("assistant", ex2)
        request = replace(task.request, messages=tuple(turns))
        key = (0, order[(symptom, sub)], styles.index(style), task.sample)
        old.append((key, replace(task, request=request)))
    for task in compose:
        _, i, style, j = task.id.split("|")
        old.append(((1, int(i), styles.index(style), int(j)), task))
    return [t for _, t in sorted(old, key=lambda kt: kt[0])]


@dataclass
class Tally:
    name: str
    seconds: dict[str, float] = field(default_factory=lambda: {"generate": 0.0, "compose": 0.0})
    posts: dict[str, int] = field(default_factory=lambda: {"generate": 0, "compose": 0})
    completion_tokens: int = 0
    prompt_tokens: int = 0
    evaluated: int = 0  # prompt tokens llama.cpp actually ran (the rest came from its KV state)
    prompt_ms: float = 0.0
    decode_ms: float = 0.0
    texts: dict[str, str] = field(default_factory=dict)

    def line(self, raw: Tally | None) -> dict[str, Any]:
        calls = sum(self.posts.values())
        seconds = sum(self.seconds.values())
        same = sum(self.texts[k] == raw.texts.get(k) for k in self.texts) if raw is not None else None
        return {
            "variant": self.name,
            "calls": calls,
            "s_per_post": round(seconds / calls, 3),
            "s_per_post_generate": round(self.seconds["generate"] / max(1, self.posts["generate"]), 3),
            "s_per_post_compose": round(self.seconds["compose"] / max(1, self.posts["compose"]), 3),
            "completion_tok_s": round(self.completion_tokens / seconds, 1),
            "completion_tokens_per_post": round(self.completion_tokens / calls, 1),
            "prompt_tokens_per_post": round(self.prompt_tokens / calls, 1),
            "prompt_tokens_evaluated_per_post": round(self.evaluated / calls, 1),
            "prompt_eval_s_per_post": round(self.prompt_ms / 1000 / calls, 3),
            "decode_s_per_post": round(self.decode_ms / 1000 / calls, 3),
            "same_text_as_raw": None if raw is None or raw is self else f"{same}/{len(self.texts)}",
        }

    def projected_demo_s(self) -> float:
        per = {k: self.seconds[k] / max(1, self.posts[k]) for k in DEMO_CALLS}
        return sum(per[k] * n for k, n in DEMO_CALLS.items())


class Variant:
    """One model instance and how a request reaches it."""

    def __init__(self, name: str, config: RunConfig, tasks: list[Task], mode: str) -> None:
        self.tally = Tally(name)
        self.tasks, self.mode = tasks, mode
        self.backend = create_backend(config.backend)
        assert isinstance(self.backend, LlamaCppBackend)
        self.llm: Any = self.backend._load()
        if mode == "ramcache":
            from llama_cpp import LlamaRAMCache

            self.llm.set_cache(LlamaRAMCache(capacity_bytes=256 << 20))

    async def call(self, task: Task) -> None:
        from llama_cpp import llama_cpp

        request: ChatRequest = task.request
        before = llama_cpp.llama_perf_context(self.llm._ctx.ctx)
        p0, pt0, dt0 = before.n_p_eval, before.t_p_eval_ms, before.t_eval_ms
        start = time.perf_counter()
        if self.mode == "backend":
            response = await self.backend.complete(request)
            text, prompt, completion = (
                response.text,
                response.usage.prompt_tokens,
                response.usage.completion_tokens,
            )
        else:
            if self.mode == "fresh":
                self.llm.reset()
            out = self.llm.create_chat_completion(
                messages=request.openai_messages(),
                temperature=request.temperature,
                max_tokens=request.max_tokens,
                stop=list(request.stop) or None,
                seed=request.seed,
            )
            text = out["choices"][0]["message"].get("content") or ""
            prompt, completion = out["usage"]["prompt_tokens"], out["usage"]["completion_tokens"]
        seconds = time.perf_counter() - start
        after = llama_cpp.llama_perf_context(self.llm._ctx.ctx)
        stage = "compose" if task.id.startswith("compose|") else "generate"
        t = self.tally
        t.seconds[stage] += seconds
        t.posts[stage] += 1
        t.prompt_tokens += prompt
        t.completion_tokens += completion
        t.evaluated += after.n_p_eval - p0
        t.prompt_ms += after.t_p_eval_ms - pt0
        t.decode_ms += after.t_eval_ms - dt0
        t.texts[task.id] = text


async def run(variants: list[Variant]) -> None:
    n = len(variants[0].tasks)
    for k in range(n):  # take turns, starting with a different variant each call
        for v in variants[k % len(variants) :] + variants[: k % len(variants)]:
            await v.call(v.tasks[k])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symptoms", type=int, default=3, help="symptoms whose generate calls run (of 14)")
    parser.add_argument("--combos", type=int, default=8, help="combinations whose compose calls run (of 24)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="llama.cpp threads")
    parser.add_argument("--ramcache", action="store_true", help="add raw with a LlamaRAMCache")
    args = parser.parse_args()
    config = load_run_config(ROOT / "configs/demo.yaml", [f"backend.n_threads={args.threads}"])
    ctx, generate, compose = demo_tasks(config)
    symptoms = ctx.taxonomy.names[: args.symptoms]
    generate = [t for t in generate if t.payload["symptoms"][0] in symptoms]
    compose = [t for t in compose if int(t.id.split("|")[1]) < args.combos]
    after = generate + compose
    variants = [
        Variant("raw", config, after, "raw"),
        Variant("backend", config, after, "backend"),
        Variant("before", config, before(ctx, generate, compose), "backend"),
        Variant("fresh", config, after, "fresh"),
    ]
    if args.ramcache:
        variants.append(Variant("ramcache", config, after, "ramcache"))
    start = time.perf_counter()
    asyncio.run(run(variants))
    raw, backend, old = (v.tally for v in variants[:3])
    for v in variants:
        print(json.dumps({"threads": args.threads, **v.tally.line(raw)}))
    ratio = (backend.completion_tokens / sum(backend.seconds.values())) / (
        raw.completion_tokens / sum(raw.seconds.values())
    )
    print(
        json.dumps(
            {
                "calls_per_variant": len(after),
                "threads": args.threads,
                "ratio_backend_vs_raw_tok_s": round(ratio, 3),
                "ratio_s_per_post": round(sum(raw.seconds.values()) / sum(backend.seconds.values()), 3),
                "goal_ratio": 0.9,
                "speedup_vs_before_s_per_post": round(
                    (sum(old.seconds.values()) / len(after)) / (sum(backend.seconds.values()) / len(after)), 3
                ),
                "projected_demo_model_s": round(backend.projected_demo_s(), 1),
                "projected_demo_model_s_before": round(old.projected_demo_s(), 1),
                "goal_demo_s": 300,
                "bench_seconds": round(time.perf_counter() - start, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
