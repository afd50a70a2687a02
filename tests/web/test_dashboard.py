"""The rep and manager dashboards, a room's score page, the thresholds form, the chart CSVs and
the analytics API (answers validated against the OpenAPI document)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from dealroom import accounts, content, dashboard, scores, tracking
from dealroom.db import utcnow
from dealroom.tracking import ItemDay, ViewerItemStat, ViewerStat
from dealroom.web import dashboard as web_dashboard
from tests import factories
from tests.web.test_api import Api


@pytest.fixture
def team(session, services):
    """An org: an admin, a manager, two reps; rooms with activity; a library item."""
    admin = factories.seller(session, org="Northwind")
    manager = factories.seller(session, org="Northwind", role="manager")
    rep = factories.seller(session, org="Northwind", role="rep")
    other_rep = factories.seller(session, org="Northwind", role="rep")
    now = utcnow()
    hot = factories.room(session, rep, name="Hot deal", stage="evaluation")
    cold = factories.room(session, rep, name="=Cold deal")
    theirs = factories.room(session, other_rep, name="Their deal", stage="closed-won")
    session.flush()
    cold.created_at = now - timedelta(days=40)
    doc = content.create_link_document(
        session, user=admin, url="https://northwind.example/case", title="Case study"
    )
    people = {}
    for room, email, seconds, ago in (
        (hot, "kato@acme.example", 2400, timedelta(minutes=5)),
        (cold, "mori@acme.example", 300, timedelta(days=30)),
        (theirs, "sato@acme.example", 900, timedelta(days=2)),
    ):
        buyer = factories.invite(session, services, room, room_owner(session, room), email=email)
        people[room.name] = buyer
        session.add(
            ViewerStat(
                org_id=room.org_id,
                room_id=room.id,
                invite_id=buyer.id,
                active_seconds=seconds,
                visits=2,
                messages=3,
                first_seen=now - ago,
                last_seen=now - ago,
            )
        )
        tracking.add_room_activity(
            session, org_id=room.org_id, room_id=room.id, at=now - ago, seconds=seconds
        )
        item = content.place(session, room=room, document=doc, user=admin)
        session.add(
            ViewerItemStat(
                org_id=room.org_id,
                room_id=room.id,
                invite_id=buyer.id,
                room_item_id=item.id,
                active_seconds=seconds // 2,
                opens=1,
            )
        )
        session.add(
            ItemDay(
                org_id=room.org_id,
                room_id=room.id,
                room_item_id=item.id,
                document_id=doc.id,
                day=(now - ago).date(),
                active_seconds=seconds // 2,
            )
        )
    session.flush()
    return {
        "admin": admin,
        "manager": manager,
        "rep": rep,
        "other_rep": other_rep,
        "hot": hot,
        "cold": cold,
        "theirs": theirs,
        "doc": doc,
    }


def room_owner(session, room):
    return session.get(accounts.User, room.owner_id)


def logged_in(new_browser, user):
    browser = new_browser()
    browser.login(user.email, factories.PASSWORD)
    return browser


def test_the_rep_dashboard_lists_own_open_rooms_by_attention(team, new_browser):
    browser = logged_in(new_browser, team["rep"])
    response = browser.get("/dashboard")
    assert response.status_code == 200
    assert response.template.name == "dashboard/mine.html"
    scored = response.context["scored"]
    assert [s.room.name for s in scored] == ["=Cold deal", "Hot deal"]
    assert [s.health for s in scored] == ["going_cold", "on_track"]
    assert response.context["closed"] == 0
    html = response.text
    assert "Going cold" in html and "On track" in html
    assert "Their deal" not in html
    assert "No buyer activity for 30 days" in html
    # The navigation reaches the dashboards; a rep sees no team dashboard.
    assert '/dashboard">' in html and '/dashboard/team">' not in html


def test_the_live_feed_is_its_own_fragment(team, new_browser):
    browser = logged_in(new_browser, team["rep"])
    response = browser.get("/dashboard/feed", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.template.name == "dashboard/_feed.html"
    assert response.context["feed"] == []  # activity came from rollups only, no raw events
    assert 'id="dashboard-feed"' in response.text and "<html" not in response.text


def test_a_rooms_score_page_shows_components_weights_and_people(team, new_browser):
    browser = logged_in(new_browser, team["rep"])
    response = browser.get(f"/dashboard/rooms/{team['hot'].public_id}")
    assert response.status_code == 200
    assert response.template.name == "dashboard/room.html"
    scored = response.context["scored"]
    assert scored.room == team["hot"] and scored.health == "on_track"
    assert response.context["weights"] == scores.WEIGHTS
    assert [v.invite.email for v in response.context["viewers"]] == ["kato@acme.example"]
    assert "Recency" in response.text and "25%" in response.text
    assert "not counted" in response.text  # no plan yet


def test_the_manager_dashboard(team, new_browser):
    browser = logged_in(new_browser, team["manager"])
    response = browser.get("/dashboard/team")
    assert response.status_code == 200
    assert response.template.name == "dashboard/team.html"
    ctx = response.context
    assert [s.room.name for s in ctx["rows"]] == ["=Cold deal", "Their deal", "Hot deal"]
    assert [s.room.name for s in ctx["cold"]] == ["=Cold deal"]
    assert dict(ctx["stages"])["closed-won"] == 1
    assert sum(map(sum, ctx["heatmap"])) == 2400 + 900  # 30 days: the cold room's is older
    [row] = ctx["content"]
    assert (row.title, row.rooms, row.viewers, row.won_rooms, row.opened_won) == (
        "Case study",
        3,
        3,
        1,
        1,
    )
    assert ctx["charts"]["stages"]["values"] == [1, 1, 0, 1, 0]
    assert len(ctx["sparks"][team["hot"].public_id]) == 30
    html = response.text
    assert 'data-chart-kind="stages"' in html and 'data-chart-kind="content"' in html
    assert 'canvas class="spark"' in html and 'id="heatmap"' in html
    assert "Show as a table" in html and "/dashboard/team/rooms.csv" in html
    assert "dashboard.js" in html and "chart.js-4.6.1.umd.min.js" in html
    assert "<script>" not in html and "style=" not in html  # the CSP allows neither


def test_filters_narrow_the_rooms_and_keep_to_the_links(team, new_browser):
    browser = logged_in(new_browser, team["admin"])
    response = browser.get(f"/dashboard/team?rep={team['rep'].public_id}&days=7&sort=score")
    ctx = response.context
    assert {s.room.name for s in ctx["rows"]} == {"Hot deal", "=Cold deal"}
    assert [s.score for s in ctx["rows"]] == sorted(s.score for s in ctx["rows"])
    assert ctx["query"] == {"days": "7", "rep": team["rep"].public_id, "sort": "score"}
    assert f"rooms.csv?days=7&amp;rep={team['rep'].public_id}" in response.text
    assert len(ctx["sparks"][team["hot"].public_id]) == 7
    by_health = browser.get("/dashboard/team?health=going_cold").context["rows"]
    assert [s.room.name for s in by_health] == ["=Cold deal"]
    by_stage = browser.get("/dashboard/team?stage=closed-won").context["rows"]
    assert [s.room.name for s in by_stage] == ["Their deal"]
    # htmx asks for the live block alone.
    fragment = browser.get("/dashboard/team?days=90", headers={"HX-Request": "true"})
    assert fragment.template.name == "dashboard/_team_live.html"
    bad = browser.get("/dashboard/team?days=3&health=meh")
    assert bad.status_code == 422
    assert "Date range" in bad.text


def test_the_rooms_table_is_paged_and_the_csvs_keep_every_room(team, new_browser, monkeypatch):
    monkeypatch.setattr(dashboard, "PAGE_SIZE", 2)
    browser = logged_in(new_browser, team["manager"])
    first = browser.get("/dashboard/team?sort=name")
    ctx = first.context
    assert len(ctx["rows"]) == 3  # what the charts, counts and CSVs cover
    assert [s.room.name for s in ctx["page"].rows] == ["=Cold deal", "Hot deal"]
    assert (ctx["page"].number, ctx["page"].count, ctx["page"].first, ctx["page"].last) == (
        1,
        2,
        1,
        2,
    )
    assert set(ctx["sparks"]) == {s.room.public_id for s in ctx["page"].rows}
    html = first.text
    assert 'rel="next"' in html and 'rel="prev"' not in html
    assert "/dashboard/team?sort=name&amp;page=2" in html
    assert "Rooms 1–2 of 3" in html
    assert 'data-room="' + team["theirs"].public_id + '"' not in html
    second = browser.get("/dashboard/team?sort=name&page=2")
    assert [s.room.name for s in second.context["page"].rows] == ["Their deal"]
    assert 'rel="prev"' in second.text and 'rel="next"' not in second.text
    # The CSV links drop the page: every matching room, every room's daily line.
    assert (
        "rooms.csv?sort=name" in second.text and "rooms.csv?sort=name&amp;page" not in second.text
    )
    daily = browser.get("/dashboard/team/daily.csv?sort=name&page=2").text
    assert all(s.public_id in daily for s in (team["hot"], team["cold"], team["theirs"]))
    # Sorting starts again at page 1; a page past the end shows the last one.
    assert "sort=name&amp;dir=desc" in second.text and "dir=desc&amp;page" not in second.text
    past = browser.get("/dashboard/team?sort=name&page=9")
    assert past.status_code == 200 and past.context["page"].number == 2
    bad = browser.get("/dashboard/team?page=zero")
    assert bad.status_code == 422 and "Page must be a whole number." in bad.text


def test_the_going_cold_card_lists_the_longest_silences(team, new_browser, monkeypatch, session):
    monkeypatch.setattr(web_dashboard, "COLD_SHOWN", 1)
    silent = factories.room(session, team["rep"], name="Silent deal")
    session.flush()
    silent.created_at = utcnow() - timedelta(days=60)
    session.flush()
    browser = logged_in(new_browser, team["manager"])
    response = browser.get("/dashboard/team")
    assert [s.room.name for s in response.context["cold"]] == ["Silent deal", "=Cold deal"]
    card = response.text.split('id="cold-deals"')[1].split("</section>")[0]
    assert "Silent deal" in card and "=Cold deal" not in card
    assert "All 2 rooms going cold" in card
    assert "/dashboard/team?health=going_cold&amp;sort=activity" in card
    listed = browser.get("/dashboard/team?health=going_cold&sort=activity").context["rows"]
    assert [s.room.name for s in listed] == ["Silent deal", "=Cold deal"]


def test_csv_downloads_are_utf8_with_bom_and_formula_safe(team, new_browser):
    browser = logged_in(new_browser, team["manager"])
    for name in ("rooms", "daily", "heatmap", "stages", "content"):
        response = browser.get(f"/dashboard/team/{name}.csv?days=7")
        assert response.status_code == 200, name
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.content.startswith("\ufeff".encode())
        assert f"dashboard-{name}-" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(browser.get("/dashboard/team/rooms.csv").text[1:])))
    assert rows[0][:6] == ["room_id", "room", "rep", "stage", "health", "score"]
    assert "'=Cold deal" in [r[1] for r in rows[1:]]


def test_only_admins_change_the_thresholds(team, new_browser, session):
    admin = logged_in(new_browser, team["admin"])
    page = admin.get("/dashboard/settings")
    assert page.template.name == "dashboard/settings.html"
    assert page.context["values"]["at_risk_score"] == "50"
    bad = admin.submit(
        "/dashboard/settings",
        {
            "at_risk_score": "20",
            "cold_score": "40",
            "at_risk_silence_days": "x",
            "cold_silence_days": "3",
        },
    )
    assert bad.status_code == 422
    assert set(bad.context["errors"]) == {"at_risk_silence_days"}
    assert scores.health_settings(session, org_id=team["admin"].org_id).cold_score == 25
    bad = admin.submit(
        "/dashboard/settings",
        {
            "at_risk_score": "20",
            "cold_score": "40",
            "at_risk_silence_days": "7",
            "cold_silence_days": "3",
        },
    )
    assert set(bad.context["errors"]) == {"cold_score", "cold_silence_days"}
    ok = admin.submit(
        "/dashboard/settings",
        {
            "at_risk_score": "70",
            "cold_score": "40",
            "at_risk_silence_days": "1",
            "cold_silence_days": "5",
        },
    )
    assert ok.status_code == 303
    assert "The thresholds were saved." in admin.get(ok.headers["location"]).text
    # Stricter thresholds change what the manager sees.
    manager = logged_in(new_browser, team["manager"])
    rows = manager.get("/dashboard/team").context["rows"]
    assert {s.room.name: s.health for s in rows}["Their deal"] == "at_risk"  # 2 days silent
    assert manager.submit("/dashboard/settings", {"at_risk_score": "1"}).status_code == 403


def test_the_dashboards_speak_japanese(team, new_browser, session):
    team["manager"].locale = "ja"
    session.flush()
    browser = logged_in(new_browser, team["manager"])
    html = browser.get("/dashboard/team").text
    assert "チームダッシュボード" in html
    assert "Team dashboard" not in html


# ---------------------------------------------------------------- API


@pytest.fixture
def document(client):
    return client.get("/api/v1/openapi.json").json()


def api_for(session, client, document, user):
    _token, plain = accounts.create_api_token(session, user=user)
    session.flush()
    return Api(client, document, plain)


def test_api_rooms_for_a_manager_and_a_rep(team, session, client, document):
    manager = api_for(session, client, document, team["manager"])
    rows = manager.get("/analytics/rooms").json()
    assert [r["name"] for r in rows] == ["=Cold deal", "Their deal", "Hot deal"]
    hot = next(r for r in rows if r["name"] == "Hot deal")
    assert hot["owner"] == team["rep"].email and hot["health"] == "on_track"
    assert set(hot["components"]) == set(scores.COMPONENTS) and hot["components"]["plan"] is None
    assert (hot["stakeholders_engaged"], hot["stakeholders_invited"]) == (1, 1)
    assert hot["last_buyer_activity"] is not None and hot["reasons"]
    only_rep = manager.get(f"/analytics/rooms?rep={team['other_rep'].public_id}").json()
    assert [r["name"] for r in only_rep] == ["Their deal"]
    assert manager.get("/analytics/rooms?health=bad").status_code == 422
    rep = api_for(session, client, document, team["rep"])
    assert sorted(r["name"] for r in rep.get("/analytics/rooms").json()) == [
        "=Cold deal",
        "Hot deal",
    ]
    assert {"RoomScoreList"} <= manager.checked


def test_api_content(team, session, client, document):
    manager = api_for(session, client, document, team["manager"])
    [row] = manager.get("/analytics/content").json()
    assert row["document_id"] == team["doc"].public_id
    assert row["closed_won"] == {"opened": 1, "rooms": 1}
    assert row["closed_lost"] == {"opened": 0, "rooms": 0}
    assert (row["rooms"], row["viewers"]) == (3, 3)
    rep = api_for(session, client, document, team["other_rep"])
    [own] = rep.get("/analytics/content").json()
    assert own["rooms"] == 1
    anonymous = Api(client, document)
    assert anonymous.get("/analytics/content").status_code == 401
    assert {"ContentEffectivenessList"} <= manager.checked
