"""Reporting someone from the people list, in Chromium, against a live server."""

from __future__ import annotations

from playwright.sync_api import expect


def test_report_from_the_people_list_is_acknowledged_and_stored(site) -> None:  # noqa: ANN001
    ada, troll = site.seated("quiet-library", "Ada", "Troll")
    page = ada.page
    row = ada.participant("Troll")
    expect(row).to_be_visible()
    # Nobody reports themselves: no button on one's own row.
    expect(ada.participant("Ada").locator(".report-button")).to_have_count(0)
    row.get_by_role("button", name="Report Troll").click()
    form = page.locator(".report-form")
    expect(form).to_be_visible()
    expect(form.locator(".report-title")).to_have_text("Report Troll")
    form.locator("select").select_option("spam")
    form.locator("textarea").fill("Posting ads <b>every</b> minute")
    form.get_by_role("button", name="Send report").click()
    expect(page.locator(".report-status")).to_have_text("Thank you: your report was received.")
    expect(form).to_be_hidden()

    troll_id = troll.user_id()

    async def stored():  # noqa: ANN202
        return await site.server.app.moderation.store.reports()

    reports = site.server.call(stored)
    assert [(r.target_user_id, r.reason, r.text) for r in reports] == [
        (troll_id, "spam", "Posting ads <b>every</b> minute")]
    ada.assert_clean()
