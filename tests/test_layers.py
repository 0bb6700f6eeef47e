"""The package's layers hold: data flows down, nothing imports upward or sideways, no module reaches for
another's private helper, and there are no import cycles. Imports inside functions count too: hiding an
import in a function does not change the layering."""

from __future__ import annotations

import ast
from pathlib import Path

import synsym

ROOT = Path(synsym.__file__).parent
# What each part of the package may import (besides itself), bottom to top.
ALLOWED = {
    "core": set(),
    "backends": {"core"},
    "engine": {"core", "backends"},
    "classify": {"core"},
    "quality": {"core", "classify"},
    "review": {"core", "quality"},
    "report": {"core", "classify", "quality"},
    "pipeline": {"core", "backends", "engine"},  # the framework: never the recipe
    "recipe": {"core", "backends", "engine", "pipeline"},
    "testing": {"core", "backends", "engine", "pipeline", "recipe"},
    # a given dataset read the way classifiers read one, run through the recipe's stages
    "augment": {"core", "backends", "engine", "pipeline", "recipe", "classify"},
    "cli": {"core", "backends", "engine", "pipeline", "recipe", "classify", "quality", "review", "report"}
    | {"augment"},
}
# above every layer: the public API (synsym/__init__.py) and the redirect of moved modules
ABOVE = {"", "moved"}


def modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        name = ".".join(("synsym", *path.relative_to(ROOT).with_suffix("").parts)).removesuffix(".__init__")
        found[name] = path
    return found


def imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) for every `from synsym... import name` and `import synsym...` in the file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("synsym"):
            out += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            out += [(alias.name, "") for alias in node.names if alias.name.startswith("synsym")]
    return out


def part(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


def test_no_upward_or_sideways_imports() -> None:
    bad = []
    for module, path in modules().items():
        here = part(module)
        if here in ABOVE:
            continue
        assert here in ALLOWED, f"{module}: a new part of the package needs its row in ALLOWED"
        for target, _ in imports(path):
            there = part(target)
            if there and there != here and there not in ALLOWED[here]:
                bad.append(
                    f"{module} imports {target} ({here} may import {sorted(ALLOWED[here]) or 'nothing'})"
                )
    assert not bad, "\n".join(bad)


def stage_of(module: str) -> str | None:
    """The recipe's stage (module or sub-package) a module belongs to; None outside the recipe's stages."""
    parts = module.split(".")
    if parts[:2] != ["synsym", "recipe"] or len(parts) < 3 or parts[2] in ("common", "stages"):
        return None
    return parts[2]


def test_stages_do_not_import_each_other() -> None:
    """A stage imports the framework and `synsym.recipe.common`, never another stage: what two stages
    share has one home. Only the list (`recipe/stages.py`) and a given dataset's list import stages."""
    bad = []
    for module, path in modules().items():
        here = stage_of(module)
        if here is None or here == "given":
            continue
        for target, name in imports(path):
            there = stage_of(target) or stage_of(f"{target}.{name}")
            if there is not None and there != here:
                bad.append(f"{module} imports {target} (the {there} stage)")
    assert not bad, "\n".join(bad)


def test_no_private_imports_and_no_cycles() -> None:
    mods = modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    private = []
    for module, path in mods.items():
        for target, name in imports(path):
            full = f"{target}.{name}"
            if name.startswith("_") and not name.startswith("__") and full not in mods:
                private.append(f"{module} imports {full}")
            dep = full if full in mods else target
            if dep in mods and dep != module and module != "synsym" and dep != "synsym":
                edges[module].add(dep)
    assert not private, "\n".join(private)

    def cycle_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for nxt in edges[node]:
                if nxt == start:
                    return [*trail, start]
                if nxt not in trail and len(trail) < 12:
                    stack.append((nxt, [*trail, nxt]))
        return None

    cycles = [c for m in mods if (c := cycle_from(m))]
    assert not cycles, " -> ".join(cycles[0])


def test_the_public_api_names_what_a_python_user_needs() -> None:
    for name in ("load_run_config", "run_pipeline", "load_taxonomy", "create_backend", "Engine", "Task"):
        assert name in synsym.__all__ and getattr(synsym, name) is not None
    for name in ("train_model", "load_model", "load_dataset", "read_export", "SynsymError", "STAGES"):
        assert name in synsym.__all__ and getattr(synsym, name) is not None
    assert set(dir(synsym)) >= set(synsym.__all__)
