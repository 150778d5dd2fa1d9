"""Langfuse UI links: none with tracing off, none (and no failure) when the project lookup
fails, ids only in the links when it works."""

from __future__ import annotations

import socket

from signalops_assets.llm.langfuse_links import langfuse_links
from signalops_assets.llm.langfuse_tracer import LangfuseTracer
from signalops_assets.llm.tracing import NoopTracer
from signalops_assets_tests.fakes.otlp_receiver import PROJECT_ID, OTLPReceiver


def test_no_links_with_tracing_off() -> None:
    assert langfuse_links(NoopTracer(), "run-1", ["exp"]) == {}


def test_no_links_when_langfuse_cannot_be_reached() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens there
    tracer = LangfuseTracer(
        public_key="pk-lf-x", secret_key="sk-lf-x", base_url=f"http://127.0.0.1:{port}"
    )
    try:
        assert langfuse_links(tracer, "run-1") == {}
    finally:
        tracer.shutdown()


def test_links_name_the_project_and_session_never_the_keys(otlp_receiver: OTLPReceiver) -> None:
    tracer = LangfuseTracer(
        public_key=otlp_receiver.public_key,
        secret_key=otlp_receiver.secret_key,
        base_url=otlp_receiver.base_url + "/",
    )
    try:
        links = langfuse_links(tracer, "run/1", ["exp-a"])
    finally:
        tracer.shutdown()
    project = f"{otlp_receiver.base_url}/project/{PROJECT_ID}"
    assert links["langfuse_session"] == f"{project}/sessions/run%2F1"
    assert links["exp-a/langfuse_traces"].startswith(f"{project}/traces?filter=tags%3B")
    assert not any(
        otlp_receiver.secret_key in v or otlp_receiver.public_key in v for v in links.values()
    )
