"""Read clinicians' ratings back and compute the agreement table the paper reports.

Per component: each rater's mean score, and for each pair of raters on the items both rated, percent
(exact) agreement, Cohen's kappa and quadratic-weighted kappa (which credits near misses: a 4 against a
5 costs less than a 1 against a 5), averaged over pairs when there are more than two raters. Kappa is
undefined (reported as None) when both raters used a single identical score throughout, which happens
on near-perfect synthetic data: percent agreement is then the figure to read. Items any rater scored
at or below `low` are listed for follow-up.

Ratings come as the exported CSV with `score` filled in, or a Label Studio JSON export; `import_ratings`
validates them against `sample.json` and stores one normalised CSV per rater under DIR/ratings/.
"""

from __future__ import annotations

import csv
import json
import re
import warnings
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from synsym.core.errors import InputError
from synsym.review.sample import COMPONENTS

SCORES = (1, 2, 3, 4, 5)


def _key(review_dir: Path) -> dict[str, dict[str, Any]]:
    path = review_dir / "sample.json"
    if not path.is_file():
        raise InputError(
            f"{review_dir} -> no sample.json; run `synsym review export ... --out {review_dir}` first"
        )
    return {it["item_id"]: it for it in json.loads(path.read_text(encoding="utf-8"))["items"]}


def _score(value: Any, where: str) -> int | None:
    text = str(value).strip() if value is not None else ""
    if not text:
        return None
    try:
        score = float(text)
    except ValueError:
        raise InputError(f"{where} -> score {text!r} is not a number; use 1-5 or leave it empty") from None
    if score not in SCORES:
        raise InputError(f"{where} -> score {text} is outside the 1-5 scale; fix the rating")
    return int(score)


def _annotator(annotation: dict[str, Any]) -> str:
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        who = who.get("email") or who.get("id")
    return "" if who is None else re.sub(r"[^\w.-]", "_", str(who).split("@")[0])


def _from_labelstudio(path: Path, data: Any) -> list[dict[str, Any]]:
    """Label Studio's JSON export: tasks with `data.item_id` and `annotations[].result[]` holding the
    `score` choice (or a rating) and the `comment` text area. Every non-cancelled annotation becomes a
    row tagged with its annotator (`completed_by`), so one export of a shared project yields one rater
    per annotator."""
    rows = []
    for t, task in enumerate(data):
        item = (task.get("data") or {}).get("item_id")
        for ann in task.get("annotations") or []:
            if not item or ann.get("was_cancelled"):
                continue
            score: Any = None
            comment = ""
            for res in ann.get("result") or []:
                value = res.get("value") or {}
                if res.get("from_name") == "score" or "choices" in value or "rating" in value:
                    score = (value.get("choices") or [value.get("rating")])[0]
                elif "text" in value:
                    text = value["text"]
                    comment = " ".join(text) if isinstance(text, list) else str(text)
            rows.append(
                {
                    "item_id": item,
                    "score": score,
                    "comment": comment,
                    "rater": _annotator(ann),
                    "_where": f"{path} task {t}",
                }
            )
    return rows


def read_rater_file(path: Path) -> list[dict[str, Any]]:
    """Rows of item_id, score, comment from a filled-in items.csv or a Label Studio JSON export."""
    if not path.is_file():
        raise InputError(f"{path} -> file not found")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(f"{path} -> not valid JSON ({exc}); pass Label Studio's JSON export") from None
        if not isinstance(data, list):
            raise InputError(f"{path} -> expected Label Studio's JSON export (a list of tasks)")
        return _from_labelstudio(path, data)
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"item_id", "score"} <= set(reader.fieldnames):
            raise InputError(f"{path} -> needs item_id and score columns (the exported items.csv, filled in)")
        return [
            {
                "item_id": r["item_id"],
                "score": r["score"],
                "comment": r.get("comment") or "",
                "text": r.get("text"),
                "_where": f"{path} line {n + 2}",
            }
            for n, r in enumerate(reader)
        ]


def _same_text(row: dict[str, Any], item: dict[str, Any]) -> None:
    """A row whose text is not its item's comes from another sample (or a re-sorted sheet)."""
    text = row.get("text")
    if text is not None and " ".join(str(text).split()) != " ".join(str(item["text"]).split()):
        raise InputError(
            f"{row['_where']} -> its text differs from item {row['item_id']!r} of this review's sample; "
            "rate the items.csv exported to this folder"
        )


def import_ratings(review_dir: Path, files: list[Path], names: list[str] | None = None) -> dict[str, int]:
    """Validate each rater's file against the sample and store it as DIR/ratings/<rater>.csv.

    The rater is named by `names` or by the file's stem; a Label Studio export holding several annotators
    gives one rater each, `<name>-<annotator>`. Nothing is written unless every file is valid.
    """
    key = _key(review_dir)
    names = names or [f.stem for f in files]
    if len(names) != len(files) or len(set(names)) != len(names):
        raise InputError(
            "give each rater file a distinct name (file stems must differ, or pass --name per file)"
        )
    parsed: dict[str, list[tuple[str, int, str]]] = {}
    for name, path in zip(names, files, strict=True):
        rows = read_rater_file(path)
        annotators = sorted({r.get("rater", "") for r in rows})
        for r in rows:
            if r["item_id"] not in key:
                raise InputError(f"{r['_where']} -> item {r['item_id']!r} is not in this review's sample")
            _same_text(r, key[r["item_id"]])
            score = _score(r["score"], r["_where"])
            rater = f"{name}-{r['rater']}" if len(annotators) > 1 else name
            if score is not None:
                parsed.setdefault(rater, []).append((r["item_id"], score, r["comment"]))
        if not any(k == name or k.startswith(f"{name}-") for k in parsed):
            raise InputError(f"{path} -> no scored items; fill the score column with 1-5")
    folder = review_dir / "ratings"
    folder.mkdir(exist_ok=True)
    for rater, scored in parsed.items():
        with (folder / f"{rater}.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["item_id", "score", "comment"])
            writer.writerows(scored)
    return {rater: len(scored) for rater, scored in parsed.items()}


def load_ratings(review_dir: Path) -> dict[str, dict[str, int]]:
    """rater -> {item_id: score} from DIR/ratings/*.csv."""
    folder = review_dir / "ratings"
    files = sorted(folder.glob("*.csv")) if folder.is_dir() else []
    if not files:
        raise InputError(
            f"{review_dir} -> no ratings yet; run `synsym review import {review_dir} RATER_FILE...`"
        )
    out = {}
    for f in files:
        with f.open(newline="", encoding="utf-8") as fh:
            out[f.stem] = {r["item_id"]: int(r["score"]) for r in csv.DictReader(fh)}
    return out


def pair_agreement(a: list[int], b: list[int]) -> dict[str, float | None]:
    """Percent agreement, Cohen's kappa and quadratic-weighted kappa of two raters on the same items."""
    from sklearn.metrics import cohen_kappa_score

    if not a:
        return {"n": 0, "percent_agreement": None, "kappa": None, "quadratic_kappa": None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kappa = cohen_kappa_score(a, b, labels=list(SCORES))
        qwk = cohen_kappa_score(a, b, labels=list(SCORES), weights="quadratic")
    return {
        "n": len(a),
        "percent_agreement": round(float(np.mean(np.array(a) == np.array(b))), 4),
        "kappa": None if np.isnan(kappa) else round(float(kappa), 4),
        "quadratic_kappa": None if np.isnan(qwk) else round(float(qwk), 4),
    }


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return round(float(np.mean(vals)), 4) if vals else None


def agreement_report(review_dir: Path, low: int = 2) -> dict[str, Any]:
    """Per component: rater means, pairwise agreement (and its mean over pairs), and low-scored items."""
    key = _key(review_dir)
    ratings = load_ratings(review_dir)
    raters = sorted(ratings)
    out: dict[str, Any] = {"raters": raters, "components": {}}
    for comp in COMPONENTS:
        items = [i for i, it in key.items() if it["component"] == comp]
        rated = {r: {i: ratings[r][i] for i in items if i in ratings[r]} for r in raters}
        if not any(rated.values()):
            continue
        pairs = {}
        for r1, r2 in combinations(raters, 2):
            both = sorted(set(rated[r1]) & set(rated[r2]))
            pairs[f"{r1} vs {r2}"] = pair_agreement(
                [rated[r1][i] for i in both], [rated[r2][i] for i in both]
            )
        lows = [
            {
                "item_id": i,
                "symptoms": key[i]["symptoms"],
                "text": key[i]["text"],
                "scores": {r: rated[r][i] for r in raters if i in rated[r]},
            }
            for i in items
            if any(rated[r].get(i, low + 1) <= low for r in raters)
        ]
        out["components"][comp] = {
            "items": len(items),
            "mean_by_rater": {
                r: round(float(np.mean(list(v.values()))), 4) if v else None for r, v in rated.items()
            },
            "n_by_rater": {r: len(v) for r, v in rated.items()},
            "pairs": pairs,
            "percent_agreement": _mean([p["percent_agreement"] for p in pairs.values()]),
            "kappa": _mean([p["kappa"] for p in pairs.values()]),
            "quadratic_kappa": _mean([p["quadratic_kappa"] for p in pairs.values()]),
            "low_items": lows,
        }
    return out


def write_agreement_report(review_dir: Path, low: int = 2) -> dict[str, Any]:
    """`agreement_report`, also written to REVIEW_DIR/agreement.json."""
    rep = agreement_report(review_dir, low)
    (review_dir / "agreement.json").write_text(
        json.dumps(rep, indent=1, ensure_ascii=False), encoding="utf-8"
    )
    return rep
