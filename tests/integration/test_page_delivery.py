"""The built page is served compressed, with hashed assets cached for good and the page revalidated."""

from __future__ import annotations

import re

from publicrooms.web import WEB_ROOT


async def test_page_and_assets_are_compressed_and_cached_by_kind(server, http) -> None:  # noqa: ANN001
    client = http(server.url)
    page = await client.get("/", headers={"accept-encoding": "gzip"})
    assert page.status_code == 200
    assert page.headers["content-encoding"] == "gzip"
    assert page.headers["cache-control"] == "no-cache"
    assets = re.findall(r'(?:src|href)="(/assets/[^"]+)"', page.text)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for path in assets:
        response = await client.get(path, headers={"accept-encoding": "gzip"})
        assert response.status_code == 200, path
        assert response.headers["content-encoding"] == "gzip", path
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable", path
        on_disk = (WEB_ROOT / path.lstrip("/")).read_bytes()
        assert response.content == on_disk, "decoded body is the built file"
        wire = response.num_bytes_downloaded  # bytes as sent, before decoding
        assert wire < len(on_disk) / 2, f"{path}: {wire} bytes on the wire for {len(on_disk)}"
        # A validator lets a revalidating browser get 304 without the body.
        again = await client.get(path, headers={"if-none-match": response.headers["etag"]})
        assert again.status_code == 304
    # A client that does not accept gzip gets the plain file.
    plain = await client.get("/", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.content == (WEB_ROOT / "index.html").read_bytes()
    # The security headers stay on the compressed page.
    assert "content-security-policy" in page.headers
