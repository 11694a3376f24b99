"""How long a test waits on another process (or thread, or connection) before it calls
the wait a hang.

A bound on a hang, never a speed check: nothing asserts on elapsed time, and a wait that
ends well ends as soon as its condition holds. So the bound is generous, far longer than
any wait on a machine under load, and set here only: TEST_HANG_S overrides it (seconds),
as `make test-under-load` does.
"""

import os

HANG_S = float(os.environ.get("TEST_HANG_S", "600"))
