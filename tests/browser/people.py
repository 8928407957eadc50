"""Browser-test helpers: a proxy hub thread, and a Person (one browser context = one person)."""

from __future__ import annotations

import asyncio
import itertools
import re
import threading
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Dialog, Page, expect

from tests.browser.xffproxy import PersonProxy

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

_next_ip = itertools.count(1)

# Predicates are synchronous (wait_for_function does not await promises); state kept between
# polls on window proves progress: currentTime must advance from one poll to the next.
VIDEO_PLAYING = """
(userId) => {
  const video = document.querySelector(`.tile[data-user-id="${userId}"] video`);
  if (!video || !video.srcObject || video.videoWidth === 0 || video.paused) return false;
  window.__videoTimes = window.__videoTimes || {};
  const previous = window.__videoTimes[userId];
  window.__videoTimes[userId] = video.currentTime;
  return previous !== undefined && video.currentTime > previous;
}
"""

# Measures the received audio itself (Chromium's fake microphone beeps), not just a track's existence.
AUDIO_HEARD = """
(userId) => {
  const audio = document.querySelector(`.tile[data-user-id="${userId}"] audio`);
  const stream = audio && audio.srcObject;
  if (!stream || audio.paused || stream.getAudioTracks().length === 0) return false;
  window.__meters = window.__meters || {};
  let meter = window.__meters[userId];
  if (!meter || meter.stream !== stream) {
    const ctx = new AudioContext();
    ctx.resume();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 2048;
    ctx.createMediaStreamSource(stream).connect(analyser);
    meter = window.__meters[userId] = { stream, analyser, peak: 0 };
  }
  const data = new Float32Array(meter.analyser.fftSize);
  meter.analyser.getFloatTimeDomainData(data);
  for (const v of data) meter.peak = Math.max(meter.peak, Math.abs(v));
  return meter.peak > 0.01;
}
"""

# Records anything that looks like script execution from user text, and CSP violations
# (an inline handler injected via innerHTML would be blocked by CSP and reported here).
WATCHDOG = """
window.__xss = 0;
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(e.violatedDirective + ' ' + (e.blockedURI || '') + ' ' + (e.sample || ''));
});
"""


def fake_ip() -> str:
    """A distinct documentation-range address per simulated person (TEST-NET-2)."""
    n = next(_next_ip)
    return f"198.51.{100 + n // 250}.{n % 250 + 1}"


class ProxyHub:
    """Runs the per-person X-Forwarded-For proxies on an event loop in a background thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="xff-proxies", daemon=True)
        self.thread.start()
        self.proxies: list[PersonProxy] = []

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def proxy(self, upstream_port: int, ip: str) -> PersonProxy:
        proxy = PersonProxy(upstream_port, ip)
        self._run(proxy.start())
        self.proxies.append(proxy)
        return proxy

    def drop_connections(self, proxy: PersonProxy) -> None:
        """Cuts a person's open connections, like a network blip."""
        self.loop.call_soon_threadsafe(proxy.drop_connections)

    def set_offline(self, proxy: PersonProxy, offline: bool) -> None:
        """Takes a person's network away (open connections cut, new ones refused) or gives it back."""
        def apply() -> None:
            proxy.offline = offline
            if offline:
                proxy.drop_connections()
        self.loop.call_soon_threadsafe(apply)

    def close_all(self) -> None:
        for proxy in self.proxies:
            self._run(proxy.close())
        self.proxies.clear()

    def stop(self) -> None:
        self.close_all()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class Person:
    """One person: their own browser context (storage, permissions) and their own client IP."""

    def __init__(self, browser: Browser, hub: ProxyHub, server_port: int, name: str,
                 viewport: dict[str, int] | None = None) -> None:
        self.name = name
        self.ip = fake_ip()
        self.proxy = hub.proxy(server_port, self.ip)
        self.hub = hub
        self.base_url = f"http://127.0.0.1:{self.proxy.port}"
        self.context: BrowserContext = browser.new_context(
            base_url=self.base_url,
            viewport=viewport or {"width": 1280, "height": 800},
            permissions=["camera", "microphone"],
            locale="en-GB",
        )
        self.context.add_init_script(WATCHDOG)
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page = self.new_page()

    def new_page(self) -> Page:
        page = self.context.new_page()
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("console", self._console)
        page.on("dialog", self._dialog)
        return page

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not _expected_console_error(message.text):
            self.errors.append(f"console: {message.text}")

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    # --- journeys ---------------------------------------------------------------------------

    def open_lobby(self) -> Page:
        self.page.goto("/")
        expect(self.page.locator(".room-card").first).to_be_visible()
        return self.page

    def open_join(self, room_id: str) -> None:
        self.open_lobby()
        self.page.locator(f'.room-card[data-room-id="{room_id}"] .room-join').click()
        expect(self.page.locator("dialog.join-dialog")).to_be_visible()

    def submit_join(self, room_id: str, name: str | None = None) -> None:
        """From the lobby, asks to join the room under the name (the answer is the page's)."""
        self.open_join(room_id)
        self.page.fill("#display-name", name if name is not None else self.name)
        self.page.locator(".join-form button[type=submit]").click()

    def join(self, room_id: str, name: str | None = None) -> Page:
        self.submit_join(room_id, name)
        expect(self.page.locator("section.room")).to_be_visible(timeout=15000)
        return self.page

    def say(self, text: str) -> None:
        self.page.fill("#chat-input", text)
        self.page.locator(".chat-form button[type=submit]").click()

    def chat_texts(self) -> list[str]:
        return self.page.locator(".chat-text").all_text_contents()

    def participant(self, display_name: str):  # noqa: ANN201
        return self.page.locator(".participant", has=self.page.locator(".name-text", has_text=re.compile(f"^{re.escape(display_name)}$")))

    def tile(self, user_id: str):  # noqa: ANN201
        return self.page.locator(f'.tile[data-user-id="{user_id}"]')

    def user_id(self) -> str:
        return self.page.locator(".participant.is-self").get_attribute("data-user-id") or ""

    def toggle(self, kind: str) -> None:
        """kind: "audio" (microphone) or "video" (camera)."""
        self.page.locator(f".control-{kind}").click()

    def wait_video(self, user_id: str, timeout_ms: int = 30000) -> None:
        """Until this person sees the user's camera playing (frames advancing)."""
        self.page.wait_for_function(VIDEO_PLAYING, arg=user_id, timeout=timeout_ms, polling=500)

    def wait_audio(self, user_id: str, timeout_ms: int = 30000) -> None:
        """Until this person's page plays the user's microphone, with sound in it."""
        self.page.wait_for_function(AUDIO_HEARD, arg=user_id, timeout=timeout_ms, polling=100)

    def assert_clean(self) -> None:
        """No uncaught errors, no dialogs, no CSP violations, no injected script ran."""
        state = self.page.evaluate("""() => ({
            xss: window.__xss, csp: window.__cspViolations,
            styled: document.querySelectorAll('[style]').length,
            inline: [...document.scripts].filter((s) => !s.src).length,
        })""")
        assert not self.errors, f"{self.name}: browser errors {self.errors}"
        assert not self.dialogs, f"{self.name}: unexpected dialogs {self.dialogs}"
        assert state["xss"] == 0, f"{self.name}: injected script ran"
        assert not state["csp"], f"{self.name}: CSP violations {state['csp']}"
        assert state["styled"] == 0 and state["inline"] == 0, f"{self.name}: inline style/script {state}"

    def close(self) -> None:
        self.context.close()


def assert_clean(*people: Person) -> None:
    """Each person's page is clean (see Person.assert_clean)."""
    for person in people:
        person.assert_clean()


def _expected_console_error(text: str) -> bool:
    # Failed resource loads for deliberately refused requests (429/409 …) are logged by the browser,
    # as is the upgrade of a refused connection's session, which the server has closed.
    return bool(re.search(r"Failed to load resource|status of (4\d\d|503)"
                          r"|WebSocket handshake: Unexpected response code: 4\d\d", text))


PersonFactory = Callable[..., Person]
