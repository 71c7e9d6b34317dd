-- Payloads of TaskRuns, written once per run on the insert event (a run's payload never changes).
-- The payload column holds {"data": <parsed payload>} or {} (non-JSON payload types, empty, unparseable).
CREATE TABLE IF NOT EXISTS {database}.raw_task_runs_payload_v1
(
  run_id      String,
  created_at  DateTime64(3),
  payload     JSON(max_dynamic_paths = 1024)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(created_at)
ORDER BY (run_id)
SETTINGS enable_json_type = 1;
