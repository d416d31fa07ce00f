"""pass1_batch_processor: stream Vertex AI batch prediction output into BigQuery exactly once.

Modules, one concern each:
    config       the request, validated at the door (ProcessorConfig; its overrides: parse_overrides)
    settings     the processor's settings from the environment, read once (ProcessorSettings)
    discovery    prediction*.jsonl files under the output directories
    reader       ranged, resumable line reads from Cloud Storage (byte offsets)
    repair       model text -> JSON object (strict first, bounded json_repair on failure)
    quickfix     linear-time fixes of the usual slips (single quotes, answers cut short)
    extract      one output line -> Record or DeadLetter
    keyindex     row id -> composite key from the shard's key index, for lines without a key
    bq           parameterised BigQuery reads (lookup, dedupe, reconcile)
    lookup       per-chunk lookup query (phone token, interaction id)
    schema       output table schema, read once, and value converters
    rows         BigQuery rows for records (serialized as each line is extracted) and dead letters
    dedupe       composite keys already written for the run
    reconcile    before COMPLETED: keys two racing calls both wrote, kept once
    writer       load jobs (default) or streaming inserts
    checkpoint   per-file checkpoints, leases and write-ahead intents in Firestore
    memory       RSS watch: shrink chunks and collect garbage above the threshold
    retry_requests  keys of failed model requests set aside for submit_batch retry_failed
    scope        the run (or ad hoc scope) a call works on and its state
    chunk        one chunk: enrich, dedupe, write; its counts
    filework     one file, chunk after chunk: extract, write-ahead intent, chunk, commit
    counts       the counters a call answers with and a checkpoint keeps
    service      the HTTP answer: orchestrates the above within the time budget
"""
