"""`python -m tests.harness.heartbeat_server serve --host H --port P`: the real app server with
one more scheduled job, "heartbeat", every 0.5 s, for the scheduler failover test.

Each run that really executed (past the lease check) appends `pid scheduled_at ran_at` (UNIX
seconds) to the file named by HEARTBEAT_FILE. The scheduled time is APScheduler's own slot (from
its "executed" event), so two runs of one slot, in one process or two, show as one slot twice.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler

from dealroom import jobs, scheduler
from dealroom.__main__ import main

HEARTBEAT = Path(os.environ["HEARTBEAT_FILE"])
RAN = "beat"


def beat() -> str:
    return RAN


def record(event: JobExecutionEvent) -> None:
    if event.job_id == "heartbeat" and event.retval == RAN:
        line = f"{os.getpid()} {event.scheduled_run_time.timestamp():.6f} {time.time():.6f}\n"
        with HEARTBEAT.open("a", encoding="utf-8") as out:
            out.write(line)


class RecordingScheduler(BackgroundScheduler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_listener(record, EVENT_JOB_EXECUTED)


scheduler.BackgroundScheduler = RecordingScheduler  # type: ignore[misc]
jobs.EXTRA.append(lambda j: j.add_job(beat, "interval", seconds=0.5, id="heartbeat"))

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
