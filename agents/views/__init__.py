"""HTML pages for a project's agents, one module per topic."""
