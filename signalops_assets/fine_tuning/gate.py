"""The offline gate: a candidate judge against the current one on held-out human labels.

Both judges answer the training set's eval posts (never trained on) through the normal
judging path (LiteLLM); an error counts as a disagreement. The current judge's answers are
its logged successful judgments where it has one (the latest per post; a fallback's answer is
not its own); it is called only for held-out posts it never judged. The gate passes when the
candidate's agreement is not below the current judge's by more than `fine_tuning.gate_margin`.
It is a screen with intervals shown, not the decision: the online A/B experiment decides.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, select

from signalops_assets.config import ProjectConfig
from signalops_assets.db.models import Judgment, Post
from signalops_assets.db.session import session_scope
from signalops_assets.experiments import stats
from signalops_assets.fine_tuning.training_sets import split_post_ids
from signalops_assets.judging.prompts import PostInput
from signalops_assets.llm.gateway import LLMGateway
from signalops_assets.llm.model_ids import is_fine_tuned


@dataclass(frozen=True)
class GateResult:
    candidate: str
    current: str
    training_set_id: int
    n: int
    candidate_agreement: float
    candidate_low: float
    candidate_high: float
    current_agreement: float
    current_low: float
    current_high: float
    diff: float
    diff_low: float
    diff_high: float
    margin: float
    passed: bool
    current_reused: int = 0  # held-out answers of the current judge read from its judgments

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        return (
            f"offline gate {verdict}: {self.candidate} {self.candidate_agreement:.1%} "
            f"[{self.candidate_low:.1%}, {self.candidate_high:.1%}] vs {self.current} "
            f"{self.current_agreement:.1%} [{self.current_low:.1%}, {self.current_high:.1%}] on "
            f"{self.n} held-out labels; difference {100 * self.diff:+.1f} pts "
            f"[{100 * self.diff_low:+.1f}, {100 * self.diff_high:+.1f}] (paired), margin "
            f"{100 * self.margin:.1f} pts; {self.current_reused} current answers reused from "
            "its logged judgments"
        )


async def _judge_all(
    gateway: LLMGateway, project: ProjectConfig, model: str, posts: list[PostInput]
) -> list[str | None]:
    from signalops_assets.judging.factory import single_model_judge

    judge = single_model_judge(gateway, project, model)
    limit = asyncio.Semaphore(project.llm.max_concurrency)

    async def one(post: PostInput) -> str | None:
        async with limit:
            judgment = (await judge.ajudge(post))[0]
        return None if judgment.error else judgment.label

    return list(await asyncio.gather(*(one(p) for p in posts)))


def logged_labels(session: Any, model: str, post_ids: list[int]) -> dict[int, str]:
    """The latest successful current judgment by `model` itself of each of these posts."""
    from signalops_assets.llm.model_ids import model_aliases

    names = set(model_aliases(model)) if is_fine_tuned(model) else {model}
    rows = session.execute(
        select(Judgment.post_id, Judgment.label)
        .where(
            Judgment.post_id.in_(post_ids),
            Judgment.model_id.in_(names),
            Judgment.error.is_(None),
            Judgment.label.is_not(None),
            Judgment.superseded.is_(False),
        )
        .order_by(Judgment.id)
    )
    return {int(post_id): str(label) for post_id, label in rows}


async def _current_answers(
    gateway: LLMGateway,
    project: ProjectConfig,
    model: str,
    posts: list[PostInput],
    logged: dict[int, str],
) -> list[str | None]:
    missing = [p for p in posts if p.post_id not in logged]
    fresh = dict(
        zip(
            [p.post_id for p in missing],
            await _judge_all(gateway, project, model, missing),
            strict=True,
        )
    )
    return [logged[p.post_id] if p.post_id in logged else fresh[p.post_id] for p in posts]


def run_offline_gate(
    engine: Engine,
    gateway: LLMGateway,
    project: ProjectConfig,
    *,
    candidate: str,
    current: str,
    training_set_id: int,
) -> GateResult:
    from signalops_assets.judging.eval_dataset import record_gate_runs
    from signalops_assets.llm.loop import run_async

    with session_scope(engine) as session:
        ids = split_post_ids(session, training_set_id, "eval")
        rows = session.scalars(select(Post).where(Post.id.in_(ids)).order_by(Post.id)).all()
        posts = [PostInput(p.id, p.platform_id, p.author, p.author_bio, p.text) for p in rows]
        humans = [str(p.human_label) for p in rows]
        logged = logged_labels(session, current, ids)
    cand = run_async(_judge_all(gateway, project, candidate, posts))
    curr = run_async(_current_answers(gateway, project, current, posts, logged))
    record_gate_runs(
        project.project_id,
        posts,
        humans,
        {"candidate": (candidate, cand), "current": (current, curr)},
        training_set_id,
    )
    c_right = [a == h for a, h in zip(cand, humans, strict=True)]
    p_right = [a == h for a, h in zip(curr, humans, strict=True)]
    both = sum(c and p for c, p in zip(c_right, p_right, strict=True))
    canary_only = sum(c and not p for c, p in zip(c_right, p_right, strict=True))
    primary_only = sum(p and not c for c, p in zip(c_right, p_right, strict=True))
    n = len(humans)
    neither = n - both - canary_only - primary_only
    interval = stats.paired_diff_interval(both, primary_only, canary_only, neither)
    cand_ok, curr_ok = sum(c_right), sum(p_right)
    cw, pw = stats.wilson_interval(cand_ok, n), stats.wilson_interval(curr_ok, n)
    diff = (cand_ok - curr_ok) / n if n else 0.0
    margin = project.fine_tuning.gate_margin
    return GateResult(
        candidate=candidate,
        current=current,
        training_set_id=training_set_id,
        n=n,
        candidate_agreement=cand_ok / n if n else 0.0,
        candidate_low=cw.low,
        candidate_high=cw.high,
        current_agreement=curr_ok / n if n else 0.0,
        current_low=pw.low,
        current_high=pw.high,
        diff=diff,
        diff_low=interval.low,
        diff_high=interval.high,
        margin=margin,
        passed=n > 0 and diff >= -margin,
        current_reused=len(logged),
    )
