"""`/docs` in Chromium: Swagger UI comes from the server itself and renders under its CSP."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Browser, Route


def test_api_docs_render_offline_under_the_page_csp(server_factory, browser: Browser) -> None:
    server = server_factory(media={"enabled": False})
    context = browser.new_context()
    page = context.new_page()
    foreign: list[str] = []
    refused: list[str] = []

    def only_the_server(route: Route) -> None:
        # No internet: anything not served by the server itself fails.
        if urlsplit(route.request.url).port != server.port:
            foreign.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    page.route("**/*", only_the_server)
    page.on("console", lambda m: refused.append(m.text)
            if "Content Security Policy" in m.text and "script" in m.text else None)
    try:
        response = page.goto(f"{server.url}/docs")
        assert response is not None and response.ok
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_selector(".opblock", timeout=15_000)
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert "/api/public/rooms" in paths and "/api/public/users" in paths, paths
        assert any(p.startswith("/api/admin") for p in paths), paths
        page.locator(".opblock-summary-path", has_text="/api/public/users").first.click()
        page.wait_for_selector(".opblock-body", timeout=5_000)
        assert foreign == [], f"the docs page asked the internet for {foreign}"
        assert refused == [], refused
    finally:
        context.close()
