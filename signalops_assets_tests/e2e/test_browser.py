"""The Dagster UI in a real (headless) Chromium: the global asset graph shows every asset."""

from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import Path

import pytest

from signalops_assets_tests.e2e.conftest import DagsterStack, DevTools

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ASSETS = (
    "judged_posts",
    "ab_results",
    "experiment_analysis",
    "preference_pairs",
    "dpo_jsonl",
    "argilla_dataset",
)
RENDER_TIMEOUT_S = 90.0
# Asset names drawn in the graph: leaf elements, inside a node with a box on the page, whose
# text is a name. (innerText skips the SVG foreignObject the nodes live in: text alone won't
# do.) Zoomed out to fit, the graph draws minimal nodes whose long names are middle-truncated
# ("experime…_analysis") with no full text anywhere in the DOM, so a truncated label counts
# when its two ends are the name's ends; a MiddleTruncate label keeps its full text in a hidden
# measuring element, hence the parent's box.
RENDERED_NAMES_JS = """
(() => {
  const names = %s;
  const found = new Set();
  const visible = (el) => {
    const box = el && el.getBoundingClientRect();
    return Boolean(box && box.width > 0 && box.height > 0);
  };
  const shows = (text, name) => {
    if (text === name) return true;
    const parts = text.split('\u2026');
    return parts.length === 2 && parts[0].length > 0 && parts[1].length > 0 &&
      parts[0].length + parts[1].length < name.length &&
      name.startsWith(parts[0]) && name.endsWith(parts[1]);
  };
  for (const el of document.querySelectorAll('body *')) {
    if (el.childElementCount) continue;
    const text = (el.textContent || '').trim();
    if (!(visible(el) || visible(el.parentElement))) continue;
    for (const name of names) if (shows(text, name)) found.add(name);
  }
  return [...found];
})()
"""
# The first-visit "Join the Dagster community" dialog would cover the screenshot.
DISMISS_DIALOG_JS = """
(() => {
  const skip = [...document.querySelectorAll('button')].find(b => b.textContent.trim() === 'Skip');
  if (skip) skip.click();
  return Boolean(skip);
})()
"""


def asset_graph_url(stack: DagsterStack) -> str:
    """The global lineage page with every asset group expanded (the `expanded` query parameter
    holds group ids; both id styles the 1.13 UI uses are listed, unknown ids are ignored)."""
    nodes = stack.graphql("{ assetNodes { groupName } }")["assetNodes"]
    groups = sorted({n["groupName"] for n in nodes if n["groupName"]})
    ids = [f"global@global:{g}" for g in groups]
    ids += [f"{stack.repository}@{stack.location}:{g}" for g in groups]
    return f"{stack.base_url}/asset-groups?" + urllib.parse.urlencode({"expanded": ",".join(ids)})


def test_asset_graph_renders_every_asset(
    dagster_stack: DagsterStack, browser: DevTools, tmp_path: Path
) -> None:
    url = asset_graph_url(dagster_stack)
    started = time.monotonic()
    browser.call("Page.navigate", url=url)
    seen: set[str] = set()
    deadline = started + RENDER_TIMEOUT_S
    try:
        while seen != set(ASSETS) and time.monotonic() < deadline:
            browser.evaluate(DISMISS_DIALOG_JS)
            seen.update(browser.evaluate(RENDERED_NAMES_JS % json.dumps(ASSETS)) or [])
            time.sleep(0.5)
        rendered_in = time.monotonic() - started
        time.sleep(1.0)  # let the graph finish zooming to fit before the picture
        browser.evaluate(DISMISS_DIALOG_JS)
    finally:
        # Kept for a person to look at, whether or not the assertion holds.
        shot = browser.screenshot(tmp_path / "asset_graph.png")
        print(f"\nscreenshot: {shot}")
    missing = sorted(set(ASSETS) - seen)
    assert not missing, (
        f"not rendered after {RENDER_TIMEOUT_S:.0f}s: {missing} (seen {sorted(seen)})"
    )
    print(f"asset graph rendered all {len(ASSETS)} assets in {rendered_in:.1f}s")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 10_000
    # The page is the webserver's own lineage view, not an error page.
    assert "lineage" in str(browser.evaluate("document.body.textContent")).lower()
