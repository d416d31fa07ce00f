"""poll_status: where a run stands, from Vertex AI and Firestore; moves its state on, sweeps active
runs, cancels. Entry: service.poll_request (called by main.py)."""
