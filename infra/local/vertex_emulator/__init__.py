"""Local emulator of Vertex AI batch prediction for Gemini models.

It answers Vertex AI's REST calls for batch prediction jobs (create, get, list, cancel), as
`shared.vertex_rest` and `google.cloud.aiplatform_v1.JobServiceClient(transport="rest")` make them,
reads the job's JSONL input from the Cloud Storage emulator, answers every request with a
deterministic local "model" and writes the output files in the layout and line format of the real
service, with seeded, configurable faults.

Run it with `python -m infra.local.vertex_emulator --help`; drive it from tests with
`infra.local.vertex_emulator.control.EmulatorControl`. Nothing heavy is imported here, so importing the
control client stays cheap.
"""
