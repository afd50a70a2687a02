"""The manager dashboard in a real browser against a real server: rooms created through the app,
buyer activity seeded into the server's database as the tracking rollups, then the charts
render (Chart.js on its canvases, sparklines, the heatmap table) without a console or CSP error,
the filters narrow the rooms through htmx (and redraw the charts), and the rep dashboard shows
each room's health."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from dealroom import rooms, tracking
from dealroom.db import Database, utcnow
from dealroom.invites import Invite
from dealroom.tracking import ViewerStat

from .browser import NewContext
from .server import Server
from .test_content import watch_console
from .test_journey import create_room, invite, log_in_as_seller

pytestmark = pytest.mark.e2e


def seed(server: Server, hot: str, won: str) -> None:
    """What tracking would have recorded: the hot deal's buyer read for 40 minutes over the last
    days; the other deal is closed-won."""
    db = Database.from_url(f"sqlite:///{server.workdir / 'e2e.db'}")
    try:
        with db.session() as session:
            room = session.exec(select(rooms.Room).where(rooms.Room.name == hot)).one()
            buyer = session.exec(select(Invite).where(Invite.room_id == room.id)).one()
            now = utcnow()
            session.add(
                ViewerStat(
                    org_id=room.org_id,
                    room_id=room.id,
                    invite_id=buyer.id,
                    active_seconds=2400,
                    visits=3,
                    messages=2,
                    first_seen=now - timedelta(days=3),
                    last_seen=now - timedelta(minutes=10),
                )
            )
            for days in (0, 1, 3):
                tracking.add_room_activity(
                    session,
                    org_id=room.org_id,
                    room_id=room.id,
                    at=now - timedelta(days=days),
                    seconds=800,
                    events=20,
                )
            closed = session.exec(select(rooms.Room).where(rooms.Room.name == won)).one()
            closed.stage = "closed-won"
            session.add(closed)
    finally:
        db.dispose()


STAGES_CANVAS = "canvas[data-chart-kind='stages']"
CHART_DRAWN = (
    f'() => !!(window.Chart && window.Chart.getChart(document.querySelector("{STAGES_CANVAS}")))'
)


def test_manager_dashboard_charts_render_and_filters_work(
    new_context: NewContext, server: Server
) -> None:
    seller = log_in_as_seller(new_context)
    tag = uuid.uuid4().hex[:6]
    hot, won = f"Dash hot {tag}", f"Dash won {tag}"
    create_room(seller, hot)
    invite(seller, f"kato.{tag}@globex.example", name="Kato")
    create_room(seller, won)
    seed(server, hot, won)
    problems = watch_console(seller)

    # The navigation reaches the team dashboard.
    seller.goto("/rooms")
    seller.get_by_role("navigation", name="Main").get_by_role("link", name="Team dashboard").click()
    expect(seller).to_have_url(re.compile(r"/dashboard/team$"))
    expect(seller.get_by_role("heading", level=1, name="Team dashboard")).to_be_visible()
    table = seller.locator("#team-rooms")
    hot_row = table.locator("tr", has_text=hot)
    expect(hot_row).to_be_visible()
    expect(hot_row.locator(".health")).to_have_text("On track")
    expect(table.locator("tr", has_text=won)).to_be_visible()
    # Charts: Chart.js on the stage chart, a drawn sparkline per room, the heatmap's cells.
    expect(seller.locator(STAGES_CANVAS)).to_be_visible()
    seller.wait_for_function(CHART_DRAWN)
    spark_drawn = hot_row.locator("canvas.spark").evaluate(
        "(c) => c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some((v) => v)"
    )
    assert spark_drawn
    expect(seller.locator("#heatmap td.heat-4").first).to_be_attached()
    # Each chart also has its table.
    seller.locator("details", has_text="Show as a table").first.locator("summary").click()
    expect(seller.get_by_role("cell", name="Closed – won").first).to_be_visible()

    # Filter by stage: htmx swaps the rooms in place, the address follows, charts are redrawn.
    seller.get_by_label("Stage", exact=True).select_option("closed-won")
    expect(table.locator("tr", has_text=hot)).to_have_count(0)
    expect(seller.locator("#team-rooms tr", has_text=won)).to_be_visible()
    expect(seller).to_have_url(re.compile(r"stage=closed-won"))
    seller.wait_for_function(CHART_DRAWN)
    # Sort by score through the column header, keeping the filter.
    seller.get_by_role("link", name="Score", exact=True).click()
    expect(seller).to_have_url(
        re.compile(r"stage=closed-won.*sort=score|sort=score.*stage=closed-won")
    )
    # The date range filter: 7 days.
    seller.get_by_label("Stage", exact=True).select_option("")
    seller.get_by_label("Date range", exact=True).select_option("7")
    expect(seller).to_have_url(re.compile(r"days=7"))
    expect(seller.locator("#team-rooms tr", has_text=hot)).to_be_visible()

    # The rep dashboard: my rooms with their health and reasons.
    seller.goto("/dashboard")
    mine = seller.locator("#my-rooms .attention-room", has_text=hot)
    expect(mine.locator(".health")).to_have_text("On track")
    expect(mine.locator(".reasons")).to_contain_text("1 of 1 stakeholders active this week")
    assert not problems, problems
