"""Where agents work on real code: git worktrees, the commands run in them, and the
coding CLIs (executors) that drive them. Plain helpers below the services: no model
writes happen here."""
