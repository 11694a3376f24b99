"""External agents' API keys and coding CLIs' run keys: how they look and how they are
hashed.

A key is a high-entropy random token, so one SHA-256 is the right hash: there is nothing
for a slow, salted password hash to protect against, and every request pays for it.
"""

import hashlib
import secrets

KEY_PREFIX = "cbk_"
# A run key works for one coding CLI's run only (agents.services.runs.keys).
RUN_KEY_PREFIX = "cbr_"
# Shown after the key prefix, so people can tell keys apart without seeing them.
DISPLAYED_KEY_CHARS = 12


def agent_key_new() -> str:
    """A new random key."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def agent_key_hash(key: str) -> str:
    """What is stored of a key, and looked up by."""
    return hashlib.sha256(key.encode()).hexdigest()


def run_key_new() -> str:
    """A new random run key."""
    return RUN_KEY_PREFIX + secrets.token_urlsafe(32)
