"""`python -m tools.runs watch|list|show`: follow and inspect runs through poll_status (docs/run-events.md)."""
