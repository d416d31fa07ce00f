"""`python -m tools.runs watch|list|show`: follow and inspect runs through poll_status (README: Run events)."""
