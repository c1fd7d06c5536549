"""One of several processes replaying a shared journal into one database, for tests.

``python -m tests.integration.alerts.replayer DATABASE_URL SPOOL_DIR GO_FILE``: waits for
``GO_FILE`` (so that every process starts together), replays until the journal is empty,
and prints how many entries it moved.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ykmake.monitoring.alerts.database import make_engine
from ykmake.monitoring.alerts.service import AlertService
from ykmake.monitoring.alerts.spool import AlertSpool
from ykmake.monitoring.alerts.store import AlertStore
from ykmake.monitoring.logs.pipeline import LoggingConfig, LoggingRuntime


def main(database_url: str, spool_dir: str, go_file: str) -> int:
    engine = make_engine(database_url)
    runtime = LoggingRuntime(LoggingConfig(env="test", log_dir=Path(spool_dir).parent / "logs"))
    runtime.writer.start()
    spool = AlertSpool(Path(spool_dir))
    service = AlertService(
        AlertStore(engine),
        spool,
        None,
        service="replayer",
        environment="test",
        log=runtime.get_logger("replayer"),
    )
    deadline = time.monotonic() + 60
    while not Path(go_file).exists():
        if time.monotonic() > deadline:
            return 2
        time.sleep(0.005)
    replayed = 0
    while len(spool) and time.monotonic() < deadline:
        moved = service.replay_spool()  # what another process holds is skipped, not waited for
        replayed += moved
        if not moved:
            time.sleep(0.01)  # the rest is another process's: poll until it is done
    service.close()
    runtime.close()
    engine.dispose()
    print(replayed)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
