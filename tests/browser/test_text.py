"""People's words in Chromium: the issue's messages and names arrive as typed for everyone,
and stay so in the history; a SQL-injection payload is refused saying why."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.people import assert_clean
from tests.property.text_corpus import ISSUE_MESSAGES, ISSUE_NAMES

pytestmark = pytest.mark.browser

PERSIAN = "من می\u200cخواهم کمی استراحت کنم"  # a ZWNJ inside a word


def test_messages_and_names_arrive_exactly_as_typed(site) -> None:  # noqa: ANN001
    people = site.seated("math-and-physics", *ISSUE_NAMES)  # Sleepy Sam, Benchmark Ben, Mehr‌nāz, 👩‍💻
    viewer = people[0]
    expect(viewer.page.locator(".participant")).to_have_count(len(people))
    shown_names = viewer.page.locator(".participant .name-text").all_text_contents()
    assert sorted(shown_names) == sorted(ISSUE_NAMES), shown_names
    for person in people[1:]:
        expect(person.page.locator(".participant.is-self .name-text")).to_have_text(person.name)

    typed = [*ISSUE_MESSAGES, PERSIAN]
    for n, text in enumerate(typed):  # spread so nobody reaches the chat rate limit
        sender = people[n % len(people)]
        sender.say(text)
        expect(sender.page.locator(".chat-text").last).to_have_text(text)
    for person in people:
        expect(person.page.locator(".chat-text")).to_have_count(len(typed))
        assert person.chat_texts() == typed
    senders = viewer.page.locator(".chat-sender").all_text_contents()
    assert set(senders) <= set(ISSUE_NAMES) and len(set(senders)) == len(people), senders

    # An injection-shaped message is refused, with the reason, and reaches nobody.
    people[1].say("' OR '1'='1")
    expect(people[1].page.locator("#chat-feedback")).to_contain_text(
        "refused because it looks like a database attack (SQL injection)")

    # Someone arriving later reads the stored history, still as typed.
    reader = site.person("Reader")
    reader.join("math-and-physics")
    expect(reader.page.locator(".chat-text")).to_have_count(len(typed))
    assert reader.chat_texts() == typed
    assert sorted(reader.page.locator(".participant .name-text").all_text_contents()) == sorted([*ISSUE_NAMES, "Reader"])
    assert_clean(*people, reader)
