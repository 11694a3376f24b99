"""HTML pages for projects and their plans, one module per topic."""
