"""The one adapter between this code and the argilla SDK's client: sessions, error translation,
lookups, and every access to SDK-private state (`record._model`, `Argilla._default_client`).
Record building, schemas and sync logic stay in plain modules that call these.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from signalops_assets.errors import SignalOpsError
from signalops_assets.redaction import display_url, one_line_error

if TYPE_CHECKING:
    from signalops_assets.argilla.settings import ArgillaSettings


class ArgillaError(SignalOpsError):
    """Argilla could not be reached or refused a request. One line; never holds the API key."""


class ArgillaDatasetMissing(ArgillaError):
    """The review dataset does not exist yet (nothing was pushed): a sync has nothing to read."""


# -- error handling ----------------------------------------------------------------------------


def chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def translate(exc: BaseException, *, url: str, action: str, api_key: str) -> ArgillaError:
    """Map anything the SDK/httpx raised to a one-line ArgillaError naming the URL."""
    import httpx

    where = f"Argilla at {display_url(url)}"
    errors = list(chain(exc))
    for err in errors:
        if isinstance(err, httpx.TimeoutException) and not isinstance(err, httpx.ConnectTimeout):
            return ArgillaError(f"{where} timed out while trying to {action}")
        if isinstance(err, httpx.ConnectError | httpx.ConnectTimeout):
            reason = one_line_error(str(err), api_key) or type(err).__name__
            if "refused" in reason.lower():
                reason = "connection refused"
            return ArgillaError(f"{where} is unreachable ({reason}) while trying to {action}")
        if isinstance(err, httpx.TransportError):
            reason = one_line_error(str(err), api_key) or type(err).__name__
            return ArgillaError(f"{where}: network error while trying to {action} ({reason})")
        status = getattr(err, "status_code", None)
        if type(err).__name__ == "ArgillaCredentialsError" or status == 401:
            return ArgillaError(f"{where} rejected the API key (401 Unauthorized)")
        if status == 403:
            return ArgillaError(
                f"{where} refused to {action} (403 Forbidden: the key's user needs the owner "
                "or admin role in the workspace)"
            )
        if isinstance(status, int):
            detail = one_line_error(str(err), api_key)
            return ArgillaError(f"{where} failed to {action}: HTTP {status}: {detail}")
    detail = one_line_error(f"{type(exc).__name__}: {exc}", api_key)
    return ArgillaError(f"{where} failed to {action}: {detail}")


@contextlib.contextmanager
def session(
    *, api_url: str, api_key: str, timeout: float, retries: int, action: str
) -> Iterator[tuple[Any, Any]]:
    """``(argilla module, connected client)``; closes the client; translates every error."""
    if not api_url or not api_key:
        raise ArgillaError("Argilla is not configured: both api_url and api_key are required")
    try:
        import argilla as rg
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ArgillaError(
            "the argilla SDK is not installed (install signalops-assets[argilla])"
        ) from exc
    client: Any = None
    try:
        client = rg.Argilla(api_url=api_url, api_key=api_key, timeout=timeout, retries=retries)
        yield rg, client
    except ArgillaError:
        raise
    except Exception as exc:
        raise translate(exc, url=api_url, action=action, api_key=api_key) from None
    finally:
        http_client = getattr(client, "http_client", None)
        if http_client is not None:
            with contextlib.suppress(Exception):
                http_client.close()
        # ``rg.Argilla()`` also makes itself the SDK's process-wide default client; don't leave
        # a closed client behind as that default.
        with contextlib.suppress(Exception):
            if client is not None and rg.Argilla._default_client is client:
                rg.Argilla._default_client = None


@contextlib.contextmanager
def dataset_session(
    settings: ArgillaSettings, name: str, action: str, timeout: float = 30.0, retries: int = 2
) -> Iterator[tuple[Any, Any, Any, Any]]:
    """``(argilla module, client, workspace, dataset or None)`` for dataset `name` in the
    settings' workspace (which must exist), inside `session`."""
    with session(
        api_url=settings.api_url,
        api_key=settings.api_key,
        timeout=timeout,
        retries=retries,
        action=action,
    ) as (rg, client):
        workspace = require_workspace(client, settings.workspace, settings.api_url)
        yield rg, client, workspace, find_dataset(client, name, workspace)


def quietly(call: Callable[[], Any]) -> Any:
    """Run an SDK lookup without its "not found" UserWarnings (we report those ourselves)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call()


# -- SDK helpers -------------------------------------------------------------------------------


def require_workspace(client: Any, name: str, url: str) -> Any:
    workspace = quietly(lambda: client.workspaces(name=name))
    if workspace is None:
        names = sorted(str(w.name) for w in client.workspaces.list())
        raise ArgillaError(
            f"Argilla at {display_url(url)} has no workspace {name!r} (available: {names})"
        )
    return workspace


def find_dataset(client: Any, name: str, workspace: Any) -> Any:
    return quietly(lambda: client.datasets(name=name, workspace=workspace))


def ensure_min_submitted(rg: Any, client: Any, dataset: Any, wanted: int, url: str) -> bool:
    """Make an existing dataset complete a record after `wanted` submissions, as its settings
    were created with; True when it was changed. A server that refuses (argilla-server rejects a
    distribution change once a dataset has responses) is a one-line ArgillaError saying how to
    fix it.

    The dataset is PATCHed directly (SDK-private ``client.api.datasets`` and ``DatasetModel``):
    the public ``Dataset.update()`` also rewrites every field, question and metadata property.
    """
    current = int(dataset.settings.distribution.min_submitted)
    if current == wanted:
        return False
    from argilla._models import DatasetModel

    distribution = rg.TaskDistribution(min_submitted=wanted)
    try:
        client.api.datasets.update(
            DatasetModel(id=dataset.id, name=dataset.name, distribution=distribution._api_model())
        )
    except Exception as exc:
        if getattr(exc, "status_code", None) != 422:
            raise
        raise ArgillaError(
            f"Argilla at {display_url(url)} refused to change dataset {dataset.name!r} from "
            f"{current} to {wanted} submission(s) per record (it has responses already): set "
            f"review.min_submitted: {current} in the project config, or delete the dataset in "
            f"Argilla so the next push recreates it with {wanted}"
        ) from None
    dataset.settings.distribution = distribution
    return True


def username(client: Any, user_id: str, cache: dict[str, str | None]) -> str | None:
    if user_id not in cache:
        try:
            user = quietly(lambda: client.users(id=user_id))
            cache[user_id] = str(user.username) if user is not None else user_id
        except Exception:  # e.g. 403 for admins: fall back to the id
            cache[user_id] = user_id
    return cache[user_id]


def raw_responses(record: Any) -> list[tuple[str, str, dict[str, Any]]]:
    """``(user_id, status, {question: value})`` per user response, values as the server sent them.

    The SDK's ``Record.responses`` turns a ranking ``[{"value": "b", "rank": 1}, ...]`` into
    ``["b", ...]`` in list order, dropping ``rank``; the record's API model keeps the server's
    values, so read those when present.
    """
    model = getattr(record, "_model", None)
    raw = getattr(model, "responses", None)
    out: list[tuple[str, str, dict[str, Any]]] = []
    if raw is not None:
        for response in raw:
            status = getattr(response.status, "value", response.status)
            values = {q: (v or {}).get("value") for q, v in (response.values or {}).items()}
            user = str(response.user_id) if response.user_id else ""
            out.append((user, str(status), values))
        return out
    by_user: dict[str, tuple[str, dict[str, Any]]] = {}
    for response in record.responses:
        status = getattr(response.status, "value", response.status)
        user = str(response.user_id) if response.user_id else ""
        entry = by_user.setdefault(user, (str(status), {}))
        entry[1][response.question_name] = response.value
    return [(u, s, v) for u, (s, v) in by_user.items()]
