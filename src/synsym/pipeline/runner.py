"""The run: stages in order inside one run directory, resumable at any point.

Every stage's output is written atomically and recorded in `state.json` with the stage's config
fingerprint. A rerun with the same config skips finished stages and answers the rest from the response
cache, so a run killed at any moment resumes without losing, duplicating or paying twice, and ends with
the same dataset, row for row. A rerun whose config changed a finished stage stops and says which.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import platform
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TypeVar, cast

import yaml

from synsym import __version__
from synsym.backends.base import create_backend
from synsym.core.errors import BudgetExceeded, InputError
from synsym.core.taxonomy import load_taxonomy
from synsym.engine.cache import ResponseCache
from synsym.engine.engine import Engine
from synsym.pipeline.atomic import read_jsonl, write_json, write_jsonl, write_text
from synsym.pipeline.compose import plan_compose
from synsym.pipeline.config import STAGES, RunConfig, reads, stage_fingerprints
from synsym.pipeline.context import StageContext
from synsym.pipeline.dedup import deduplicate
from synsym.pipeline.expand import load_subconcepts, run_expand, write_subconcepts
from synsym.pipeline.generate import plan_generate
from synsym.pipeline.judge import run_judge
from synsym.pipeline.negatives import plan_negatives
from synsym.pipeline.realism import realize
from synsym.pipeline.records import Post
from synsym.pipeline.statements import Plan

T = TypeVar("T")
_PACKAGES = (
    "pydantic",
    "aiohttp",
    "openai",
    "llama_cpp_python",
    "pyarrow",
    "datasketch",
    "torch",
    "transformers",
    "sentence-transformers",
)


@dataclass
class RunResult:
    run_dir: Path
    files: dict[str, Path]
    counts: dict[str, Any]
    notes: list[str] = field(default_factory=list)


class RunState:
    """`state.json`: which stages finished, with which fingerprint."""

    def __init__(self, run_dir: Path, fingerprints: dict[str, str]) -> None:
        self.path = run_dir / "state.json"
        self.fingerprints = fingerprints
        self.done: dict[str, str] = json.loads(self.path.read_text())["done"] if self.path.exists() else {}

    def changed(self) -> list[str]:
        return [s for s in STAGES if s in self.done and self.done[s] != self.fingerprints[s]]

    def forget(self, stages: list[str]) -> None:
        for stage in stages:
            self.done.pop(stage, None)
        write_json(self.path, {"done": self.done})

    def is_done(self, stage: str) -> bool:
        return self.done.get(stage) == self.fingerprints[stage]

    def mark(self, stage: str) -> None:
        self.done[stage] = self.fingerprints[stage]
        write_json(self.path, {"done": self.done})


@contextmanager
def _exclusive(run_dir: Path) -> Iterator[None]:
    """One process per run directory. The lock dies with its process, so a kill never blocks a resume."""
    with (run_dir / ".lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(
                f"{run_dir} is in use by another synsym process; wait for it or use another --out"
            ) from None
        yield


def run_pipeline(
    config: RunConfig,
    run_dir: Path,
    *,
    subconcepts_file: Path | None = None,
    restart: bool = False,
    progress: bool | None = None,
) -> RunResult:
    """Run (or resume) every stage of `config` in `run_dir`."""
    start = time.time()
    taxonomy = load_taxonomy(config.taxonomy)
    run_dir.mkdir(parents=True, exist_ok=True)
    fingerprints = stage_fingerprints(config)
    if subconcepts_file is not None:  # a reviewed file replaces the expand stage: part of its fingerprint
        if not subconcepts_file.is_file():
            raise InputError(f"{subconcepts_file} -> sub-concepts file not found")
        digest = hashlib.sha256(subconcepts_file.read_bytes()).hexdigest()[:16]
        fingerprints = {**fingerprints, "expand": f"file:{digest}"}
    with _exclusive(run_dir):
        state = RunState(run_dir, fingerprints)
        changed = state.changed()
        if changed and not restart:
            raise InputError(
                f"{run_dir} was made with a different config: the {', '.join(changed)} stage(s) would "
                "change. Use a new --out, or pass --restart to redo them (answers already paid for come "
                "from the cache)."
            )
        state.forget([s for s in STAGES if s in changed or any(c in changed for c in reads(s))])
        cache = ResponseCache(config.cache or run_dir / "cache.sqlite")
        try:
            return _run_stages(config, run_dir, state, cache, taxonomy, subconcepts_file, progress, start)
        finally:
            cache.close()


def _run_stages(
    config: RunConfig,
    run_dir: Path,
    state: RunState,
    cache: ResponseCache,
    taxonomy: Any,
    subconcepts_file: Path | None,
    progress: bool | None,
    start: float,
) -> RunResult:
    engine = Engine(create_backend(config.backend), cache, max_cost=config.max_cost, progress=progress)
    judge_engine = engine
    if config.judge.backend is not None and config.judge.method in ("llm", "both"):
        judge_engine = Engine(
            create_backend(config.judge.backend), cache, max_cost=config.max_cost, progress=progress
        )
    ctx = StageContext(config, taxonomy, engine, judge_engine, run_dir)
    stages_dir = run_dir / "stages"
    notes: list[str] = []
    stage_seconds: dict[str, float] = {}  # stages computed by this process (not loaded from an earlier one)

    def check_budget(name: str) -> None:
        for e in {id(engine): engine, id(judge_engine): judge_engine}.values():
            if e.budget.exhausted:
                raise BudgetExceeded(
                    f"stopped in the {name} stage before exceeding max_cost {config.max_cost}; "
                    "rerun with a larger --max-cost to resume (nothing paid for is lost)"
                )

    def stage(
        name: str,
        path: Path,
        compute: Callable[[], T],
        save: Callable[[Path, T], None],
        load: Callable[[Path], T],
    ) -> T:
        if state.is_done(name) and path.exists():
            return load(path)
        began = time.perf_counter()
        value = compute()
        stage_seconds[name] = round(time.perf_counter() - began, 2)
        check_budget(name)
        save(path, value)
        state.mark(name)
        return value

    def expand() -> dict[str, list[str]]:
        if subconcepts_file is not None:
            return load_subconcepts(subconcepts_file, taxonomy)
        subconcepts, expand_notes = run_expand(ctx)
        notes.extend(expand_notes)
        return subconcepts

    subconcepts = stage(
        "expand",
        run_dir / "subconcepts.yaml",
        expand,
        write_subconcepts,
        lambda p: load_subconcepts(p, taxonomy),
    )

    # generate, compose and negatives are independent: their requests go out as one engine run
    posts = {name: stages_dir / f"{name}.jsonl" for name in ("generate", "compose", "negatives")}
    plans: dict[str, Plan] = {}
    if not (state.is_done("generate") and posts["generate"].exists()):
        plans["generate"] = plan_generate(ctx, subconcepts)
    if not (state.is_done("compose") and posts["compose"].exists()):
        plans["compose"], combos, compose_notes = plan_compose(ctx)
        notes.extend(compose_notes)
        write_text(
            run_dir / "combinations.yaml", yaml.safe_dump([c.to_dict() for c in combos], sort_keys=False)
        )
    if not (state.is_done("negatives") and posts["negatives"].exists()):
        plans["negatives"] = plan_negatives(ctx)
    if plans:
        began = time.perf_counter()
        results = engine.run_sync([t for plan in plans.values() for t in plan.tasks], label=" + ".join(plans))
        stage_seconds[" + ".join(plans)] = round(time.perf_counter() - began, 2)
        check_budget(" and ".join(plans))
        for name, plan in plans.items():
            write_posts(posts[name], plan.finish(results[: len(plan.tasks)]))
            results = results[len(plan.tasks) :]
            state.mark(name)
    written = {name: read_posts(path) for name, path in posts.items()}
    everything = [r for rows in written.values() for r in rows]
    candidates = [r for r in everything if r["drop_reason"] is None]
    failed = [r for r in everything if r["drop_reason"] is not None]

    def judge() -> list[Post]:
        # duplicates go first: judging a post that is dropped anyway would be paid for and thrown away
        dedup = config.dedup
        unique, duplicates = deduplicate(candidates, dedup.near_threshold, dedup.num_perm, seed=config.seed)
        kept, dropped = run_judge(ctx, unique, subconcepts)
        return [*kept, *failed, *duplicates, *dropped]

    judged = stage("judge", stages_dir / "judge.jsonl", judge, write_posts, read_posts)
    final = stage(
        "realism", stages_dir / "realism.jsonl", lambda: realize(ctx, judged), write_posts, read_posts
    )
    kept = [r for r in final if r["drop_reason"] is None]
    dropped = [r for r in final if r["drop_reason"] is not None]
    counts = _counts(written, kept, dropped)
    manifest = {
        "synsym_version": __version__,
        "python": platform.python_version(),
        "packages": _versions(),
        "config": config.public_dict(),
        "seed": config.seed,
        "fingerprints": state.fingerprints,
        "counts": counts,
        "usage": _usage(engine, judge_engine),
        "wall_seconds": round(time.time() - start, 1),
        "stage_seconds": stage_seconds,
        "notes": notes,
    }
    from synsym.pipeline.card import CardInfo
    from synsym.pipeline.export import write_dataset

    card = CardInfo(
        recipe=config.public_dict(),
        generated=counts["generated"] + counts["composed"] + counts["negatives"],
        judged=len(kept) + len(dropped) - sum(counts["failed_by_class"].values()),
        failed=counts["failed_by_class"],
        seed=config.seed,
        taxonomy_name=taxonomy.name,
        taxonomy_version=taxonomy.version,
    )
    files = write_dataset(
        run_dir,
        kept,
        dropped,
        taxonomy,
        formats=config.export.formats,
        label_spaces=config.export.label_spaces,
        manifest=manifest,
        card=card,
    )
    state.mark("export")
    return RunResult(run_dir, files, counts, notes)


def _usage(engine: Engine, judge_engine: Engine) -> dict[str, Any]:
    """Tokens, cost and failures per engine (one entry when the judge shares the generator's)."""
    usage = {"generator": engine.meter.as_dict()}
    if judge_engine is not engine:
        usage["judge"] = judge_engine.meter.as_dict()
    return usage


def write_posts(path: Path, rows: list[Post]) -> None:
    write_jsonl(path, rows)  # type: ignore[arg-type]


def read_posts(path: Path) -> list[Post]:
    return cast(list[Post], read_jsonl(path))


def _counts(written: dict[str, list[Post]], kept: list[Post], dropped: list[Post]) -> dict[str, Any]:
    reasons = Counter(re.match(r"[a-z_]*", str(r["drop_reason"])).group() for r in dropped)  # type: ignore[union-attr]
    failures = Counter(
        str(r["drop_reason"]).split(":")[1].strip()
        for r in dropped
        if str(r["drop_reason"]).startswith("request_failed")
    )
    return {
        "generated": len(written["generate"]),
        "composed": len(written["compose"]),
        "negatives": len(written["negatives"]),
        "failed_by_class": dict(failures),
        "dropped_by_reason": dict(reasons),
        "kept": len(kept),
        "kept_single": sum(len(r["symptoms"]) == 1 for r in kept),
        "kept_multi": sum(len(r["symptoms"]) > 1 for r in kept),
        "kept_negative": sum(not r["symptoms"] for r in kept),
        "kept_by_kind": dict(Counter(r["negative_kind"] or "positive" for r in kept)),
        "kept_long": sum(r["stage"] == "long" for r in kept),
        "kept_transformed": sum(bool(r["transforms"]) for r in kept),
    }


def _versions() -> dict[str, str]:
    found = {}
    for name in _PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found
