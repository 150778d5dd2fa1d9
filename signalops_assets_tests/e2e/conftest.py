"""End-to-end fixtures: a real `dagster dev` (webserver + daemon + code server) on a free port,
with its own DAGSTER_HOME, app database, projects and export dirs; the `signalops` CLI against
the same environment; headless Chromium driven over the DevTools protocol.

Everything started here runs in its own process group and is stopped in the fixture's
finalizer (SIGTERM to the group, then SIGKILL), also when a test fails or times out.
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
START_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 20.0
# Variables from the developer's shell that would point the stack at real services.
SCRUBBED_PREFIXES = ("SIGNALOPS_", "LANGFUSE_", "ARGILLA_", "DAGSTER_", "OPENAI_", "ANTHROPIC_")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _default_signals() -> None:
    # The parent may ignore SIGINT/SIGTERM (CI runners and background shells do): children
    # would inherit that and ignore our SIGTERM. Restore the defaults before exec.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def start_group(
    cmd: list[str], *, log: Path, env: dict[str, str], cwd: Path
) -> subprocess.Popen[bytes]:
    """Start `cmd` as the leader of a new session/process group, output to `log`."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_default_signals,
        )
    atexit.register(stop_group, proc)  # last resort if the finalizer never runs
    return proc


def stop_group(proc: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM the whole process group, wait, then SIGKILL whatever is left."""
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        return
    for sig, wait_s in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        if sig == signal.SIGKILL:
            print(f"still running {timeout:.0f}s after SIGTERM, killing: {group_members(pgid)}")
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            proc.poll()
            if not _group_alive(pgid):
                return
            time.sleep(0.2)
    proc.poll()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover
        return True
    return bool(group_members(pgid))


def group_members(pgid: int) -> list[str]:
    """Live (non-zombie) processes of the group, as "pid cmdline"; zombies are finished."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")[:120]
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
            members.append(f"{entry.name} {cmdline.decode(errors='replace')}")
    return members


def wait_for(
    what: str, check: Callable[[], Any], timeout: float, interval: float = 1.0, on_fail: str = ""
) -> Any:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except (OSError, urllib.error.URLError, ValueError, KeyError) as exc:
            last_error = exc
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} ({last_error!r}){on_fail}")


@dataclass
class DagsterStack:
    """A running `dagster dev` and the environment it shares with the `signalops` CLI."""

    port: int
    root: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    log: Path
    location: str = ""
    repository: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def export_dir(self) -> Path:
        return Path(self.env["SIGNALOPS_EXPORT_DIR"])

    def log_tail(self, chars: int = 4000) -> str:
        try:
            text = self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""
        return f"\n--- dagster dev log (tail) ---\n{text}"

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"{self.base_url}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            payload: dict[str, Any] = json.loads(response.read())
        if payload.get("errors"):
            raise AssertionError(f"GraphQL errors: {payload['errors']}")
        data: dict[str, Any] = payload["data"]
        return data

    def client(self) -> Any:
        from dagster_graphql import DagsterGraphQLClient

        return DagsterGraphQLClient("127.0.0.1", port_number=self.port, timeout=60)

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`signalops ARGS` with the stack's environment; fails the test on a non-zero exit."""
        result = subprocess.run(
            [str(BIN / "signalops"), *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, (
            f"signalops {' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}"
        )
        return result

    def selector(self, **name: str) -> dict[str, str]:
        return {
            "repositoryLocationName": self.location,
            "repositoryName": self.repository,
            **name,
        }


def stack_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES)}
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    projects = root / "projects"
    shutil.copytree(REPO / "data" / "projects", projects)
    env.update(
        {
            "DAGSTER_HOME": str(home),
            "SIGNALOPS_DATABASE_URL": f"sqlite:///{root / 'signalops.db'}",
            "SIGNALOPS_PROJECTS_DIR": str(projects),
            "SIGNALOPS_EXPORT_DIR": str(root / "exports"),
            "SIGNALOPS_SENSOR_INTERVAL_S": "5",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


LOCATIONS_QUERY = """
{
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on RepositoryLocation { name repositories { name } }
          ... on PythonError { message }
        }
      }
    }
  }
}
"""


@pytest.fixture(scope="session")
def dagster_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterStack]:
    """`make dev` (the user's command) on a free port, shared by the e2e tests; DAGSTER_HOME
    and DAGSTER_PORT come from the environment, as a user would set them."""
    root = tmp_path_factory.mktemp("dagster_stack")
    env = stack_env(root)
    port = free_port()
    env["DAGSTER_PORT"] = str(port)
    log = root / "dagster_dev.log"
    started = time.monotonic()
    proc = start_group(["make", "-s", "dev"], log=log, env=env, cwd=REPO)
    stack = DagsterStack(port=port, root=root, env=env, proc=proc, log=log)
    try:

        def server_info() -> bool:
            if proc.poll() is not None:
                pytest.fail(f"dagster dev exited with {proc.returncode}{stack.log_tail()}")
            with urllib.request.urlopen(f"{stack.base_url}/server_info", timeout=5) as response:
                return bool(json.loads(response.read()).get("dagster_webserver_version"))

        wait_for("/server_info", server_info, START_TIMEOUT_S, on_fail=stack.log_tail())

        def loaded() -> bool:
            entries = stack.graphql(LOCATIONS_QUERY)["workspaceOrError"]["locationEntries"]
            for entry in entries:
                loc = entry["locationOrLoadError"]
                if loc and loc["__typename"] == "PythonError":
                    pytest.fail(f"code location failed to load: {loc['message']}")
                if entry["loadStatus"] == "LOADED" and loc:
                    stack.location = loc["name"]
                    stack.repository = loc["repositories"][0]["name"]
                    return True
            return False

        wait_for("the code location to load", loaded, START_TIMEOUT_S, on_fail=stack.log_tail())
        stack.timings["startup_s"] = time.monotonic() - started
        yield stack
    finally:
        stopping = time.monotonic()
        stop_group(proc)
        stack.timings["shutdown_s"] = time.monotonic() - stopping
        print(f"\ndagster dev timings: {stack.timings}")


# ---------------------------------------------------------------- headless Chromium


CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium binary; installs Debian's `chromium` package when it is missing."""
    found = find_chromium()
    if found:
        return found
    if shutil.which("apt-get") is None:
        pytest.skip("no Chromium and no apt-get to install it")
    install = "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium"
    result = subprocess.run(
        ["bash", "-c", install], capture_output=True, text=True, timeout=900, check=False
    )
    found = find_chromium()
    if not found:
        pytest.fail(f"installing chromium failed ({result.returncode}): {result.stderr[-2000:]}")
    return found


class DevTools:
    """A minimal Chrome DevTools Protocol client over one page's websocket."""

    def __init__(self, ws_url: str) -> None:
        from websockets.sync.client import connect

        self._ws = connect(ws_url, max_size=None, open_timeout=15, proxy=None)
        self._next_id = 0

    def call(self, method: str, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        call_id = self._next_id
        self._ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"DevTools {method} did not answer in {timeout}s")
            message = json.loads(self._ws.recv(timeout=remaining))
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"DevTools {method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=False)
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    def close(self) -> None:
        self._ws.close()


@pytest.fixture
def browser(chromium: str, tmp_path: Path) -> Iterator[DevTools]:
    """Headless Chromium with remote debugging on a free port; yields a DevTools page client."""
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    # Chromium's singleton socket lives under TMPDIR and must fit a 108-byte unix socket path:
    # an xdist worker's tmp_path (.../popen-gw1/test_<long name>0/) is too long for it.
    scratch = Path(tempfile.mkdtemp(prefix="chr-", dir="/tmp"))
    cmd = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        "--window-size=1600,1000",
        "about:blank",
    ]
    env = {**os.environ, "TMPDIR": str(scratch)}
    proc = start_group(cmd, log=tmp_path / "chromium.log", env=env, cwd=tmp_path)
    devtools: DevTools | None = None
    try:
        active = profile / "DevToolsActivePort"

        def debug_port() -> int:
            if proc.poll() is not None:
                log = (tmp_path / "chromium.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"chromium exited with {proc.returncode}: {log}")
            lines = active.read_text().split()
            return int(lines[0]) if lines else 0

        port = wait_for("Chromium's DevTools port", debug_port, 60, interval=0.2)

        def page_ws() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                targets = json.loads(r.read())
            pages = [t for t in targets if t.get("type") == "page"]
            return str(pages[0]["webSocketDebuggerUrl"]) if pages else ""

        devtools = DevTools(wait_for("a Chromium page target", page_ws, 30, interval=0.2))
        devtools.call("Page.enable")
        devtools.call("Runtime.enable")
        devtools.call(
            "Emulation.setDeviceMetricsOverride",
            width=1600,
            height=1000,
            deviceScaleFactor=1,
            mobile=False,
        )
        yield devtools
    finally:
        if devtools is not None:
            devtools.close()
        stop_group(proc, timeout=5)
        shutil.rmtree(scratch, ignore_errors=True)
