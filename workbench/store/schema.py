"""Table objects for building queries. The DDL lives in migrations.py; a test
checks that the migrated database and these definitions agree."""

import sqlalchemy as sa

metadata = sa.MetaData()

datasets = sa.Table(
    "datasets", metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("source_name", sa.Text),
    sa.Column("format", sa.Text, nullable=False),
    sa.Column("id_field", sa.Text),
    sa.Column("title_field", sa.Text),
    sa.Column("subtitle_fields", sa.Text, nullable=False),
    sa.Column("record_count", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
)

records = sa.Table(
    "records", metadata,
    sa.Column("dataset_id", sa.Text, primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("record_id", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("subtitle", sa.Text, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
)

tasks = sa.Table(
    "tasks", metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("definition", sa.Text, nullable=False),
    sa.Column("content_hash", sa.Text, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
)

models = sa.Table(
    "models", metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("base_url", sa.Text),
    sa.Column("model_name", sa.Text),
    sa.Column("api_key_env", sa.Text),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("max_concurrency", sa.Integer, nullable=False),
    sa.Column("requests_per_minute", sa.Integer),
    sa.Column("tokens_per_minute", sa.Integer),
    sa.Column("price_in", sa.Float, nullable=False),
    sa.Column("price_out", sa.Float, nullable=False),
    sa.Column("structured_output", sa.Text, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Text, nullable=False),
    sa.Column("replicas", sa.Text, nullable=False),  # JSON list of further base URLs
    sa.Column("max_response_bytes", sa.Integer),  # NULL: the default (domain.models)
)

runs = sa.Table(
    "runs", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("dataset_id", sa.Text, nullable=False),
    sa.Column("model_id", sa.Text, nullable=False),
    sa.Column("task_name", sa.Text, nullable=False),
    sa.Column("task_version", sa.Integer, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("status_reason", sa.Text),
    sa.Column("model_snapshot", sa.Text, nullable=False),
    sa.Column("options", sa.Text, nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("done", sa.Integer, nullable=False),
    sa.Column("errors", sa.Integer, nullable=False),
    sa.Column("tokens_in", sa.BigInteger, nullable=False),
    sa.Column("tokens_out", sa.BigInteger, nullable=False),
    sa.Column("cost", sa.Float, nullable=False),
    sa.Column("active_seconds", sa.Float, nullable=False),
    sa.Column("lease_owner", sa.Text),
    sa.Column("lease_expires_at", sa.Text),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("started_at", sa.Text),
    sa.Column("finished_at", sa.Text),
    sa.Column("updated_at", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),  # "answer" | "judge" (m008)
)

results = sa.Table(
    "results", metadata,
    sa.Column("run_id", sa.BigInteger, primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("record_id", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("output", sa.Text),
    sa.Column("error_kind", sa.Text),
    sa.Column("error_message", sa.Text),
    sa.Column("raw_text", sa.Text),
    sa.Column("latency_ms", sa.Float),
    sa.Column("tokens_in", sa.Integer),
    sa.Column("tokens_out", sa.Integer),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("cached", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("verdict_key", sa.Text),
    sa.Column("primary_verdict", sa.Text),
    sa.Column("finish_reason", sa.Text),
)

response_cache = sa.Table(
    "response_cache", metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("tokens_in", sa.Integer),
    sa.Column("tokens_out", sa.Integer),
    sa.Column("created_at", sa.Text, nullable=False),
)

events = sa.Table(
    "events", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.BigInteger),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
)

annotation_events = sa.Table(
    "annotation_events", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("dataset_id", sa.Text, nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("record_id", sa.Text, nullable=False),
    sa.Column("model_id", sa.Text, nullable=False),
    sa.Column("run_id", sa.BigInteger),
    sa.Column("field", sa.Text, nullable=False),
    sa.Column("value", sa.Text),
    sa.Column("previous", sa.Text),
    sa.Column("author", sa.Text, nullable=False),
    sa.Column("undoes", sa.BigInteger),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("group_id", sa.BigInteger),  # a bulk action's events share it (m009)
)

# Current state, derived from annotation_events in the same transaction: one row per answer
# (record × run) and one per record (run_id 0: preference, note).
RECORD_LEVEL = 0
annotations = sa.Table(
    "annotations", metadata,
    sa.Column("dataset_id", sa.Text, primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.BigInteger, primary_key=True, autoincrement=False),  # 0 for record-level
    sa.Column("model_id", sa.Text, nullable=False),  # the run's model; '' for record-level
    sa.Column("record_id", sa.Text, nullable=False),
    sa.Column("golden", sa.Integer, nullable=False),
    sa.Column("judgement", sa.Text),  # 'good' | 'wrong' | None
    sa.Column("correction", sa.Text),  # JSON of the fixed output
    sa.Column("preference", sa.Text),  # a column id ('run:ID'), 'tie' or 'all_bad'
    sa.Column("note", sa.Text),
    sa.Column("updated_by", sa.Text),
    sa.Column("updated_at", sa.Text, nullable=False),
    sa.Column("reviewed", sa.Integer, nullable=False),  # record-level: someone marked it reviewed (m009)
)

users = sa.Table(
    "users", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("secret_hash", sa.Text, nullable=False),  # scrypt (domain/accounts.py); never the token
    sa.Column("disabled", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Text, nullable=False),
    sa.Column("last_sign_in_at", sa.Text),
)

sessions = sa.Table(
    "sessions", metadata,
    sa.Column("id_hash", sa.Text, primary_key=True),  # SHA-256 of the cookie's random id
    sa.Column("user_id", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("expires_at", sa.Text, nullable=False),
)

sign_in_failures = sa.Table(
    "sign_in_failures", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("name_hash", sa.Text, nullable=False),  # SHA-256 of the name tried (it may be a pasted token)
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("at", sa.Text, nullable=False),
)

mark_snapshots = sa.Table(  # grid/marks.py: a selection's marks as of a version of its runs' events
    "mark_snapshots", metadata,
    sa.Column("key", sa.Text, primary_key=True),  # SHA-256 of the selection, the kind and the mark's SQL
    sa.Column("dataset_id", sa.Text, nullable=False),
    sa.Column("version", sa.Text, nullable=False),  # JSON: [the dataset's creation, each run's latest event id]
    sa.Column("marks", sa.LargeBinary, nullable=False),
    sa.Column("saved_at", sa.Text, nullable=False),
)

audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
)
