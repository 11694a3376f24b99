"""The file-system broker (no Redis), written so that a worker never reads half a message.

kombu's filesystem transport creates a message's file under its final name and only then
writes into it. A worker polling the folder (every 0.25 s here) can take the file in
between, read no bytes, fail to parse them and stop, and `make run` stops with it. Here a
message is written under a name no queue matches and renamed into place once whole: a
rename within one folder is atomic, so a worker sees the whole message or none of it.

config/settings.py names this transport (CELERY_BROKER_TRANSPORT) for a filesystem:// URL.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

# A worker takes files named "<stamp>_<id>.<queue>.msg"; one still being written ends in
# this, so no queue's name matches it.
PARTIAL_SUFFIX = ".part"


class Channel(filesystem.Channel):
    # The signature of kombu's filesystem channel, which its stubs mark as this override.
    def _put(self, queue: str, payload: dict[str, Any], **kwargs: Any) -> None:  # type: ignore[override]
        """Put `payload` on `queue`: written aside, then renamed into the queue's folder."""
        data = str_to_bytes(dumps(payload))
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = final + PARTIAL_SUFFIX
        try:
            with open(partial, "wb") as f:
                f.write(data)
            os.replace(partial, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(partial)
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
