"""Two real app processes share one database: exactly one runs the scheduled jobs; when it is
killed (SIGKILL: no clean hand-over), the other takes over within the lease, continues the same
persistent schedule, and no scheduled slot runs twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dealroom.migrate import upgrade
from dealroom.settings import PROJECT_ROOT
from e2e.server import _wait_until_up, app_env
from tests.harness.ports import free_port

LEASE = 2.0
RENEW = 0.5
INTERVAL = 0.5


def _beats(path: Path) -> list[tuple[int, float, float]]:
    """(pid, scheduled slot, ran at) of every heartbeat run so far."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        pid, slot, ran = line.split()
        rows.append((int(pid), float(slot), float(ran)))
    return rows


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_killing_the_leader_hands_the_schedule_to_the_other_process(tmp_path):
    heartbeat = tmp_path / "heartbeat.txt"
    ports = [free_port(), free_port()]
    env = {
        **app_env(tmp_path, ports[0], None),
        "DEALROOM_SCHEDULER_LEASE_SECONDS": str(LEASE),
        "DEALROOM_SCHEDULER_RENEW_SECONDS": str(RENEW),
        "DEALROOM_TRACK_WRITER_PROCESS": "false",
        "HEARTBEAT_FILE": str(heartbeat),
    }
    upgrade(env["DEALROOM_DATABASE_URL"])  # in this process: no second interpreter to start
    processes: dict[int, subprocess.Popen[bytes]] = {}
    logs = []
    try:
        for port in ports:
            log = tmp_path / f"server-{port}.log"
            logs.append(log)
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [sys.executable, "-m", "tests.harness.heartbeat_server", "serve"]
                    + ["--host", "127.0.0.1", "--port", str(port)],
                    cwd=PROJECT_ROOT,
                    env={**env, "DEALROOM_BASE_URL": f"http://127.0.0.1:{port}"},
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            processes[process.pid] = process
        for port, log, process in zip(ports, logs, processes.values(), strict=True):
            _wait_until_up(f"http://127.0.0.1:{port}", process, log)

        # One leader beats; the other process only competes for the lease.
        _wait_for(lambda: len(_beats(heartbeat)) >= 3, 10, "the leader's first heartbeats")
        leader_pid = _beats(heartbeat)[0][0]
        assert {pid for pid, _slot, _ran in _beats(heartbeat)} == {leader_pid}
        (follower_pid,) = set(processes) - {leader_pid}

        os.kill(leader_pid, signal.SIGKILL)
        processes[leader_pid].wait(timeout=10)
        killed_at = time.time()

        _wait_for(
            lambda: sum(pid == follower_pid for pid, *_ in _beats(heartbeat)) >= 2,
            LEASE + 8,
            "the other process to take over",
        )
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    beats = _beats(heartbeat)
    before = [b for b in beats if b[0] == leader_pid]
    after = [b for b in beats if b[0] == follower_pid]
    # The two never ran the schedule at the same time: first one process, then the other.
    assert beats == before + after
    assert all(ran <= killed_at for _pid, _slot, ran in before)
    # No slot ran twice, and the follower continued the stored schedule (later slots only).
    slots = [slot for _pid, slot, _ran in beats]
    assert len(set(slots)) == len(slots), f"a slot ran twice: {beats}"
    assert slots == sorted(slots)
    # It took over within the lease (plus one renewal round and some slack for a busy machine),
    # and made up for the slots missed meanwhile with one run of the latest, not one per slot.
    gap = after[0][2] - before[-1][2]
    assert gap <= LEASE + RENEW + 1.5, f"the schedule stopped for {gap:.2f}s"
    assert after[0][1] > before[-1][1] + INTERVAL  # slots in between were not replayed
    assert after[0][2] - after[0][1] < INTERVAL + 0.5, "the first run was an old slot"
    # The survivor stopped cleanly (SIGTERM) and handed its lease over.
    survivor = logs[list(processes).index(follower_pid)].read_text()
    assert "scheduler lease released" in survivor
