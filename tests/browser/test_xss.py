"""User text (display names and chat) is only ever rendered as text: no payload executes."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from publicrooms.security.sanitize import find_script_markup

pytestmark = pytest.mark.browser

# Each keeps some text once tags are stripped, so the server accepts it as a name.
NAMES = [
    "Eve<img src=x onerror=window.__xss=1>",
    '"><svg onload=alert(1)>Mallory',
    "<script>alert(1)</script>Trudy",
    "javascript:alert(1)",
    "Bob &lt;b&gt; 'quoted' \"x\"",
]

MESSAGES = [
    "<img src=x onerror=\"window.__xss=1\">",
    "<script>window.__xss=1</script>",
    "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
    '<iframe src="javascript:alert(1)"></iframe>',
    '<a href="javascript:alert(1)">click me</a>',
    "&lt;img src=x onerror=alert(1)&gt;",
    "<style>body{display:none}</style>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "{{constructor.constructor('alert(1)')()}}",
    "' onmouseover='alert(1)' x='",
    "<details open ontoggle=alert(1)>",
    "<body onload=alert(1)>",
    "plain text with <b>tags</b> & ampersands",
]

# The only elements the chat log and participant list are built from.
ALLOWED = {"LI", "DIV", "SPAN", "TIME", "P", "svg", "path"}


def _foreign_elements(page, selector: str) -> list[str]:  # noqa: ANN001
    return page.evaluate(
        """([selector, allowed]) => [...document.querySelectorAll(selector + ' *')]
              .filter((el) => !el.matches('button.report-button'))  // the page's own control
              .map((el) => el.tagName).filter((tag) => !allowed.includes(tag))""",
        [selector, sorted(ALLOWED)],
    )


def test_xss_corpus_in_names_and_messages_never_executes(site) -> None:  # noqa: ANN001
    viewer = site.person("Viewer")
    viewer.join("quiet-library")
    senders = []
    refusals: dict[str, str] = {}
    for n, name in enumerate(NAMES):
        person = site.person(f"attacker-{n}")
        person.join("quiet-library", name=name)
        senders.append(person)
    expect(viewer.page.locator(".participant")).to_have_count(len(NAMES) + 1)

    # Spread over the senders so no one reaches the chat rate limit (10 a minute).
    for n, text in enumerate(MESSAGES):
        sender = senders[n % len(senders)]
        before = sender.page.locator(".chat-message").count()
        sender.say(text)
        # Each message is either shown, or refused with a visible explanation.
        sender.page.wait_for_function(
            """(before) => document.querySelectorAll('.chat-message').length > before
                 || document.querySelector('#chat-feedback')?.textContent""",
            arg=before,
        )
        feedback = sender.page.evaluate(
            "() => { const f = document.querySelector('#chat-feedback');"
            " const t = f ? f.textContent : ''; if (f) f.textContent = ''; return t; }")
        if feedback:
            refusals[text] = feedback
    senders[-1].say("the end")
    expect(viewer.page.locator(".chat-text").last).to_have_text("the end")

    # Script-capable markup is refused, visibly to the sender; everything else is shown
    # literally, exactly as typed.
    texts = viewer.chat_texts()
    for text in MESSAGES:
        if find_script_markup(text) is not None:
            assert "refused" in refusals.get(text, ""), (text, refusals)
            assert text not in texts
        else:
            assert text in texts, (text, texts)
    assert "plain text with <b>tags</b> & ampersands" in texts, texts

    for person in (viewer, *senders):
        for selector in (".chat-log", ".participant-list", ".video-grid figcaption"):
            assert _foreign_elements(person.page, selector) == [], (person.name, selector)
        assert person.page.locator(".chat-log img, .chat-log script, .chat-log iframe").count() == 0
        person.assert_clean()
