"""Stand-ins for services outside the machine, run for real on loopback."""

from tests.fakes.openai_server import FakeOpenAIServer

__all__ = ["FakeOpenAIServer"]
