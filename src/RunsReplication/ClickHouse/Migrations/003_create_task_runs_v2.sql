-- trigger_dev.task_runs_v2 in its current shape: the original table plus every column and index that later
-- migrations added (concurrency/bulk actions, worker queue, max duration, idempotency key options, output/error
-- text with n-gram indexes, error fingerprint, trigger source / warm start, task kind, region, plan type,
-- queue timestamp placed after created_at, external deployment id), created in one statement.
--
-- output_text / error_text: the JSON text of output.data / error.data, '' when the column is {}.
-- Direct path access (output.data) yields NULL when data is an object (its leaves are separate paths) and the
-- sub-object syntax (output.^data) misses scalars and arrays, so the value is taken from the serialised column
-- with JSONExtractRaw(toJSONString(...), 'data'), which works for every shape on ClickHouse 24.x to 26.x.
-- When the column is not {} but has no data key, the whole serialised column is used.
CREATE TABLE IF NOT EXISTS {database}.task_runs_v2
(
  environment_id            String,
  organization_id           String,
  project_id                String,
  run_id                    String,

  environment_type          LowCardinality(String),
  friendly_id               String,
  attempt                   UInt8 DEFAULT 1,

  engine                    LowCardinality(String),
  status                    LowCardinality(String),

  task_identifier           String,
  queue                     String,

  schedule_id               String,
  batch_id                  String,

  root_run_id               String,
  parent_run_id             String,
  depth                     UInt8 DEFAULT 0,

  span_id                   String,
  trace_id                  String,
  idempotency_key           String,

  created_at                DateTime64(3),
  queue_timestamp           Nullable(DateTime64(3)),
  updated_at                DateTime64(3),
  started_at                Nullable(DateTime64(3)),
  executed_at               Nullable(DateTime64(3)),
  completed_at              Nullable(DateTime64(3)),
  delay_until               Nullable(DateTime64(3)),
  queued_at                 Nullable(DateTime64(3)),
  expired_at                Nullable(DateTime64(3)),
  expiration_ttl            String,

  usage_duration_ms         UInt32 DEFAULT 0,
  cost_in_cents             Float64 DEFAULT 0,
  base_cost_in_cents        Float64 DEFAULT 0,

  output                    JSON(max_dynamic_paths = 1024),
  error                     JSON(max_dynamic_paths = 64),

  tags                      Array(String) CODEC(ZSTD(1)),
  task_version              String CODEC(LZ4),
  sdk_version               String CODEC(LZ4),
  cli_version               String CODEC(LZ4),
  machine_preset            LowCardinality(String) CODEC(LZ4),

  is_test                   UInt8 DEFAULT 0,

  _version                  UInt64,
  _is_deleted               UInt8 DEFAULT 0,

  concurrency_key           String DEFAULT '',
  bulk_action_group_ids     Array(String) DEFAULT [],
  worker_queue              String DEFAULT '',
  max_duration_in_seconds   Nullable(UInt32) DEFAULT NULL,
  idempotency_key_user      String DEFAULT '',
  idempotency_key_scope     String DEFAULT '',

  output_text               String MATERIALIZED if(
                              toJSONString(output) = '{}',
                              '',
                              if(length(JSONExtractRaw(toJSONString(output), 'data')) > 0,
                                 JSONExtractRaw(toJSONString(output), 'data'),
                                 toJSONString(output))),
  error_text                String MATERIALIZED if(
                              toJSONString(error) = '{}',
                              '',
                              if(length(JSONExtractRaw(toJSONString(error), 'data')) > 0,
                                 JSONExtractRaw(toJSONString(error), 'data'),
                                 toJSONString(error))),

  error_fingerprint         String DEFAULT '',
  trigger_source            LowCardinality(String) DEFAULT '',
  root_trigger_source       LowCardinality(String) DEFAULT '',
  is_warm_start             Nullable(UInt8) DEFAULT NULL,
  task_kind                 LowCardinality(String) DEFAULT '',
  region                    String DEFAULT '',
  plan_type                 LowCardinality(String) DEFAULT '',
  external_deployment_id    String DEFAULT '',

  INDEX idx_tags tags TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 4,
  INDEX idx_output_text output_text TYPE ngrambf_v1(3, 131072, 3, 0) GRANULARITY 4,
  INDEX idx_error_text error_text TYPE ngrambf_v1(3, 131072, 3, 0) GRANULARITY 4,
  INDEX idx_error_fingerprint error_fingerprint TYPE bloom_filter GRANULARITY 4
)
ENGINE = ReplacingMergeTree(_version, _is_deleted)
PARTITION BY toYYYYMM(created_at)
ORDER BY (organization_id, project_id, environment_id, created_at, run_id)
SETTINGS enable_json_type = 1;
