"""Per-call cost of tracing with Langfuse not configured (NoopTracer), next to a 50 ms LLM call.

One "call" is what the gateway and a judge do per LLM request: open a span, open a generation in
it, update both. Run: ``python bench/tracing_overhead.py`` (a few seconds). ``--enabled`` also
times the Langfuse tracer against a local OTLP receiver, for comparison.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
LLM_CALL_S = 0.050
TARGET_FRACTION = 0.01
MESSAGES = [
    {"role": "system", "content": "Label the post as relevant or irrelevant."},
    {"role": "user", "content": "Our new dashboard ships Friday, thanks @acme for the fix"},
]


def one_call(tracer: Any) -> None:
    with tracer.span("judge_relevance", input={"post_id": 1}, metadata={"judge": "a"}) as span:
        with tracer.generation(
            "llm_call", model="judge-a", messages=MESSAGES, model_parameters={"temperature": 0}
        ) as gen:
            gen.update(
                output='{"label": "relevant"}',
                usage={"prompt_tokens": 42, "completion_tokens": 7},
                cost_usd=0.0001,
                latency_ms=50.0,
                model="judge-a",
            )
        span.update(output={"label": "relevant"})


def per_call_s(fn: Callable[[], None], number: int, repeat: int = 5) -> float:
    """Best of `repeat` timings of `number` calls, per call (the minimum is the least noisy)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def report(label: str, seconds: float) -> None:
    fraction = seconds / LLM_CALL_S
    print(
        f"{label:<34} {seconds * 1e6:9.3f} µs/call  = {fraction:.5%} of a 50 ms call"
        f"  (target < {TARGET_FRACTION:.0%}: {'met' if fraction < TARGET_FRACTION else 'MISSED'})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=100_000, help="calls per timing run")
    parser.add_argument("--enabled", action="store_true", help="also time the Langfuse tracer")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO_ROOT))
    for name in [n for n in os.environ if n.startswith("LANGFUSE_")]:
        del os.environ[name]
    from signalops_assets.llm import tracing

    tracer = tracing.get_tracer()
    assert isinstance(tracer, tracing.NoopTracer), type(tracer)
    assert "langfuse" not in sys.modules

    baseline = per_call_s(lambda: None, args.number)
    noop = per_call_s(lambda: one_call(tracer), args.number)

    def in_context() -> None:
        with tracing.trace_context(run_id="run-1", tags=("ab-test",), session_id="exp-1"):
            one_call(tracer)

    noop_ctx = per_call_s(in_context, args.number)
    print(f"python {sys.version.split()[0]}, {args.number} calls per run, best of 5 runs")
    report("empty loop (baseline)", baseline)
    report("noop span+generation+updates", noop - baseline)
    report("  ... inside trace_context", noop_ctx - baseline)

    if args.enabled:
        from signalops_assets_tests.fakes.otlp_receiver import OTLPReceiver

        with OTLPReceiver() as receiver:
            os.environ.update(receiver.env())
            enabled = tracing.get_tracer()
            number = min(args.number, 2_000)
            seconds = per_call_s(lambda: one_call(enabled), number, repeat=3)
            enabled.flush()
            report("langfuse span+generation (no I/O)", seconds - baseline)
            print(f"{'':<34} {len(receiver.spans())} spans received")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
