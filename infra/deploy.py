"""Deploy the whole pipeline to a Google Cloud project, idempotently.

    python -m infra.deploy --project P --region R [--dataset D] [--dry-run]
    make deploy PROJECT=P REGION=R [DRY_RUN=1]

Order: APIs, the project number, the Vertex AI service agent, service accounts, buckets, Firestore and
its composite indexes (infra/firestore/indexes.json), BigQuery dataset and tables, the run-events
Pub/Sub topic, IAM (least
privilege: one service account per function, one for Workflows, one for Scheduler, one that builds the
functions, each with only the roles it needs, on the narrowest resource), vendored builds, functions
(private, built by that build account), the workflow, the Scheduler jobs. Every "create" is guarded by
a "describe" (or is idempotent by nature) so that a second run changes nothing; `--dry-run` prints
every command as a shell line without running anything.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from infra.firestore import indexes as firestore_indexes
from shared.config import RUN_EVENTS_TOPIC, Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = REPO_ROOT / "infra" / "schemas"
WORKFLOW_FILE = REPO_ROOT / "infra" / "workflows" / "pass1.yaml"
SCHEDULER_FILE = REPO_ROOT / "infra" / "scheduler" / "jobs.json"

APIS = ("cloudfunctions.googleapis.com", "run.googleapis.com", "cloudbuild.googleapis.com",
        "artifactregistry.googleapis.com", "aiplatform.googleapis.com", "bigquery.googleapis.com",
        "firestore.googleapis.com", "storage.googleapis.com", "workflows.googleapis.com",
        "workflowexecutions.googleapis.com", "cloudscheduler.googleapis.com", "iam.googleapis.com",
        "logging.googleapis.com", "pubsub.googleapis.com")


@dataclass(frozen=True)
class FunctionSpec:
    """How one function is deployed. Memory and timeout follow its work: the processor streams big
    files (memory-aware, but json_repair and chunks need headroom) under a 480 s time budget."""

    name: str
    service_name: str
    memory: str
    timeout_s: int
    sa: str
    env: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    """What a deploy is asked for. The names it creates (buckets, tables, collection) are the
    Settings defaults (shared/config.py), which is also what the functions are given."""

    project: str
    region: str
    dataset: str = Settings.dataset
    bq_location: str = Settings.bq_location
    model: str = "gemini-2.5-flash"
    # Failover to a lighter model in the same region by default: the buckets, the service
    # agent's grants and data residency stay as they are. Set a region here to fail over across regions.
    fallback_model: str = "gemini-2.5-flash-lite"
    fallback_region: str = ""
    # Run notifications (shared/notify.py): completed, failed, cancelled, dead-letter rate, stalled.
    events_topic: str = RUN_EVENTS_TOPIC

    @property
    def settings(self) -> Settings:
        """The settings the deployed functions read (their environment, Settings.to_env)."""
        return Settings.for_project(self.project, location=self.region, dataset=self.dataset,
                                    bq_location=self.bq_location)

    @property
    def input_bucket(self) -> str:
        return self.settings.input_bucket

    @property
    def output_bucket(self) -> str:
        return self.settings.output_bucket

    def sa_email(self, short: str) -> str:
        return f"{short}@{self.project}.iam.gserviceaccount.com"


SERVICE_ACCOUNTS = {
    "sa-submit-batch": "submit_batch: writes model requests, creates Vertex AI batch jobs",
    "sa-poll-status": "poll_status: reads and cancels Vertex AI batch jobs",
    "sa-pass1-processor": "pass1_batch_processor: reads predictions, writes BigQuery rows",
    "sa-pass1-workflow": "Cloud Workflows: invokes the three functions",
    "sa-pass1-scheduler": "Cloud Scheduler: starts workflow executions and the poll sweep",
    "sa-function-build": "Cloud Build: builds the images of the three functions from their sources",
}
# Builds run as this account (--build-service-account): since mid-2024 a new project's default build
# account may lack the permissions a function build needs, and the deploy then fails at the build.
BUILD_SA = "sa-function-build"
# The roles the Cloud Run functions documentation lists for a custom build service account: write the
# build's logs, push the image to Artifact Registry (gcf-artifacts), read the uploaded source.
BUILD_ROLES = ("roles/logging.logWriter", "roles/artifactregistry.writer", "roles/storage.objectViewer")
# Google-managed service agents the deploy grants roles to. They are created lazily, on first use of
# their API: on a fresh project a grant to one fails with "does not exist" until it is generated.
SERVICE_AGENTS = {"aiplatform.googleapis.com": "gcp-sa-aiplatform"}


@dataclass(frozen=True)
class Step:
    """One command; `unless` is a command whose success means the step is already done."""

    what: str
    cmd: list[str]
    unless: list[str] | None = None
    raw: str | None = None  # a step that is shell text (an assignment, a create-or-update group)
    # Run through retry_iam (see SCRIPT_PRELUDE): a principal created moments ago may not be grantable yet.
    retry: bool = False

    def shell(self) -> str:
        if self.raw is not None:
            return self.raw
        line = ("retry_iam " if self.retry else "") + _dq(self.cmd)
        if self.unless:
            return f"{_dq(self.unless)} >/dev/null 2>&1 || {line}"
        return line


# IAM is eventually consistent: a service account or service agent created seconds ago can be refused
# as "does not exist" by a grant. Bindings are additive, so trying again is safe; a minute at most.
IAM_RETRIES, IAM_RETRY_SECONDS = 6, 10
SCRIPT_PRELUDE = (
    "set -euo pipefail",
    f"retry_iam() {{ local n; for n in $(seq {IAM_RETRIES}); do \"$@\" && return 0; "
    f"echo \"IAM not ready, again in {IAM_RETRY_SECONDS}s\" >&2; sleep {IAM_RETRY_SECONDS}; done; \"$@\"; }}",
)


# glibc gives each thread that allocates its own arena and keeps freed pages there: with the chunk
# I/O threads the processor's RSS kept growing with file size (188 MiB over its base for 1 GB in
# `make bench`); two arenas hold it flat (69 MiB for 100 MB and for 1 GB) at no measurable speed cost.
PROCESSOR_MALLOC_ENV = {"MALLOC_ARENA_MAX": "2"}
POLL_TIMEOUT_SECONDS = 900
# Who publishes run notifications to the topic (shared/notify.py).
PUBLISHERS = ("sa-poll-status", "sa-pass1-processor")


def functions(cfg: Config) -> list[FunctionSpec]:
    # BQ_LOCATION: every BigQuery job is created and fetched in the dataset's location; a job in a
    # single-region dataset is "not found" when fetched without it (after a 409, or a poll).
    common = cfg.settings.to_env()
    # The functions that move runs to a final state or find alerts publish (roles/pubsub.publisher on
    # the topic); submit_batch makes no notification.
    publishes = {"RUN_EVENTS_TOPIC": cfg.events_topic}
    return [
        FunctionSpec("submit_batch", "submit-batch", "1Gi", 540, "sa-submit-batch",
                     {**common, "VERTEX_MODEL": cfg.model, "VERTEX_FALLBACK_MODEL": cfg.fallback_model,
                      "VERTEX_FALLBACK_LOCATION": cfg.fallback_region or cfg.region}),
        # 900 s: an SSE stream (follow=true) stays open up to STREAM_MAX_SECONDS (840) and then asks the
        # client to reconnect; a status call or a sweep still ends in seconds.
        FunctionSpec("poll_status", "poll-status", "512Mi", POLL_TIMEOUT_SECONDS, "sa-poll-status",
                     {**common, **publishes}),
        FunctionSpec("pass1_batch_processor", "pass1-batch-processor", "2Gi", 600, "sa-pass1-processor",
                     {**common, **publishes, "PROCESSOR_TIME_BUDGET_SECONDS": "480", **PROCESSOR_MALLOC_ENV}),
    ]


def gcloud(cfg: Config, *args: str) -> list[str]:
    return ["gcloud", *args, f"--project={cfg.project}", "--quiet"]


def enable_apis(cfg: Config) -> list[Step]:
    return [Step("enable APIs", gcloud(cfg, "services", "enable", *APIS))]


def project_number(cfg: Config) -> list[Step]:
    """PROJECT_NUMBER, which names the service agents."""
    number = gcloud(cfg, "projects", "describe", cfg.project, "--format=value(projectNumber)")
    return [Step("project number", number, raw=f"PROJECT_NUMBER=$({shlex.join(number)})")]


def service_agent(service: str) -> str:
    return f"service-${{PROJECT_NUMBER}}@{SERVICE_AGENTS[service]}.iam.gserviceaccount.com"


def service_identities(cfg: Config) -> list[Step]:
    """Generate the service agents before anything is granted to them. Idempotent by nature:
    generateServiceIdentity answers the existing agent when there is one."""
    return [Step(f"service agent of {service}", gcloud(cfg, "beta", "services", "identity", "create",
                                                       f"--service={service}"))
            for service in SERVICE_AGENTS]


def service_accounts(cfg: Config) -> list[Step]:
    return [Step(f"service account {name}",
                 gcloud(cfg, "iam", "service-accounts", "create", name, f"--display-name={desc[:100]}"),
                 unless=gcloud(cfg, "iam", "service-accounts", "describe", cfg.sa_email(name)))
            for name, desc in SERVICE_ACCOUNTS.items()]


def storage(cfg: Config) -> list[Step]:
    return [Step(f"bucket {b}",
                 gcloud(cfg, "storage", "buckets", "create", f"gs://{b}", f"--location={cfg.region}",
                        "--uniform-bucket-level-access"),
                 unless=gcloud(cfg, "storage", "buckets", "describe", f"gs://{b}"))
            for b in (cfg.input_bucket, cfg.output_bucket)]


def firestore(cfg: Config) -> list[Step]:
    return [Step("Firestore (default) database",
                 gcloud(cfg, "firestore", "databases", "create", f"--location={cfg.region}"),
                 unless=gcloud(cfg, "firestore", "databases", "describe", "--database=(default)"))]


def firestore_indexes_steps(cfg: Config, path: Path = firestore_indexes.INDEX_FILE) -> list[Step]:
    """Every composite index of the index file. Firestore never creates one by itself, and a query
    that needs a missing one fails (the Scheduler sweep: state in [...] ordered by updated_at). The
    create waits until the index is built, so the functions deployed next find it ready."""
    steps = []
    for index in firestore_indexes.load(path):
        steps.append(Step(
            f"Firestore index {index.collection_group} ({index.field_specs()})",
            gcloud(cfg, "firestore", "indexes", "composite", "create", "--database=(default)",
                   f"--collection-group={index.collection_group}", f"--query-scope={index.gcloud_query_scope()}",
                   *index.gcloud_field_configs()),
            unless=["python3", "-m", "infra.firestore.indexes", "exists", f"--project={cfg.project}",
                    "--database=(default)", f"--collection-group={index.collection_group}",
                    f"--query-scope={index.query_scope}", f"--fields={index.field_specs()}"]))
    return steps


# submit_batch's plan tables (functions/submit_batch/batch_submit/plan.py) live in <dataset>_scratch,
# in the same location, and expire after this long (as infra/local/provision.py creates it).
SCRATCH_TABLE_EXPIRATION_SECONDS = 3 * 24 * 3600


def table_options_flags(schema: str) -> list[str]:
    """bq mk flags from infra/schemas/<schema>.options.json (partitioning, clustering), if any."""
    path = SCHEMAS / f"{schema}.options.json"
    if not path.exists():
        return []
    options = json.loads(path.read_text())
    flags = []
    if "time_partitioning" in options:
        part = options["time_partitioning"]
        flags += [f"--time_partitioning_field={part['field']}", f"--time_partitioning_type={part.get('type', 'DAY')}"]
    if options.get("clustering_fields"):
        flags.append("--clustering_fields=" + ",".join(options["clustering_fields"]))
    return flags


def bigquery(cfg: Config) -> list[Step]:
    ds = f"{cfg.project}:{cfg.dataset}"
    scratch = f"{ds}_scratch"
    steps = [Step(f"dataset {cfg.dataset}",
                  ["bq", f"--project_id={cfg.project}", "mk", "--dataset", f"--location={cfg.bq_location}", ds],
                  unless=["bq", f"--project_id={cfg.project}", "show", "--dataset", ds]),
             Step(f"dataset {cfg.dataset}_scratch",
                  ["bq", f"--project_id={cfg.project}", "mk", "--dataset", f"--location={cfg.bq_location}",
                   f"--default_table_expiration={SCRATCH_TABLE_EXPIRATION_SECONDS}", scratch],
                  unless=["bq", f"--project_id={cfg.project}", "show", "--dataset", scratch])]
    names = cfg.settings
    # table -> its schema file (infra/schemas/<schema>.json)
    tables = {names.transcripts_table: "transcripts", names.lookup_table: "interaction_lookup",
              names.output_table: "pass1_analysis", names.dead_letter_table: "pass1_dead_letter"}
    for table, schema in tables.items():
        extra = []
        if schema in ("pass1_analysis", "pass1_dead_letter"):
            # Daily partitions keep reruns' dedupe queries cheap; clustering on run_id and key makes the
            # processor's "already written?" lookup read a sliver of the table.
            extra = ["--time_partitioning_field=processed_at", "--time_partitioning_type=DAY",
                     "--clustering_fields=run_id,composite_key"]
        else:
            # transcripts: partitioned by call_date; interaction_lookup: by started_at (both files).
            extra = table_options_flags(schema)
        steps.append(Step(f"table {table}",
                          ["bq", f"--project_id={cfg.project}", "mk", "--table", *extra,
                           f"{ds}.{table}", str((SCHEMAS / f"{schema}.json").relative_to(REPO_ROOT))],
                          unless=["bq", f"--project_id={cfg.project}", "show", f"{ds}.{table}"]))
    return steps


def pubsub(cfg: Config) -> list[Step]:
    """The run-events topic. Subscribers (email, chat) are the user's: docs/run-events.md."""
    return [Step(f"Pub/Sub topic {cfg.events_topic}",
                 gcloud(cfg, "pubsub", "topics", "create", cfg.events_topic),
                 unless=gcloud(cfg, "pubsub", "topics", "describe", cfg.events_topic))]


def iam(cfg: Config) -> list[Step]:
    """Least privilege: project roles only where no narrower resource exists."""
    def sa(name: str) -> str:
        return f"serviceAccount:{cfg.sa_email(name)}"

    vertex_agent = f"serviceAccount:{service_agent('aiplatform.googleapis.com')}"
    project_roles = [
        ("sa-submit-batch", "roles/aiplatform.user"),      # create batch prediction jobs
        ("sa-submit-batch", "roles/datastore.user"),       # job records
        ("sa-submit-batch", "roles/bigquery.jobUser"),     # run the transcripts query
        ("sa-poll-status", "roles/aiplatform.user"),       # get and cancel jobs (viewer cannot cancel)
        ("sa-poll-status", "roles/datastore.user"),
        ("sa-pass1-processor", "roles/datastore.user"),    # job records, checkpoints, leases
        ("sa-pass1-processor", "roles/bigquery.jobUser"),  # load, MERGE, tally and snapshot jobs
        ("sa-pass1-workflow", "roles/logging.logWriter"),  # sys.log
        ("sa-pass1-scheduler", "roles/workflows.invoker"), # start executions of the workflow
        *((BUILD_SA, role) for role in BUILD_ROLES),       # build the functions (see BUILD_ROLES)
    ]
    steps = [Step(f"{role} for {name}", gcloud(cfg, "projects", "add-iam-policy-binding", cfg.project,
                                               f"--member={sa(name)}", f"--role={role}", "--condition=None"),
                  retry=True)
             for name, role in project_roles]
    bucket_roles = [
        (cfg.input_bucket, sa("sa-submit-batch"), "roles/storage.objectAdmin"),   # write requests (overwrite on retry)
        (cfg.output_bucket, sa("sa-submit-batch"), "roles/storage.objectViewer"), # read set-aside requests
        (cfg.output_bucket, sa("sa-pass1-processor"), "roles/storage.objectAdmin"),  # read output, write retry files
        # key indexes: the keys of keyless output lines, the lookup snapshot's tokens
        (cfg.input_bucket, sa("sa-pass1-processor"), "roles/storage.objectViewer"),
        (cfg.output_bucket, sa("sa-poll-status"), "roles/storage.objectViewer"),  # list prediction files per job
        (cfg.input_bucket, vertex_agent, "roles/storage.objectViewer"),           # Vertex reads the requests
        (cfg.output_bucket, vertex_agent, "roles/storage.objectAdmin"),           # Vertex writes predictions
    ]
    steps += [Step(f"{role} on {bucket}", gcloud(cfg, "storage", "buckets", "add-iam-policy-binding",
                                                 f"gs://{bucket}", f"--member={member}", f"--role={role}"),
                   retry=True)
              for bucket, member, role in bucket_roles]
    table_roles = [
        (cfg.settings.transcripts_table, "sa-submit-batch", "roles/bigquery.dataViewer"),
        (cfg.settings.lookup_table, "sa-pass1-processor", "roles/bigquery.dataViewer"),
    ]
    steps += [Step(f"{role} on {table}", ["bq", f"--project_id={cfg.project}", "add-iam-policy-binding",
                                          f"--member={sa(name)}", f"--role={role}",
                                          f"{cfg.project}:{cfg.dataset}.{table}"], retry=True)
              for table, name, role in table_roles]
    # The processor writes pass1_analysis and pass1_dead_letter and creates its run-scoped tables
    # (staging, keys, lookup snapshot; pass1_processor/staging.py): creating a table needs
    # dataEditor on the dataset, which covers the two output tables too.
    dataset_roles = [("sa-pass1-processor", "roles/bigquery.dataEditor")]
    steps += [Step(f"{role} on dataset {cfg.dataset}", ["bq", f"--project_id={cfg.project}", "add-iam-policy-binding",
                                                       f"--member={sa(name)}", f"--role={role}",
                                                       f"{cfg.project}:{cfg.dataset}"], retry=True)
              for name, role in dataset_roles]
    steps += [Step(f"roles/pubsub.publisher on {cfg.events_topic} for {name}",
                   gcloud(cfg, "pubsub", "topics", "add-iam-policy-binding", cfg.events_topic,
                          f"--member={sa(name)}", "--role=roles/pubsub.publisher"), retry=True)
              for name in PUBLISHERS]
    # submit_batch writes and reads its plan tables in the scratch dataset, and nowhere else.
    steps.append(Step(f"roles/bigquery.dataEditor on {cfg.dataset}_scratch",
                      ["bq", f"--project_id={cfg.project}", "add-iam-policy-binding",
                       f"--member={sa('sa-submit-batch')}", "--role=roles/bigquery.dataEditor",
                       f"{cfg.project}:{cfg.dataset}_scratch"], retry=True))
    return steps


def build_and_deploy_functions(cfg: Config) -> list[Step]:
    steps = [Step("vendor shared/ into build/", ["python3", "-m", "infra.build"])]
    for spec in functions(cfg):
        env = ",".join(f"{k}={v}" for k, v in spec.env.items())
        steps.append(Step(f"deploy {spec.service_name}", gcloud(
            cfg, "functions", "deploy", spec.service_name, "--gen2", "--runtime=python312",
            f"--region={cfg.region}", f"--source=build/{spec.name}", f"--entry-point={spec.name}",
            "--trigger-http", "--no-allow-unauthenticated", f"--memory={spec.memory}",
            f"--timeout={spec.timeout_s}s", f"--service-account={cfg.sa_email(spec.sa)}",
            f"--build-service-account=projects/{cfg.project}/serviceAccounts/{cfg.sa_email(BUILD_SA)}",
            f"--set-env-vars={env}")))
    invokers = [("submit-batch", "sa-pass1-workflow"), ("poll-status", "sa-pass1-workflow"),
                ("pass1-batch-processor", "sa-pass1-workflow"), ("poll-status", "sa-pass1-scheduler")]
    steps += [Step(f"{who} may invoke {fn}", gcloud(cfg, "functions", "add-invoker-policy-binding", fn,
                                                    f"--region={cfg.region}",
                                                    f"--member=serviceAccount:{cfg.sa_email(who)}"),
                   retry=True)
              for fn, who in invokers]
    return steps


def url_var(service_name: str) -> str:
    return service_name.upper().replace("-", "_") + "_URL"


def resolve_urls(cfg: Config) -> list[Step]:
    """Shell assignments of the deployed functions' URLs (used by the workflow and Scheduler)."""
    steps = []
    for spec in functions(cfg):
        describe = gcloud(cfg, "functions", "describe", spec.service_name, f"--region={cfg.region}",
                          "--format=value(serviceConfig.uri)")
        steps.append(Step(f"URL of {spec.service_name}", describe,
                          raw=f"{url_var(spec.service_name)}=$({shlex.join(describe)})"))
    return steps


def workflow(cfg: Config) -> list[Step]:
    env = ",".join(f"{url_var(s.service_name)}=${{{url_var(s.service_name)}}}" for s in functions(cfg))
    return [Step("deploy workflow pass1-pipeline", gcloud(
        cfg, "workflows", "deploy", "pass1-pipeline", f"--location={cfg.region}",
        f"--source={WORKFLOW_FILE.relative_to(REPO_ROOT)}",
        f"--service-account={cfg.sa_email('sa-pass1-workflow')}", f"--set-env-vars={env}"))]


def scheduler(cfg: Config) -> list[Step]:
    """Scheduler jobs from infra/scheduler/jobs.json: create, or update when they exist."""
    steps = []
    for job in json.loads(SCHEDULER_FILE.read_text()):
        uri = job["uri"].format(project=cfg.project, region=cfg.region,
                                POLL_STATUS_URL="${POLL_STATUS_URL}")
        auth = ([f"--oauth-service-account-email={cfg.sa_email('sa-pass1-scheduler')}",
                 "--oauth-token-scope=https://www.googleapis.com/auth/cloud-platform"]
                if job["auth"] == "oauth" else
                [f"--oidc-service-account-email={cfg.sa_email('sa-pass1-scheduler')}",
                 f"--oidc-token-audience={uri}"])
        flags = [f"--location={cfg.region}", f"--schedule={job['schedule']}", f"--time-zone={job['time_zone']}",
                 f"--uri={uri}", "--http-method=POST", f"--message-body={json.dumps(job['body'])}",
                 f"--attempt-deadline={job['attempt_deadline']}", f"--max-retry-attempts={job['max_retry_attempts']}",
                 *auth]
        describe = gcloud(cfg, "scheduler", "jobs", "describe", job["name"], f"--location={cfg.region}")
        create = gcloud(cfg, "scheduler", "jobs", "create", "http", job["name"], *flags)
        update = gcloud(cfg, "scheduler", "jobs", "update", "http", job["name"], *flags)
        steps.append(Step(f"scheduler job {job['name']}", create, raw=(
            f"if {shlex.join(describe)} >/dev/null 2>&1; then {_dq(update)}; else {_dq(create)}; fi")))
    return steps


def plan(cfg: Config) -> list[Step]:
    """Every step, in order."""
    return (enable_apis(cfg) + project_number(cfg) + service_identities(cfg) + service_accounts(cfg)
            + storage(cfg) + firestore(cfg) + firestore_indexes_steps(cfg) + bigquery(cfg) + pubsub(cfg) + iam(cfg)
            + build_and_deploy_functions(cfg) + resolve_urls(cfg) + workflow(cfg) + scheduler(cfg))


def _dq(cmd: list[str]) -> str:
    """Quote for bash but let ${VAR} expand (URLs resolved earlier in the script)."""
    return " ".join(f'"{c}"' if "${" in c else shlex.quote(c) for c in cmd)


def render(cfg: Config) -> str:
    lines = list(SCRIPT_PRELUDE)
    for step in plan(cfg):
        lines += [f"# {step.what}", step.shell()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--dataset", default=Settings.dataset)
    parser.add_argument("--bq-location", default=Settings.bq_location,
                        help="the dataset's location (US, EU or a region); every function gets it as BQ_LOCATION")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    args = parser.parse_args(argv)
    cfg = Config(project=args.project, region=args.region, dataset=args.dataset, bq_location=args.bq_location)
    script = render(cfg)
    if args.dry_run:
        sys.stdout.write(script)
        return 0
    return subprocess.run(["bash", "-c", script], cwd=REPO_ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
