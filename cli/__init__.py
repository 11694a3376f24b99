"""The `crewboard` command: a thin REST client of a local or remote Crewboard.

It imports nothing of the server (no Django, no app): everything goes over the API."""
