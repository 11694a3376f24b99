"""A review's diff: pages of files (pages), syntax colours (highlight), the lines as HTML
(rows) and where review comments sit (comments). Templates: templates/core/_diff.html."""
