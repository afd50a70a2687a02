"""The notification settings page: labelled fields, saved choices, 422 with every error."""

from __future__ import annotations

from dealroom import notifications
from dealroom.notifications import NotificationPref
from tests import factories


def test_settings_page_shows_defaults_and_saves_choices(client, session):
    user = factories.seller(session)
    session.flush()
    client.login(user.email, factories.PASSWORD)

    page = client.get("/settings/notifications")
    assert page.status_code == 200
    assert page.template.name == "notifications/settings.html"
    values = page.context["values"]
    assert values["mode_first_open"] == "now" and values["mode_task"] == "digest"
    assert values["quiet_start"] == "" and values["slack_url"] == ""
    for label in ("First open by a person", "Quiet from", "Quiet until", "Slack webhook URL"):
        assert f">{label}</label>" in page.text
    assert '/settings/notifications">Notifications</a>' in page.text  # in the seller menu

    response = client.submit(
        "/settings/notifications",
        {
            **{f"mode_{kind}": "now" for kind in notifications.KINDS},
            "mode_returned": "off",
            "mode_pricing": "digest",
            "quiet_start": "22:00",
            "quiet_end": "07:30",
            "slack_url": "https://hooks.slack.com/services/T1/B2/c3",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/settings/notifications?saved=1"
    prefs = notifications.preferences(session, user=user)
    assert prefs.mode("returned") == "off" and prefs.mode("pricing") == "digest"
    assert (prefs.quiet_start, prefs.quiet_end) == (22 * 60, 7 * 60 + 30)
    page = client.get("/settings/notifications?saved=1")
    assert page.context["saved"] and page.context["values"]["quiet_end"] == "07:30"


def test_bad_input_is_answered_422_with_every_error_and_nothing_saved(client, session):
    user = factories.seller(session)
    session.flush()
    client.login(user.email, factories.PASSWORD)
    response = client.submit(
        "/settings/notifications",
        {"mode_first_open": "loud", "quiet_start": "9pm", "slack_url": "https://evil.example/x"},
    )
    assert response.status_code == 422
    assert response.template.name == "notifications/settings.html"
    assert set(response.context["errors"]) == {"mode_first_open", "quiet_start", "slack_url"}
    assert response.context["values"]["slack_url"] == "https://evil.example/x"  # kept to fix
    assert 'aria-invalid="true"' in response.text
    assert session.get(NotificationPref, user.id) is None


def test_the_page_needs_a_logged_in_seller(client):
    response = client.get("/settings/notifications", follow_redirects=False)
    assert response.status_code in (303, 401)
