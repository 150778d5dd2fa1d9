"""The offline fine-tune backend: a scikit-learn judge trained in-process from a training set.

The model reads exactly what a judge is sent (the user turn of `judge_messages`: author, bio
and the delimited post), so training and inference share one format with the LLM judges.
TF-IDF of words and character n-grams feeds a logistic regression whose probabilities are
calibrated (sigmoid, 3-fold) and returned as the judgment's confidence.

Artefacts live under `data/models/<name>/<version>/`: `model.joblib` and `model_card.json`
(training set, eval metrics with intervals, library versions, the artefact's sha256). The
LiteLLM custom provider serves them as `local/trained-judge/<name>@<version>`, and refuses an
artefact whose sha256 differs from its card (a tampered or half-copied file). joblib files are
pickles: load only artefacts this pipeline wrote.
"""

from __future__ import annotations

import json
import platform
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from signalops_assets.errors import SignalOpsError

MODEL_PREFIX = "local/trained-judge/"
BASE_MODEL = "tfidf-logreg-calibrated"


def models_root() -> Path:
    from signalops_assets.settings import settings

    return settings().models_dir  # SIGNALOPS_MODELS_DIR


def model_id_for(name: str, version: str) -> str:
    return f"{MODEL_PREFIX}{name}@{version}"


def parse_model_id(model: str) -> tuple[str, str]:
    """`[local/]trained-judge/<name>@<version>` -> (name, version)."""
    rest = model.removeprefix("local/").removeprefix("trained-judge/")
    name, sep, version = rest.partition("@")
    if not sep or not name or not version or "/" in name or "/" in version:
        raise SignalOpsError(f"not a trained local judge id: {model!r}")
    return name, version


def artefact_dir(name: str, version: str) -> Path:
    return models_root() / name / version


def features(user_message: str) -> str:
    """What the model reads: the post's fields decoded from the judge prompt (author, bio,
    text), not the prompt's per-post delimiter, which would only add a unique token per post."""
    from signalops_assets.judging.prompts import decode_post

    try:
        fields = decode_post(user_message)
    except ValueError:
        return user_message
    return "\n".join(str(fields.get(k) or "") for k in ("author", "author_bio", "text"))


def _read_examples(path: Path) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            messages = json.loads(line)["messages"]
            user = next(m["content"] for m in messages if m["role"] == "user")
            answer = json.loads(next(m["content"] for m in messages if m["role"] == "assistant"))
            texts.append(features(str(user)))
            labels.append(str(answer["label"]))
    return texts, labels


def _pipeline() -> Any:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, make_pipeline

    features = FeatureUnion(
        [
            ("words", TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)),
            (
                "chars",
                TfidfVectorizer(
                    analyzer="char_wb", ngram_range=(3, 5), min_df=2, sublinear_tf=True
                ),
            ),
        ]
    )
    classifier = LogisticRegression(max_iter=1000, C=4.0, class_weight="balanced")
    return make_pipeline(features, CalibratedClassifierCV(classifier, method="sigmoid", cv=3))


def _sha256(path: Path) -> str:
    from signalops_assets.fine_tuning.training_sets import sha256_file

    return sha256_file(path)


@dataclass(frozen=True)
class TrainedJudge:
    model_id: str
    name: str
    version: str
    path: Path
    card: dict[str, Any]


def train_local_judge(
    name: str, version: str, train_file: Path, eval_file: Path, training_set_id: int
) -> TrainedJudge:
    """Train, evaluate on the held-out split, and write the artefact and its card."""
    import joblib
    import sklearn

    from signalops_assets.experiments.stats import wilson_interval

    texts, labels = _read_examples(train_file)
    if len(set(labels)) < 2:
        raise SignalOpsError("a judge needs examples of at least two labels")
    started = time.perf_counter()
    model = _pipeline()
    model.fit(texts, labels)
    train_s = time.perf_counter() - started
    eval_texts, eval_labels = _read_examples(eval_file)
    predicted = list(model.predict(eval_texts)) if eval_texts else []
    agree = sum(p == h for p, h in zip(predicted, eval_labels, strict=True))
    interval = wilson_interval(agree, len(eval_labels))
    out = artefact_dir(name, version)
    if out.exists():
        raise SignalOpsError(f"{out}: a trained judge {name}@{version} already exists")
    out.mkdir(parents=True)
    artefact = out / "model.joblib"
    joblib.dump(model, artefact)
    card: dict[str, Any] = {
        "model_id": model_id_for(name, version),
        "base_model": BASE_MODEL,
        "training_set_id": training_set_id,
        "train_examples": len(labels),
        "eval_examples": len(eval_labels),
        "eval_agreement": agree / len(eval_labels) if eval_labels else None,
        "eval_agreement_low": interval.low,
        "eval_agreement_high": interval.high,
        "labels": sorted(set(labels)),
        "train_seconds": round(train_s, 3),
        "versions": {"python": platform.python_version(), "scikit-learn": sklearn.__version__},
        "sha256": _sha256(artefact),
    }
    (out / "model_card.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    return TrainedJudge(model_id_for(name, version), name, version, out, card)


_cache: dict[str, tuple[float, Any]] = {}
_cache_lock = threading.Lock()


def load_model(model: str) -> Any:
    """The fitted pipeline, verified against its card's sha256 (cached per artefact mtime)."""
    import joblib

    name, version = parse_model_id(model)
    folder = artefact_dir(name, version)
    artefact, card_path = folder / "model.joblib", folder / "model_card.json"
    if not artefact.is_file() or not card_path.is_file():
        raise SignalOpsError(f"trained judge {name}@{version}: no artefact under {folder}")
    mtime = artefact.stat().st_mtime
    with _cache_lock:
        cached = _cache.get(str(artefact))
        if cached and cached[0] == mtime:
            return cached[1]
        card = json.loads(card_path.read_text(encoding="utf-8"))
        if _sha256(artefact) != card.get("sha256"):
            raise SignalOpsError(
                f"trained judge {name}@{version}: sha256 of {artefact.name} does not match its "
                "model card (tampered or incomplete copy); refusing to load it"
            )
        fitted = joblib.load(artefact)
        _cache[str(artefact)] = (mtime, fitted)
        return fitted


def judge_answer(model: str, messages: list[dict[str, Any]]) -> str:
    """The JSON answer of a trained judge for a judge prompt (what LLM judges return)."""
    fitted = load_model(model)
    from signalops_assets.llm.local_provider import last_user_text

    user = last_user_text(messages)  # the post; earlier user turns are few-shot examples
    probabilities = fitted.predict_proba([features(user)])[0]
    best = int(probabilities.argmax())
    label = str(fitted.classes_[best])
    confidence = round(float(probabilities[best]), 4)
    return json.dumps(
        {"label": label, "confidence": confidence, "reasoning": f"{BASE_MODEL} p={confidence}"}
    )
