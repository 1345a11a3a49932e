"""One report, rendered as report.md and report.html (with its figures)."""
