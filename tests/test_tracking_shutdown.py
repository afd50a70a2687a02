"""Nothing acknowledged is lost: beats answered 204 just before SIGTERM are in the database after
the server stops (the ingest buffer is written on shutdown, not only by its timer)."""

from __future__ import annotations

import json
import re
import signal

import httpx
from sqlalchemy import create_engine, text

from e2e.server import running_server

HUMAN = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"


def test_beats_accepted_before_sigterm_are_written_on_shutdown():
    # The timer would write only after a minute: whatever lands comes from the shutdown flush.
    with running_server(extra_env={"DEALROOM_TRACK_FLUSH_MS": "60000"}) as server:
        with httpx.Client(base_url=server.base_url, headers={"User-Agent": HUMAN}) as buyer:
            link = server.buyer_link.removeprefix(server.base_url)
            welcome = buyer.get(link)
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', welcome.text).group(1)
            entered = buyer.post(link, data={"csrf_token": csrf}, follow_redirects=True)
            assert entered.status_code == 200
            token = re.search(r'data-token="([^"]+)"', entered.text).group(1)
            room = re.search(r"/r/(room_[A-Za-z0-9_-]+)", str(entered.url)).group(1)
            for seq in (1, 2, 3):
                body = {"t": token, "seq": seq, "i": 1, "f": True, "ev": [{"k": "room", "s": 1}]}
                answer = buyer.post(f"/r/{room}/t", content=json.dumps(body))
                assert answer.status_code == 204
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=30) == 0
        engine = create_engine(f"sqlite:///{server.workdir / 'e2e.db'}")
        with engine.connect() as connection:
            kinds = connection.execute(text("SELECT kind FROM track_event")).scalars().all()
        engine.dispose()
        assert kinds.count("room") == 3
