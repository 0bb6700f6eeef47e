"""Whether a finished run made what it set out to: a run that kept nothing, or whose requests mostly
failed, must not exit 0 with an empty dataset and a card that says "0 posts".

Why: a user who reads only the exit code (a script, a CI job) took a 47-minute run of 60 failed requests
for a success. `run_outcome` reads the manifest the export just wrote and says, in one line, what went
wrong and what to try; `diagnose` gives the same line for the engine's early stop.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from synsym.core.columns import GIVEN_STAGE
from synsym.core.config import BackendConfig

# the answer arrived but was never the JSON asked for, even after re-asks and a larger max_tokens
_NO_JSON = ("invalid_output", "truncated")
_REFUSED = ("refusal", "content_filter")
_QUEUED = ("timeout", "overloaded", "rate_limit", "server_error")
# a contrastive rewrite that came back but did not make its kind's change (synsym.recipe.contrast.checks)
_REWRITES = ("not_minimal", "example_copy", "kind_not_met")


def diagnose(failures: Counter[str] | dict[str, int], backend: BackendConfig) -> str:
    """What the most common failure class means and what to try, in one sentence."""
    if not failures:
        return "no request failed, but nothing passed the judge and dedup; see dropped.parquet for why"
    top = Counter(failures).most_common(1)[0][0]
    if top in _NO_JSON:
        return (
            "the model never produced the JSON asked for: try a structured-output mode "
            "(backend.structured_output: json_schema, or a server with JSON-schema grammars) or a larger "
            "model; `synsym probe --config CONFIG` shows what it answers"
        )
    if top == "timeout":
        return (
            f"requests timed out after backend.timeout_s {backend.timeout_s:g} s: the server answers fewer "
            f"requests at once than backend.max_concurrency {backend.max_concurrency} (llama-cpp-python's "
            "server answers one); `synsym probe --config CONFIG` measures how many it takes, then set "
            "backend.max_concurrency to that"
        )
    if top in _REWRITES:
        return (
            "the model's rewrites did not make the change their kind asks for (the post unchanged or "
            "added to, the instruction's example copied): use a larger model, or the rule-made kinds "
            "(contrast kinds person_swap, reported_speech) that need none"
        )
    if top in _REFUSED:
        return "the model refused or its provider filtered the answers; try another model or provider"
    if top in _QUEUED:
        return (
            f"the server kept answering {top}: it is overloaded; lower backend.max_concurrency "
            f"(now {backend.max_concurrency}) or set backend.requests_per_minute"
        )
    return (
        "check that the server runs and that backend.base_url, backend.model and the API key are right; "
        "`synsym probe --config CONFIG` sends a few requests to check"
    )


def run_outcome(manifest: dict[str, Any], backend: BackendConfig, share: float) -> str | None:
    """None when the run made what it should; else one line: how little it made, why, what to try.
    A run fails when it kept no post, or when more than `share` (backend.stop_failure_share) of its
    requests ended without a usable answer. A given dataset's own rows (synsym augment) do not count:
    a run that added nothing to one made nothing."""
    counts = manifest.get("counts") or {}
    failures, tasks = request_failures(manifest)
    failed = sum(failures.values())
    given = int((counts.get("kept_by_stage") or {}).get(GIVEN_STAGE, 0))
    kept = int(counts.get("kept", 0)) - given
    if kept and (not tasks or failed <= share * tasks):
        return None
    what = f"{failed} of {tasks} requests failed ({', '.join(f'{k} {v}' for k, v in failures.most_common())})"
    made = ("added no post" if given else "kept no post") if not kept else f"kept only {kept} post(s)"
    return f"the run {made}: {what if tasks else 'no request was answered'}. {diagnose(failures, backend)}"


def request_failures(manifest: dict[str, Any]) -> tuple[Counter[str], int]:
    """(failed requests by class, requests ended) over every engine of a run, from its manifest: every
    request, also those that make no row (an expansion that failed keeps its seeds, with a note)."""
    failures: Counter[str] = Counter()
    tasks = 0
    for meter in (manifest.get("usage") or {}).values():
        failures.update({k: int(v) for k, v in ((meter or {}).get("failures") or {}).items()})
        tasks += int((meter or {}).get("tasks", 0))
    return failures, tasks
