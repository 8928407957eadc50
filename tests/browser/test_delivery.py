"""Delivery as Chromium sees it: the page and its assets arrive compressed, and a second visit
takes the hashed assets from the browser's cache without asking the server."""

from __future__ import annotations

import pytest
from playwright.sync_api import Response, expect

pytestmark = pytest.mark.browser

ASSET_TIMINGS = """() => performance.getEntriesByType('resource')
  .filter((e) => new URL(e.name).pathname.startsWith('/assets/'))
  .map((e) => ({ path: new URL(e.name).pathname, transfer: e.transferSize, encoded: e.encodedBodySize,
                 decoded: e.decodedBodySize }))"""


def test_page_arrives_compressed_and_assets_are_cached_for_good(site) -> None:  # noqa: ANN001
    reader = site.person("Reader")
    responses: list[Response] = []
    reader.page.on("response", lambda r: responses.append(r))
    reader.open_lobby()
    document = next(r for r in responses if r.request.resource_type == "document")
    headers = document.all_headers()
    assert headers.get("content-encoding") in ("br", "gzip"), headers
    assert headers["cache-control"] == "no-cache"  # the page itself is always revalidated
    assets = [r for r in responses if "/assets/" in r.url]
    assert {a.url.rsplit(".", 1)[-1] for a in assets} >= {"js", "css"}
    for asset in assets:
        h = asset.all_headers()
        assert h.get("content-encoding") in ("br", "gzip"), (asset.url, h)
        assert h["cache-control"] == "public, max-age=31536000, immutable", (asset.url, h)
    first = reader.page.evaluate(ASSET_TIMINGS)
    assert {e["path"] for e in first} == {a.url.split(reader.base_url, 1)[1] for a in assets}
    for entry in first:
        assert 0 < entry["encoded"] < entry["decoded"] / 2, f"compressed on the wire: {entry}"

    # Another visit in a new tab: the hashed assets come from the cache, not the network.
    again = reader.new_page()
    again.goto("/")
    expect(again.locator(".room-card").first).to_be_visible()
    second = again.evaluate(ASSET_TIMINGS)
    assert {e["path"] for e in second} == {e["path"] for e in first}
    assert all(e["transfer"] == 0 for e in second), f"served from the browser cache: {second}"
    reader.assert_clean()
