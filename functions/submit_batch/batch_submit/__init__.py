"""submit_batch: prepares a run's model requests and creates its Vertex AI batch prediction jobs, once
per (run_id, batch_type). Entry: service.submit_request (called by main.py)."""
