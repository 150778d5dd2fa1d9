"""Langfuse tracing, checked end to end against a local OTLP/HTTP receiver (no Langfuse server)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import subprocess
import sys
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from signalops_assets.llm.langfuse_tracer import LangfuseTracer
from signalops_assets.llm.tracing import (
    NoopTracer,
    Tracer,
    get_tracer,
    trace_context,
)
from signalops_assets.redaction import mask_post_content, scrub
from signalops_assets_tests.fakes.otlp_receiver import TRACES_PATH, OTLPReceiver

REPO_ROOT = Path(__file__).resolve().parents[2]
LANGFUSE_VARS = (
    "LANGFUSE_PUBLIC_KEY",
    "LANGFUSE_SECRET_KEY",
    "LANGFUSE_BASE_URL",
    "LANGFUSE_HOST",
    "LANGFUSE_MASK_CONTENT",
    "LANGFUSE_TRACING_ENABLED",
    "LANGFUSE_OTEL_COMPRESSION",
    "LANGFUSE_OTEL_TRACES_EXPORT_PATH",
    "LANGFUSE_SAMPLE_RATE",
    "LANGFUSE_DEBUG",
)
API_KEY = "sk-live-DO-NOT-LEAK-0123456789abcdef"
POST_TEXT = "Our new dashboard ships Friday, thanks @acme_support for the quick fix"
MESSAGES = [
    {"role": "system", "content": "Label the post as relevant or irrelevant."},
    {"role": "user", "content": POST_TEXT},
]


def attrs(span: dict[str, Any]) -> dict[str, Any]:
    return dict(span["attributes"])


def as_json(value: Any) -> Any:
    return json.loads(value)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in LANGFUSE_VARS:
        monkeypatch.delenv(name, raising=False)
    yield monkeypatch


@pytest.fixture
def receiver(otlp_receiver: OTLPReceiver, clean_env: pytest.MonkeyPatch) -> OTLPReceiver:
    for name, value in otlp_receiver.env().items():
        clean_env.setenv(name, value)
    return otlp_receiver


@pytest.fixture
def tracer(receiver: OTLPReceiver) -> Tracer:
    tracer = get_tracer()
    assert isinstance(tracer, LangfuseTracer) and tracer.enabled
    return tracer


def judge_call(tracer: Tracer, **generation: Any) -> None:
    with (
        tracer.span("judge_relevance", input={"post_id": 7}) as span,
        tracer.generation(
            "llm_call", model="judge-a", messages=MESSAGES, model_parameters={"temperature": 0.0}
        ) as gen,
    ):
        gen.update(
            output='{"label": "relevant"}',
            usage={"prompt_tokens": 42, "completion_tokens": 7},
            cost_usd=0.00123,
            latency_ms=51.5,
            model="judge-a",
            **generation,
        )
        span.update(output={"label": "relevant"}, metadata={"judge": "judge-a"})


# -- enabled --------------------------------------------------------------------------------------


def test_spans_nest_and_carry_generation_details(tracer: Tracer, receiver: OTLPReceiver) -> None:
    with tracer.span("judge_relevance", input={"post_id": 7}) as span:
        with tracer.generation(
            "llm_call", model="judge-a", messages=MESSAGES, model_parameters={"temperature": 0.0}
        ) as gen:
            gen.update(
                output='{"label": "relevant"}',
                usage={"prompt_tokens": 42, "completion_tokens": 7},
                cost_usd=0.00123,
                latency_ms=51.5,
                model="judge-a-fallback",
            )
        assert tracer.current_trace_id() == span.trace_id
    tracer.flush()

    judge, call = receiver.span("judge_relevance"), receiver.span("llm_call")
    assert call["parent_span_id"] == judge["span_id"] and judge["parent_span_id"] is None
    assert call["trace_id"] == judge["trace_id"] == span.trace_id
    a = attrs(call)
    assert a["langfuse.observation.type"] == "generation"
    assert a["langfuse.observation.model.name"] == "judge-a-fallback"
    assert as_json(a["langfuse.observation.input"]) == MESSAGES
    assert a["langfuse.observation.output"] == '{"label": "relevant"}'
    assert as_json(a["langfuse.observation.model.parameters"]) == {"temperature": 0.0}
    assert as_json(a["langfuse.observation.usage_details"]) == {
        "input": 42,
        "output": 7,
        "total": 49,
    }
    assert as_json(a["langfuse.observation.cost_details"]) == {"total": 0.00123}
    assert as_json(a["langfuse.observation.metadata.latency_ms"]) == 51.5
    assert "langfuse.observation.level" not in a
    assert attrs(judge)["langfuse.observation.type"] == "span"
    assert all(r.authorized and r.path == TRACES_PATH for r in receiver.requests)
    assert receiver.requests[0].headers.get("content-encoding") == "gzip"


def test_trace_context_puts_tags_session_and_run_id_on_every_span(
    tracer: Tracer, receiver: OTLPReceiver
) -> None:
    tags = ["ab-test", "experiment:exp-7", "arm:canary"]
    with trace_context(run_id="dagster-run-1", tags=tags, session_id="exp-7", metadata={"k": "v"}):
        judge_call(tracer)
    with (
        tracer.span("generate_draft", tags=["drafts"], session_id="sess-2"),
        tracer.generation("draft_call", model="drafter", messages=MESSAGES),
    ):
        pass
    tracer.flush()

    for name in ("judge_relevance", "llm_call"):
        a = attrs(receiver.span(name))
        assert a["langfuse.trace.tags"] == tags
        assert a["session.id"] == "exp-7"
        assert as_json(a["langfuse.trace.metadata.dagster_run_id"]) == "dagster-run-1"
        assert as_json(a["langfuse.trace.metadata.k"]) == "v"
    with trace_context(metadata={"project": "spectra"}), tracer.span("cli_judge"):
        pass  # no run: the session is the project's UTC day
    tracer.flush()
    today = datetime.now(UTC).date().isoformat()
    assert attrs(receiver.span("cli_judge"))["session.id"] == f"spectra-{today}"
    for name in ("generate_draft", "draft_call"):
        a = attrs(receiver.span(name))
        assert a["langfuse.trace.tags"] == ["drafts"] and a["session.id"] == "sess-2"
        assert "langfuse.trace.metadata.dagster_run_id" not in a


def test_errors_mark_the_observation(tracer: Tracer, receiver: OTLPReceiver) -> None:
    with tracer.generation("llm_call", model="judge-a", messages=MESSAGES) as gen:
        gen.update(error="RateLimitError: slow down", usage={"prompt_tokens": 0})
    with pytest.raises(RuntimeError), tracer.span("generate_draft"):
        raise RuntimeError("draft store down")
    tracer.flush()

    failed_call = attrs(receiver.span("llm_call"))
    assert failed_call["langfuse.observation.level"] == "ERROR"
    assert failed_call["langfuse.observation.status_message"] == "RateLimitError: slow down"
    draft = receiver.span("generate_draft")
    assert attrs(draft)["langfuse.observation.level"] == "ERROR"
    assert "draft store down" in attrs(draft)["langfuse.observation.status_message"]
    assert draft["status"]["code"] == 2  # OpenTelemetry STATUS_CODE_ERROR


def test_concurrent_async_generations_nest_under_their_own_span(
    tracer: Tracer, receiver: OTLPReceiver
) -> None:
    async def call(i: int) -> None:
        with tracer.generation(f"call-{i}", model="m", messages=MESSAGES) as gen:
            await asyncio.sleep(0.01)
            gen.update(output=str(i))

    async def batch() -> None:
        await asyncio.gather(*(call(i) for i in range(4)))

    with tracer.span("judge_batch"):
        asyncio.run(batch())
    tracer.flush()
    parent = receiver.span("judge_batch")["span_id"]
    assert (
        sorted(
            s["parent_span_id"] == parent for s in receiver.spans() if s["name"] != "judge_batch"
        )
        == [True] * 4
    )


def test_api_keys_never_leave_the_process(tracer: Tracer, receiver: OTLPReceiver) -> None:
    messages = [{"role": "user", "content": f"my key is {API_KEY}"}]
    params = {"temperature": 0, "api_key": API_KEY, "extra_headers": {"authorization": "x"}}
    with (
        trace_context(run_id="r1", metadata={"api_key": API_KEY}),
        tracer.span(
            "judge_relevance",
            input={"headers": {"Authorization": f"Bearer {API_KEY}"}, "note": f"key={API_KEY}"},
            metadata={"api_key": API_KEY, "openai_api_key": API_KEY},
        ) as span,
    ):
        with tracer.generation(
            "llm_call", model="m", messages=messages, model_parameters=params
        ) as gen:
            gen.update(output=f"echo {API_KEY}", error=f"AuthenticationError: bad key {API_KEY}")
        span.update(output={"echo": API_KEY}, metadata={"secret": API_KEY})
    tracer.score(trace_id=span.trace_id or "", name="label", value=1.0, comment=f"see {API_KEY}")
    tracer.flush()

    assert receiver.names() == ["llm_call", "judge_relevance"]
    assert (
        as_json(attrs(receiver.span("llm_call"))["langfuse.observation.model.parameters"])[
            "api_key"
        ]
        == "[redacted]"
    )
    secret = API_KEY.encode()
    sent = [r.body for r in receiver.requests] + [json.dumps(receiver.spans()).encode()]
    assert any(b"[redacted]" in body for body in sent)
    assert not any(secret in body for body in sent)
    assert not any(API_KEY in json.dumps(r.headers) for r in receiver.requests)


def test_mask_content_hides_post_text_and_handles(
    receiver: OTLPReceiver, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("LANGFUSE_MASK_CONTENT", "1")  # before this key's first tracer
    tracer = get_tracer()
    with (
        tracer.span("judge_relevance", input={"post_text": POST_TEXT, "note": "cc @someone"}),
        tracer.generation("llm_call", model="judge-a", messages=MESSAGES) as gen,
    ):
        gen.update(output=f"relevant: {POST_TEXT}", usage={"prompt_tokens": 3})
    tracer.flush()

    call = attrs(receiver.span("llm_call"))
    assert as_json(call["langfuse.observation.input"]) == [
        {"role": "system", "content": "[masked]"},
        {"role": "user", "content": "[masked]"},
    ]
    assert call["langfuse.observation.output"] == "[masked]"
    assert as_json(call["langfuse.observation.usage_details"])["input"] == 3  # numbers stay
    judge_input = as_json(attrs(receiver.span("judge_relevance"))["langfuse.observation.input"])
    assert judge_input == {"post_text": "[masked]", "note": "cc @[masked]"}
    for body in [r.body for r in receiver.requests]:
        assert b"dashboard ships" not in body and b"acme_support" not in body
        assert b"someone" not in body


def test_scores_are_sent_for_the_trace(tracer: Tracer, receiver: OTLPReceiver) -> None:
    tracer.score(trace_id="a" * 32, name="human_label", value="relevant", comment="reviewer 3")
    tracer.score(trace_id="a" * 32, name="agreement", value=1.0)
    tracer.flush()

    scores = [s for r in receiver.requests if r.path == "/api/public/scores" for s in r.json()]
    assert {(s["name"], s["value"], s["dataType"]) for s in scores} == {
        ("human_label", "relevant", "CATEGORICAL"),
        ("agreement", 1.0, "NUMERIC"),
    }
    assert all(s["traceId"] == "a" * 32 for s in scores)


def test_a_new_environment_gets_a_tracer_pointed_at_it(
    receiver: OTLPReceiver, clean_env: pytest.MonkeyPatch
) -> None:
    first = get_tracer()
    with first.span("first"):
        pass
    with OTLPReceiver() as second:  # other keys, other port
        for name, value in second.env().items():
            clean_env.setenv(name, value)
        tracer = get_tracer()  # the first tracer is flushed on the way
        assert tracer is not first and receiver.names() == ["first"]
        with tracer.span("second"):
            pass
        tracer.flush()
        assert second.names() == ["second"]
        for name, value in receiver.env().items():  # back: the first key's client again
            clean_env.setenv(name, value)
        assert get_tracer() is first
    assert receiver.names() == ["first"]


def test_a_new_url_under_a_used_key_keeps_the_client_and_says_so(
    receiver: OTLPReceiver, clean_env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Langfuse keeps one client per public key per process: the URL cannot change under it."""
    first = get_tracer()
    with OTLPReceiver(public_key=receiver.public_key) as second:
        clean_env.setenv("LANGFUSE_BASE_URL", second.base_url)
        with caplog.at_level(logging.WARNING, logger="signalops_assets.llm.tracing"):
            tracer = get_tracer()
        assert tracer is first
        assert "already in use" in caplog.text and "until a restart" in caplog.text
        with tracer.span("after"):
            pass
        tracer.flush()
        assert second.names() == []
    assert receiver.names() == ["after"]


# -- disabled -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "missing",
    ["all", "LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY", "LANGFUSE_BASE_URL", "(tracing off)"],
)
def test_disabled_tracer_is_silent_and_sends_nothing(
    otlp_receiver: OTLPReceiver,
    clean_env: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    missing: str,
) -> None:
    env = otlp_receiver.env()
    if missing == "(tracing off)":
        env["LANGFUSE_TRACING_ENABLED"] = "false"
    for name, value in env.items():
        if missing not in (name, "all"):
            clean_env.setenv(name, value)
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tracer = get_tracer()
        with trace_context(run_id="r", tags=["ab-test"], session_id="s"):
            judge_call(tracer)
        tracer.score(trace_id="t", name="n", value=1.0)
        assert tracer.current_trace_id() is None
        tracer.flush()
    assert isinstance(tracer, NoopTracer) and not tracer.enabled
    assert otlp_receiver.requests == []
    assert caught == []
    assert [r for r in caplog.records if r.levelno >= logging.INFO] == []


def test_disabled_tracer_does_not_import_langfuse() -> None:
    code = (
        "import sys\n"
        "from signalops_assets.llm.tracing import get_tracer, trace_context\n"
        "t = get_tracer()\n"
        "with trace_context(run_id='r'), t.span('s') as s, t.generation("
        "'g', model='m', messages=[]) as g:\n"
        "    g.update(output='x', usage={'prompt_tokens': 1}); s.update(output='y')\n"
        "t.flush()\n"
        "print(type(t).__name__, sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('langfuse', 'opentelemetry', 'httpx')))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANGFUSE_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "NoopTracer []"
    assert result.stderr == ""


# -- helpers and the receiver ---------------------------------------------------------------------


def test_scrub_and_mask_helpers() -> None:
    assert scrub({"API_KEY": "abc", "max_tokens": 5, "Authorization": None}) == {
        "API_KEY": "[redacted]",
        "max_tokens": 5,
        "Authorization": None,
    }
    assert scrub(["Bearer abcdefgh1234", f"x {API_KEY} y"]) == ["[redacted]", "x [redacted] y"]
    assert mask_post_content(data={"role": "user", "content": "hi @bob, mail a@b.io"}) == {
        "role": "user",
        "content": "[masked]",
    }
    assert mask_post_content(data="hi @bob, mail a@b.io") == "hi @[masked], mail a@b.io"


def test_receiver_checks_auth_and_decodes_otlp_json(otlp_receiver: OTLPReceiver) -> None:
    trace_id, span_id = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    payload = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": span_id,
                                "name": "json-span",
                                "attributes": [
                                    {"key": "n", "value": {"intValue": "3"}},
                                    {
                                        "key": "tags",
                                        "value": {"arrayValue": {"values": [{"stringValue": "a"}]}},
                                    },
                                ],
                            }
                        ]
                    }
                ]
            }
        ]
    }

    def post(secret: str) -> int:
        auth = base64.b64encode(f"{otlp_receiver.public_key}:{secret}".encode()).decode()
        request = urllib.request.Request(
            otlp_receiver.base_url + TRACES_PATH,
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Basic {auth}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            with error:  # closes the response
                return error.code

    assert post("wrong") == 401
    assert otlp_receiver.spans() == [] and not otlp_receiver.requests[0].authorized
    assert post(otlp_receiver.secret_key) == 200
    span = otlp_receiver.span("json-span")
    assert (span["trace_id"], span["span_id"], span["parent_span_id"]) == (trace_id, span_id, None)
    assert span["attributes"] == {"n": 3, "tags": ["a"]}
    otlp_receiver.clear()
    assert otlp_receiver.requests == [] and otlp_receiver.spans() == []
