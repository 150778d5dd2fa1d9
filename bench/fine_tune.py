"""The offline fine-tune backend: training time and judging throughput.

training: `train_local_judge` on N labelled examples (BENCH_FT_LABELS, default 10,000; built
from the sample posts with varied wording), with 20% held out. Target: < 30 s on 2 cores.
judging: M posts (BENCH_FT_POSTS, default 10,000) through our judge path (LLMPromptJudge →
gateway → `litellm.acompletion` → the custom provider → the trained model), against bare
`litellm.acompletion` calls to the trivial custom-provider model `local/keyword-judge` under the
same semaphore, in the same run: the ratio says what the trained model and our path cost on top
of LiteLLM's own per-call overhead.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from signalops_assets.config import load_project_config
from signalops_assets.judging.judges import LLMPromptJudge
from signalops_assets.judging.prompts import PostInput, judge_messages
from signalops_assets.llm.gateway import LLMGateway
from signalops_assets.llm.litellm_setup import get_litellm
from signalops_assets.llm.loop import run_async

ROOT = Path(__file__).resolve().parents[1]
N_LABELS = int(os.environ.get("BENCH_FT_LABELS", "10000"))
N_POSTS = int(os.environ.get("BENCH_FT_POSTS", "10000"))
CONCURRENCY = 32
FILLERS = ["honestly", "today", "again", "at work", "lol", "btw", "fwiw", "this week", "ugh", "!"]


def _posts(n: int) -> list[PostInput]:
    rng = random.Random(7)
    sample = [json.loads(line) for line in (ROOT / "data/sample/posts.jsonl").open()]
    out = []
    for i in range(n):
        base = sample[i % len(sample)]
        words = str(base.get("text", "")).split()
        rng.shuffle(words)
        text = " ".join(words[: max(5, len(words) - rng.randint(0, 3))])
        text += " " + " ".join(rng.sample(FILLERS, 2))
        out.append(PostInput(i + 1, f"bench:{i}", str(base.get("author", "")), "", text))
    return out


def main() -> None:
    from signalops_assets.fine_tuning.local_backend import train_local_judge
    from signalops_assets.llm.local_provider import keyword_judgment

    project = load_project_config(ROOT / "data/projects/spectra.yaml")
    posts = _posts(N_LABELS)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SIGNALOPS_MODELS_DIR"] = str(Path(tmp) / "models")
        files = {split: Path(tmp) / f"{split}.jsonl" for split in ("train", "eval")}
        handles = {split: path.open("w") for split, path in files.items()}
        for i, post in enumerate(posts):
            messages = judge_messages(project, post)
            label = keyword_judgment(messages)["label"]  # a learnable labelling rule
            messages.append({"role": "assistant", "content": json.dumps({"label": label})})
            handles["eval" if i % 5 == 0 else "train"].write(
                json.dumps({"messages": messages}) + "\n"
            )
        for handle in handles.values():
            handle.close()
        started = time.perf_counter()
        trained = train_local_judge("bench", "v1", files["train"], files["eval"], 0)
        train_s = time.perf_counter() - started
        card = trained.card
        print(
            f"training: {card['train_examples']:,} examples in {train_s:.1f} s "
            f"(target < 30 s); held-out agreement {card['eval_agreement']:.3f} "
            f"[{card['eval_agreement_low']:.3f}, {card['eval_agreement_high']:.3f}] on "
            f"{card['eval_examples']:,}"
        )

        judge_posts = _posts(N_POSTS)
        litellm = get_litellm()

        async def bare() -> float:
            limit = asyncio.Semaphore(CONCURRENCY)

            async def one(post: PostInput) -> None:
                async with limit:
                    await litellm.acompletion(
                        model="local/keyword-judge", messages=judge_messages(project, post)
                    )

            started = time.perf_counter()
            await asyncio.gather(*(one(p) for p in judge_posts))
            return time.perf_counter() - started

        async def ours() -> tuple[float, int]:
            gateway = LLMGateway(num_retries=0)
            judge = LLMPromptJudge(gateway, project, trained.model_id)
            limit = asyncio.Semaphore(CONCURRENCY)
            errors = 0

            async def one(post: PostInput) -> None:
                nonlocal errors
                async with limit:
                    judgment = (await judge.ajudge(post))[0]
                errors += judgment.error is not None

            started = time.perf_counter()
            await asyncio.gather(*(one(p) for p in judge_posts))
            return time.perf_counter() - started, errors

        run_async(bare())  # warm LiteLLM's import and clients before either timer
        bare_s = run_async(bare())
        ours_s, errors = run_async(ours())
        print(f"bare litellm.acompletion, local/keyword-judge: {N_POSTS / bare_s:,.0f} posts/s")
        print(
            f"ours, trained judge through the gateway: {N_POSTS / ours_s:,.0f} posts/s "
            f"({errors} errors) = {bare_s / ours_s:.2f}x bare"
        )


if __name__ == "__main__":
    main()
