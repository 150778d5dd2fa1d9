"""Where the Argilla server is: one constructor for the `argilla` resource and the CLI."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from signalops_assets.errors import SignalOpsError
from signalops_assets.redaction import display_url

logger = logging.getLogger(__name__)

DEFAULT_WORKSPACE: Final = "argilla"
ENV_API_URL: Final = "ARGILLA_API_URL"
ENV_API_KEY: Final = "ARGILLA_API_KEY"
ENV_WORKSPACE: Final = "ARGILLA_WORKSPACE"


@dataclass(frozen=True)
class ArgillaSettings:
    """Where the review server is. ``repr``/``str`` never show the key."""

    api_url: str
    api_key: str
    workspace: str = DEFAULT_WORKSPACE

    def __repr__(self) -> str:
        return (
            f"ArgillaSettings(api_url={display_url(self.api_url)!r}, api_key='***', "
            f"workspace={self.workspace!r})"
        )

    __str__ = __repr__


def argilla_settings(
    *,
    url: str | None = None,
    api_key: str | None = None,
    workspace: str | None = None,
    environ: Mapping[str, str] = os.environ,
    required: bool = False,
) -> ArgillaSettings | None:
    """The one constructor of the Argilla settings: the asset (through `ArgillaResource`) and
    the CLI both call it.

    Each value given wins over its variable: ``url`` over ``ARGILLA_API_URL``, ``api_key`` over
    ``ARGILLA_API_KEY`` (the resource passes the key it resolved from an ``EnvVar`` at run time;
    the CLI never takes one, so a key never lands in shell history), ``workspace`` over
    ``ARGILLA_WORKSPACE``. Not configured: None, or with ``required`` a one-line SignalOpsError
    naming what is missing. Only one of URL and key set is a misconfiguration: without
    ``required`` it is logged as a warning (naming the variable, never its value) and None is
    returned, so a code location still loads.
    """
    api_url = (url or environ.get(ENV_API_URL) or "").strip().rstrip("/")
    key = (api_key or environ.get(ENV_API_KEY) or "").strip()
    if not api_url or not key:
        if required:
            missing = (
                f"set {ENV_API_URL} or pass --argilla-url" if not api_url else f"set {ENV_API_KEY}"
            )
            raise SignalOpsError(f"Argilla not configured: {missing}")
        if api_url or key:
            missing = ENV_API_URL if not api_url else ENV_API_KEY
            logger.warning(
                "Argilla review disabled: %s is set but %s is not", _other(missing), missing
            )
        return None
    ws = (workspace or environ.get(ENV_WORKSPACE) or "").strip() or DEFAULT_WORKSPACE
    return ArgillaSettings(api_url=api_url, api_key=key, workspace=ws)


def _other(name: str) -> str:
    return ENV_API_KEY if name == ENV_API_URL else ENV_API_URL
