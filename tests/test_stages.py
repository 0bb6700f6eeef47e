"""The stage list as the one description of a run: a new stage is one class and one line, its position
decides what it reads, fingerprints and the funnel follow from the list, and judging overlaps generation."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import Field

from synsym.backends.base import BackendOptions, ChatRequest, ChatResponse, register_backend
from synsym.backends.fake import FakeBackend
from synsym.core.columns import Post, is_kept, with_fields
from synsym.core.config import StrictModel
from synsym.core.errors import ConfigError, InputError
from synsym.pipeline.config import load_run_config, run_config
from synsym.pipeline.context import StageContext
from synsym.pipeline.graph import fingerprints, resolve_reads
from synsym.pipeline.runner import run_pipeline
from synsym.pipeline.stage import ROWS, RowStage
from synsym.recipe.stages import STAGES
from synsym.testing.runs import small_fake_run


class LowercaseConfig(StrictModel):
    """Lowercase a share of the kept rows."""

    share: float = Field(0.5, ge=0, le=1, description="share of the kept rows to lowercase")


class LowercaseStage(RowStage):
    """Lowercase a share of the kept rows: the toy stage of docs/architecture.md."""

    name = "lowercase"
    Config = LowercaseConfig
    uses: tuple[str, ...] = ("seed",)

    def compute(self, ctx: StageContext, rows: list[Post]) -> list[Post]:
        cfg: LowercaseConfig = ctx.config.lowercase
        rng = ctx.rng("lowercase")
        return [
            with_fields(r, text=r["text"].lower()) if is_kept(r) and rng.random() < cfg.share else r
            for r in rows
        ]


WITH_TOY = (*STAGES[:-1], LowercaseStage(), STAGES[-1])  # the one line: its place in the list


def test_a_new_stage_is_one_class_and_one_line(tmp_path: Path) -> None:
    config = run_config(small_fake_run(seed=5), WITH_TOY)
    result = run_pipeline(config, tmp_path, progress=False, stages=WITH_TOY)
    lowered = [r for r in json_rows(tmp_path / "stages" / "lowercase.jsonl") if is_kept(r)]
    exported = json_rows_parquet(tmp_path / "dataset.parquet")
    assert [r["text"] for r in exported] == [r["text"] for r in lowered]  # export read what the toy wrote
    assert any(r["text"] == r["text"].lower() for r in lowered) and any(
        r["text"] != r["text"].lower() for r in lowered
    )
    assert result.manifest["stages"][-2:] == ["lowercase", "export"]
    assert json.loads((tmp_path / "state.json").read_text())["done"]["lowercase"]
    # its reads follow from where it stands: the rows realism left, and export now reads the toy's
    reads = resolve_reads(WITH_TOY)
    assert reads["lowercase"] == {ROWS: ["realism"]} and reads["export"] == {ROWS: ["lowercase"]}
    # a rerun resumes: nothing is asked again
    again = run_pipeline(config, tmp_path, progress=False, stages=WITH_TOY)
    assert again.manifest == result.manifest


def json_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def json_rows_parquet(path: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def test_fingerprints_follow_the_list() -> None:
    config, with_toy = run_config(small_fake_run()), run_config(small_fake_run(), WITH_TOY)
    plain, toy = fingerprints(STAGES, config), fingerprints(WITH_TOY, with_toy)
    changed = [s for s in plain if plain[s] != toy.get(s)]
    assert changed == ["export"]  # only what reads the toy's output changes
    # the toy's own setting redoes it and what follows it, nothing else
    share = fingerprints(WITH_TOY, run_config({**small_fake_run(), "lowercase": {"share": 0.9}}, WITH_TOY))
    assert [s for s in toy if toy[s] != share[s]] == ["lowercase", "export"]
    dedup = run_config({**small_fake_run(), "dedup": {"near_threshold": 0.9}})
    after = fingerprints(STAGES, dedup)
    assert [s for s in plain if plain[s] != after[s]] == ["dedup", "judge", "contrast", "realism", "export"]


def test_a_key_a_stage_uses_must_exist() -> None:
    """A typo in `uses` would hash nothing and let a rerun reuse stale rows: it is refused."""

    class Typo(LowercaseStage):
        uses = ("seed", "judg.threshold")

    stages = (*STAGES, Typo())
    with pytest.raises(ConfigError, match=r"uses 'judg\.threshold', which is no config key; did you mean"):
        fingerprints(stages, run_config(small_fake_run(), stages))

    class DeepTypo(LowercaseStage):
        uses = ("judge.treshold",)

    stages = (*STAGES, DeepTypo())
    with pytest.raises(ConfigError, match="did you mean threshold"):
        fingerprints(stages, run_config(small_fake_run(), stages))


def test_a_config_without_the_stage_s_section_is_refused() -> None:
    with pytest.raises(InputError, match="no 'lowercase' section"):
        fingerprints(WITH_TOY, run_config(small_fake_run()))


def test_a_stage_list_that_reads_forward_is_refused() -> None:
    class Early(LowercaseStage):
        name = "early"
        reads = ("judge",)

    with pytest.raises(InputError, match="not an earlier stage"):
        resolve_reads((Early(), *STAGES))


class _LoggedFake(FakeBackend):
    """The fake backend, noting when each judge request starts and each generation answer ends."""

    name = "fake-logged"
    log: ClassVar[list[tuple[str, float]]] = []

    async def complete(self, request: ChatRequest) -> ChatResponse:
        judge = request.schema_name == "judge_scores"
        if judge:
            self.log.append(("judge-start", time.monotonic()))
        response = await super().complete(request)
        if not judge:
            self.log.append(("generated", time.monotonic()))
        return response


def test_judge_requests_start_while_generation_answers_still_arrive(tmp_path: Path) -> None:
    register_backend(_LoggedFake)
    _LoggedFake.log.clear()
    cfg = small_fake_run(concurrency=4)
    cfg["backend"] = {"name": "fake-logged", "max_concurrency": 4, "latency_s": 0.005}
    run_pipeline(run_config(cfg), tmp_path, progress=False)
    first_judge = min(t for kind, t in _LoggedFake.log if kind == "judge-start")
    last_generated = max(t for kind, t in _LoggedFake.log if kind == "generated")
    assert first_judge < last_generated


class _OptionsBackend(FakeBackend):
    """A plugin backend with options of its own."""

    class Options(BackendOptions):
        temperature_floor: float = Field(0.0, ge=0)
        seed: int = 0
        latency_s: float = 0.0

    name = "fake-options"


def test_a_plugin_backend_validates_its_own_options() -> None:
    register_backend(_OptionsBackend)
    ok = load_run_config(None, ["backend.name=fake-options", "backend.temperature_floor=0.5"])
    assert ok.backend.options == {"temperature_floor": 0.5}
    with pytest.raises(
        ConfigError, match=r"backend.temperature_flor -> unknown key; did you mean temperature_floor"
    ):
        load_run_config(None, ["backend.name=fake-options", "backend.temperature_flor=0.5"])
    with pytest.raises(
        ConfigError, match=r"backend.temperature_floor -> Input should be greater than or equal"
    ):
        load_run_config(None, ["backend.name=fake-options", "backend.temperature_floor=-1"])


def test_a_run_directory_of_an_earlier_format_says_why_it_needs_restart(tmp_path: Path) -> None:
    config = run_config(small_fake_run())
    run_pipeline(config, tmp_path, progress=False)
    state = json.loads((tmp_path / "state.json").read_text())
    (tmp_path / "state.json").write_text(json.dumps({"done": state["done"]}))  # what format 3 wrote
    with pytest.raises(InputError, match=r"earlier synsym whose stage files \(format 3\).*--restart"):
        run_pipeline(config, tmp_path, progress=False)
    before = json_rows_parquet(tmp_path / "dataset.parquet")
    run_pipeline(config, tmp_path, progress=False, restart=True)
    assert json_rows_parquet(tmp_path / "dataset.parquet") == before  # redone from the cache, row for row
