"""The file-system broker: a worker sees a message whole or not at all."""

import os
from pathlib import Path

import pytest
from kombu import Connection
from kombu.transport.filesystem import Channel as KombuChannel

from core.broker import PARTIAL_SUFFIX, Transport


class Seen:
    """A payload part that, when the sender serialises it, records which message files
    a worker polling the queue's folder could take at that moment."""

    def __init__(self, folder: Path, queue: str) -> None:
        self.folder, self.queue, self.takeable = folder, queue, None

    def __json__(self) -> str:
        self.takeable = [n for n in os.listdir(self.folder) if n.endswith(f".{self.queue}.msg")]
        return "seen"


@pytest.fixture
def channel(tmp_path):
    folder = tmp_path / "queue"
    folder.mkdir()
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder)}
    with Connection("filesystem://", transport=Transport, transport_options=options) as conn:
        yield conn.default_channel, folder


def test_a_message_is_read_back_whole(channel):
    chan, folder = channel
    chan._put("celery", {"task": "merge", "args": [7]})

    assert chan._get("celery") == {"task": "merge", "args": [7]}
    assert os.listdir(folder) == []


def test_no_worker_can_take_a_message_before_it_is_written(channel):
    chan, folder = channel
    seen = Seen(folder, "celery")

    chan._put("celery", {"body": seen})

    # kombu's own channel has the file under its final name, still empty, by then.
    assert seen.takeable == []
    [name] = os.listdir(folder)
    assert not name.endswith(PARTIAL_SUFFIX)
    assert chan._get("celery") == {"body": "seen"}


def test_kombus_own_channel_shows_the_file_early(channel):
    # What the test above guards against, shown on kombu's channel: if kombu ever writes
    # its files aside too, this fails and core.broker can go.
    chan, folder = channel
    seen = Seen(folder, "celery")

    KombuChannel._put(chan, "celery", {"body": seen})

    assert len(seen.takeable) == 1
