"""A deterministic, seedable backend that needs no model: for tests (ours and users'), dry runs and
benchmarks of everything around the LLM.

Each answer is a pure function of (seed, request): structured requests get a JSON instance of the
requested schema with plausible text that picks up the prompt's content; plain requests get one
first-person sentence. `latency_s` simulates a slow model.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from typing import Any, ClassVar

from pydantic import Field

from synsym.backends.base import Backend, BackendOptions, ChatRequest, ChatResponse, Usage
from synsym.backends.fake_content import fake_sentence, instance_for_schema


class FakeOptions(BackendOptions):
    seed: int = Field(0, description="another seed gives other answers")
    latency_s: float = Field(0.0, ge=0, description="seconds each answer takes, to simulate a slow model")

    transport: ClassVar[frozenset[str]] = frozenset({"latency_s"})


class FakeBackend(Backend):
    name = "fake"
    Options = FakeOptions
    options: FakeOptions

    def identity(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.config.model or "fake", "seed": self.options.seed}

    async def complete(self, request: ChatRequest) -> ChatResponse:
        if self.options.latency_s:
            await asyncio.sleep(self.options.latency_s)
        canonical = json.dumps(request.as_dict(), sort_keys=True, default=str)
        digest = hashlib.sha256(f"{self.options.seed}:{canonical}".encode()).digest()
        rng = random.Random(int.from_bytes(digest[:8], "big"))
        prompt = request.messages[-1][1] if request.messages else ""
        if request.json_schema is not None:
            text = json.dumps(instance_for_schema(request.json_schema, rng, prompt), ensure_ascii=False)
        else:
            text = fake_sentence(rng, prompt)
        prompt_tokens = sum(len(content) for _, content in request.messages) // 4
        return ChatResponse(
            text=text, model=self.config.model or "fake", usage=Usage(prompt_tokens, max(1, len(text) // 4))
        )
