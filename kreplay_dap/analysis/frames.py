"""The analysis' frame kinds between it and its reading process (``recorder.frames``).

Pages of rows travel as ``marshal`` data: it is written and read in C and keeps one copy
of each string the reading process shares between rows (verbs, actors, kinds, keys).
"""

from __future__ import annotations

import struct

# worker -> analysis (and recorder.frames.FAILED)
PAGE = 1
END = 2
RESULT = 3
# analysis -> worker
ACK = 10
STOP = 11
COUNT = struct.Struct(">Q")
