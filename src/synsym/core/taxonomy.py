"""Taxonomies and label spaces as validated data.

A taxonomy is the list of symptoms a run generates for (with definitions, seed descriptions and few-shot
example posts per style) plus the label spaces its dataset is exported in. Each label space is a relation
`taxonomy symptom -> [labels]`, so the same data answers both directions: `project` (a post's symptoms to
a scale's items) and `lift` (a scale's items back to the symptoms that could have produced them).
Built-in taxonomies are package data; a user's YAML of the same shape goes through the same checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, PrivateAttr, ValidationError, ValidationInfo, field_validator, model_validator

from synsym.core.config import StrictModel, format_validation_error, read_yaml
from synsym.core.errors import ConfigError, InputError, suggest

NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_\-]*$"
Problem = tuple[str, str]  # (dotted.path, what is wrong)


def package_data_path(*parts: str) -> Path:
    """Path of a file or folder under `synsym/data` (installed as package data)."""
    return Path(str(resources.files("synsym").joinpath("data", *parts)))


class Symptom(StrictModel):
    """One symptom: what it is, the seed descriptions expansion must keep, and few-shot posts per style."""

    name: str = Field(pattern=NAME_PATTERN, description="identifier used in labels and column names")
    definition: str = Field(min_length=1, description="one line, clinical")
    seeds: list[str] = Field(min_length=1, description="seed descriptions, kept by the expand stage")
    examples: dict[str, list[str]] = Field(
        default_factory=dict, description="style -> short first-person example posts (few-shot prompts)"
    )


class LabelSpace(StrictModel):
    """A label space and its relation to the taxonomy: each symptom lists the labels it turns on.

    `project` is exact: a label is on when any related symptom is on. `lift` is not always: when several
    symptoms share a label (PHQ-9's Concentration_Problems comes from Inattention, Indecisiveness and
    Poor_memory), an on label says only that at least one of them is present. `lift(mode="all")` turns on
    every candidate (a superset of the truth); `lift(mode="unambiguous")` turns on only symptoms that are
    the sole source of a label (a subset). Symptoms that map to nothing can never be lifted.
    """

    description: str = ""
    labels: list[str] = Field(min_length=1, description="the space's labels, in its column order")
    mapping: dict[str, list[str]] | Literal["identity"] = Field(
        description="symptom -> labels it turns on ([] for none), or `identity` when labels are the symptoms"
    )
    _name: str = PrivateAttr(default="")
    _symptoms: tuple[str, ...] = PrivateAttr(default=())

    def _bind(self, name: str, symptoms: Sequence[str]) -> None:
        self._name, self._symptoms = name, tuple(symptoms)

    @property
    def name(self) -> str:
        return self._name

    @property
    def symptoms(self) -> tuple[str, ...]:
        """The taxonomy's symptoms, in order: the input of `project` and the output of `lift`."""
        if not self._symptoms:
            raise InputError(
                f"label space {self._name or '?'} is not attached to a taxonomy; load it with one"
            )
        return self._symptoms

    def relation(self) -> dict[str, tuple[str, ...]]:
        """symptom -> labels it turns on, for every symptom of the taxonomy."""
        if self.mapping == "identity":
            return {s: (s,) for s in self.symptoms}
        return {s: tuple(self.mapping.get(s, ())) for s in self.symptoms}

    def sources(self, label: str) -> tuple[str, ...]:
        """The symptoms that turn `label` on, in taxonomy order."""
        if label not in self.labels:
            raise InputError(
                f"label space {self._name}: unknown label {label!r}{suggest(label, self.labels)}"
            )
        return tuple(s for s, labs in self.relation().items() if label in labs)

    def ambiguous_labels(self) -> list[str]:
        """Labels with more than one source symptom: lifting them cannot tell which symptom was meant."""
        return [lab for lab in self.labels if len(self.sources(lab)) > 1]

    def unmapped_symptoms(self) -> list[str]:
        """Symptoms with no label in this space: they vanish on projection."""
        return [s for s, labs in self.relation().items() if not labs]

    def unreachable_labels(self) -> list[str]:
        """Labels no symptom turns on: always 0 in a projected dataset."""
        return [lab for lab in self.labels if not self.sources(lab)]

    def _check_len(self, vec: Sequence[Any], size: int, what: str) -> list[int]:
        if len(vec) != size:
            raise InputError(
                f"label space {self._name}: expected {size} multi-hot values ({what}), got {len(vec)}"
            )
        return [1 if x else 0 for x in vec]

    def project(self, multi_hot: Sequence[Any]) -> list[int]:
        """Taxonomy multi-hot -> this space's multi-hot: a label is on if any related symptom is on."""
        on = self._check_len(multi_hot, len(self.symptoms), "taxonomy symptoms")
        rel = self.relation()
        active = {lab for s, bit in zip(self.symptoms, on, strict=True) if bit for lab in rel[s]}
        return [1 if lab in active else 0 for lab in self.labels]

    def lift(self, multi_hot: Sequence[Any], mode: Literal["all", "unambiguous"] = "all") -> list[int]:
        """This space's multi-hot -> taxonomy multi-hot; see the class docstring for what `mode` decides."""
        on = self._check_len(multi_hot, len(self.labels), "labels")
        active = {lab for lab, bit in zip(self.labels, on, strict=True) if bit}
        out = []
        for labs in self.relation().values():
            hits = [lab for lab in labs if lab in active]
            if mode == "unambiguous":
                hits = [lab for lab in hits if len(self.sources(lab)) == 1]
            out.append(1 if hits else 0)
        return out

    def project_names(self, symptoms: Iterable[str]) -> list[str]:
        """Symptom names -> label names, in this space's order."""
        on = set(symptoms)
        return [
            lab
            for lab, bit in zip(self.labels, self.project([s in on for s in self.symptoms]), strict=True)
            if bit
        ]

    def lift_names(self, labels: Iterable[str], mode: Literal["all", "unambiguous"] = "all") -> list[str]:
        """Label names -> symptom names, in taxonomy order."""
        on = set(labels)
        vec = self.lift([lab in on for lab in self.labels], mode=mode)
        return [s for s, bit in zip(self.symptoms, vec, strict=True) if bit]


Dimension = Literal["whose", "time", "denied", "hypothetical", "feared", "reported", "figurative"]
DIMENSIONS: tuple[str, ...] = get_args(Dimension)


class Convention(StrictModel):
    """The annotation convention: what a label means. Whose state counts, over which time, and whether a
    denied, hypothetical, feared or reported state counts as having the symptom. A contrastive rewrite
    changes one of these dimensions; it is a negative only where the convention does not count the change.
    Literal or idiomatic, non-clinical use ("dying of boredom") never counts."""

    whose: Literal["writer", "anyone"] = Field(
        "writer", description="writer: only the writer's own state counts; anyone: a state reported of anyone"
    )
    time: Literal["current", "two_weeks", "ever"] = Field(
        "current", description="current: now; two_weeks: within the last two weeks (PHQ-9); ever: at any time"
    )
    denied: bool = Field(False, description="a denied symptom counts ('I'm not hopeless')")
    hypothetical: bool = Field(
        False, description="a hypothetical one counts ('if I lost my job I'd never sleep')"
    )
    feared: bool = Field(False, description="a feared one counts ('I'm scared I'll stop sleeping')")
    reported: bool = Field(False, description="someone else's words, quoted or reported, count")

    def negative(self, dimension: str) -> bool:
        """Whether changing `dimension` of a positive post makes a negative under this convention."""
        return {
            "whose": self.whose == "writer",
            "time": self.time != "ever",
            "denied": not self.denied,
            "hypothetical": not self.hypothetical,
            "feared": not self.feared,
            "reported": not self.reported,
            "figurative": True,
        }[dimension]

    def describe(self) -> list[str]:
        """The convention in words, one line per dimension: for `taxonomy show` and dataset cards."""
        when = {"current": "now", "two_weeks": "within the last two weeks", "ever": "at any time"}[self.time]
        lines = [
            "whose state: " + ("the writer's own only" if self.whose == "writer" else "anyone's"),
            f"time: the state {when}",
        ]
        for key, what in (("denied", "denied"), ("hypothetical", "hypothetical"), ("feared", "feared"),
                          ("reported", "reported or quoted")):  # fmt: skip
            lines.append(f"{what} states: " + ("count" if getattr(self, key) else "do not count"))
        lines.append("literal or idiomatic non-clinical use: does not count")
        return lines


class Taxonomy(StrictModel):
    """A condition's symptoms, the styles its examples cover, the label spaces it exports, and what its
    labels mean (the annotation convention)."""

    name: str = Field(min_length=1)
    description: str = ""
    version: str = "1"
    styles: list[str] = Field(
        default_factory=list, description="styles every symptom carries example posts for (may be empty)"
    )
    symptoms: list[Symptom] = Field(min_length=1)
    label_spaces: dict[str, LabelSpace] = Field(default_factory=dict)
    negation: Literal["stated_only", "unsupported"] = Field(
        "stated_only",
        description="labels of a negated statement ('I don't feel hopeless, just tired'): stated_only = the "
        "symptoms it states, not the ones it denies; unsupported = absence can mean something in this "
        "taxonomy, so no negated statements are written",
    )
    convention: Convention = Field(default_factory=Convention, description="what a label means")

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int | float) else v

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Taxonomy:
        problems = _check_taxonomy(self)
        for key, space in self.label_spaces.items():
            space._bind(key, self.names)
        if problems:
            sink = info.context.get("problems") if isinstance(info.context, dict) else None
            if isinstance(sink, list):
                sink.extend(problems)  # load_taxonomy formats them like pydantic's own errors
            else:
                raise ValueError(
                    "taxonomy is not consistent:\n" + "\n".join(f"{p} -> {m}" for p, m in problems)
                )
        return self

    @property
    def names(self) -> tuple[str, ...]:
        """Symptom names in taxonomy (index) order."""
        return tuple(s.name for s in self.symptoms)

    def symptom(self, name: str) -> Symptom:
        """The symptom called `name`; an unknown name is an InputError with the closest matches."""
        for s in self.symptoms:
            if s.name == name:
                return s
        raise InputError(f"taxonomy {self.name}: unknown symptom {name!r}{suggest(name, self.names)}")

    def index(self, name: str) -> int:
        """Position of a symptom in taxonomy order (its column in the identity label space)."""
        self.symptom(name)
        return self.names.index(name)

    def order(self, symptoms: Iterable[str]) -> tuple[str, ...]:
        """The given symptoms, validated, deduplicated and sorted into taxonomy order."""
        wanted = {self.symptom(s).name for s in symptoms}
        return tuple(s for s in self.names if s in wanted)

    def space(self, name: str) -> LabelSpace:
        """The label space called `name`; unknown is an InputError naming the declared ones."""
        if name not in self.label_spaces:
            raise InputError(
                f"taxonomy {self.name}: unknown label space {name!r}{suggest(name, self.label_spaces)}"
            )
        return self.label_spaces[name]

    def multi_hot(self, symptoms: Iterable[str], space: str | None = None) -> list[int]:
        """Symptom names -> multi-hot in `space` (default: the taxonomy's own order, e.g. dsm14)."""
        ordered = self.order(symptoms)
        vec = [1 if s in ordered else 0 for s in self.names]
        return vec if space is None else self.space(space).project(vec)

    def decode(self, multi_hot: Sequence[Any]) -> list[str]:
        """Taxonomy-order multi-hot -> symptom names."""
        if len(multi_hot) != len(self.names):
            raise InputError(f"taxonomy {self.name}: expected {len(self.names)} values, got {len(multi_hot)}")
        return [s for s, bit in zip(self.names, multi_hot, strict=True) if bit]

    def examples(self, symptom: str, style: str) -> list[str]:
        """Few-shot example posts for (symptom, style); empty when the taxonomy has none for that style."""
        return list(self.symptom(symptom).examples.get(style, []))


def _dupes(items: Sequence[str]) -> dict[int, int]:
    """index of each repeat -> index of its first occurrence."""
    first: dict[str, int] = {}
    out: dict[int, int] = {}
    for i, x in enumerate(items):
        if x in first:
            out[i] = first[x]
        else:
            first[x] = i
    return out


def _check_taxonomy(tax: Taxonomy) -> list[Problem]:
    """Cross-field checks pydantic's per-field validation cannot express."""
    problems: list[Problem] = []
    names = tax.names
    for i, j in _dupes(names).items():
        problems.append((f"symptoms.{i}.name", f"duplicate symptom {names[i]!r} (also symptoms.{j})"))
    for i, j in _dupes(tax.styles).items():
        problems.append((f"styles.{i}", f"duplicate style {tax.styles[i]!r} (also styles.{j})"))
    for i, sym in enumerate(tax.symptoms):
        for k, j in _dupes(sym.seeds).items():
            problems.append((f"symptoms.{i}.seeds.{k}", f"duplicate seed of {sym.name} (also seeds.{j})"))
        for style, posts in sym.examples.items():
            where = f"symptoms.{i}.examples.{style}"
            if style not in tax.styles:
                hint = suggest(style, tax.styles) if tax.styles else "; declare it under top-level styles"
                problems.append((where, f"style {style!r} of {sym.name} is not declared in styles{hint}"))
            elif not posts or any(not p.strip() for p in posts):
                problems.append(
                    (where, f"{sym.name} needs at least one non-empty example post for {style!r}")
                )
        for style in tax.styles:
            if style not in sym.examples:
                problems.append(
                    (f"symptoms.{i}.examples", f"{sym.name} has no example posts for style {style!r}")
                )
    for key, space in tax.label_spaces.items():
        problems.extend(_check_space(key, space, names))
    return problems


def _check_space(key: str, space: LabelSpace, names: Sequence[str]) -> list[Problem]:
    base = f"label_spaces.{key}"
    problems: list[Problem] = []
    for i, j in _dupes(space.labels).items():
        problems.append((f"{base}.labels.{i}", f"duplicate label {space.labels[i]!r} (also labels.{j})"))
    if space.mapping == "identity":
        if set(space.labels) != set(names):
            extra = sorted(set(space.labels) - set(names))
            missing = [s for s in names if s not in space.labels]
            problems.append(
                (
                    f"{base}.labels",
                    f"an identity space lists exactly the symptoms; extra {extra}, missing {missing}",
                )
            )
        return problems
    for sym, labels in space.mapping.items():
        if sym not in names:
            problems.append((f"{base}.mapping.{sym}", f"unknown symptom{suggest(sym, names)}"))
        for k, lab in enumerate(labels):
            if lab not in space.labels:
                problems.append(
                    (f"{base}.mapping.{sym}.{k}", f"unknown label {lab!r}{suggest(lab, space.labels)}")
                )
        for k in _dupes(labels):
            problems.append((f"{base}.mapping.{sym}.{k}", f"label {labels[k]!r} listed twice"))
    missing = [s for s in names if s not in space.mapping]
    if missing:
        problems.append(
            (f"{base}.mapping", f"missing symptoms {missing}; map each to its labels, [] for none")
        )
    return problems


def builtin_taxonomies() -> list[str]:
    """Names of the taxonomies shipped as package data."""
    folder = package_data_path("taxonomies")
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def resolve_data_file(name_or_path: str | Path, folder: str, kind: str, builtins: list[str]) -> Path:
    """A built-in name or a file path -> the YAML file to read; unknown names list the built-ins."""
    text = str(name_or_path)
    if not isinstance(name_or_path, Path) and text in builtins:
        return package_data_path(folder, f"{text}.yaml")
    path = Path(name_or_path)
    if path.is_file():
        return path
    looks_like_path = isinstance(name_or_path, Path) or path.suffix in {".yaml", ".yml"} or "/" in text
    if looks_like_path:
        raise InputError(
            f"{text} -> file not found; pass a built-in name ({', '.join(builtins)}) or a YAML file"
        )
    raise InputError(f"{text!r} is neither a built-in {kind} nor a YAML file{suggest(text, builtins)}")


def validate_data(model: type[StrictModel], data: dict[str, Any], source: str) -> Any:
    """Validate `data` against `model`; field errors and cross-field problems read `path -> what is wrong`."""
    problems: list[Problem] = []
    try:
        obj = model.model_validate(data, context={"problems": problems})
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source)) from None
    if problems:
        lines = [f"{source} is not valid:", *(f"  {p} -> {m}" for p, m in problems)]
        raise ConfigError("\n".join(lines))
    return obj


def load_taxonomy(name_or_path: str | Path = "depression-14") -> Taxonomy:
    """Load a built-in taxonomy by name (`depression-14`) or a YAML file, validated.

    Raises InputError for an unknown name or missing file, ConfigError (lines `path -> what is wrong`)
    for a file that does not validate.
    """
    path = resolve_data_file(name_or_path, "taxonomies", "taxonomy", builtin_taxonomies())
    result: Taxonomy = validate_data(Taxonomy, read_yaml(path), str(path))
    return result
