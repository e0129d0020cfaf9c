"""Reports people read: a self-contained HTML page, Markdown and CSV, for one run or a comparison of runs."""
