"""A separate writer process: ``python -m tests.storage.write_worker DB SESSION BATCHES``."""

from __future__ import annotations

import sys

from recorder.storage import Operation, RecordingWriter, SessionInfo
from tests.conftest import deployment

BATCH = 50


def main(argv: list[str]) -> int:
    path, session, batches = argv[0], argv[1], int(argv[2])
    with RecordingWriter(path) as writer:
        writer.begin_session(SessionInfo(session, operator=f"pid-{session}"))
        for batch in range(batches):
            writer.append(
                [
                    Operation(
                        session,
                        0,
                        batch * BATCH + i,
                        "update",
                        kind="Deployment",
                        namespace="shared",
                        name=f"web-{i % 5}",
                        actor=session,
                        response_body=deployment(f"web-{i % 5}", i % 10, 3, "shared"),
                    )
                    for i in range(BATCH)
                ]
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
