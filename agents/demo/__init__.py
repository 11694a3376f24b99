"""The coding demo: a small Python package whose test fails, made into a git repository
under var/ by `manage.py coding_demo` (which `make run` runs)."""
