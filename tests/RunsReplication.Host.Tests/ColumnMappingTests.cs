using System.Text.Json;
using RunsReplication.Host.Tests.Harness;
using static RunsReplication.Host.Tests.ReplicationTests;

namespace RunsReplication.Host.Tests;

/// <summary>
/// Every task_runs_v2 column, from a TaskRun row written by PostgreSQL through the real binary replication stream
/// to what ClickHouse returns: the decoder, the mapper and the insert format checked together.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ColumnMappingTests
{
    [Fact]
    public async Task A_fully_populated_run_arrives_with_every_column_mapped()
    {
        await using var f = await ReplicationFixture.CreateAsync(nameof(A_fully_populated_run_arrives_with_every_column_mapped));
        await using var replicator = ReplicatorProcess.Start(f, "a");
        await WaitStreamingAsync(replicator);

        await f.ExecuteAsync("""
            INSERT INTO public."TaskRun" (id, "friendlyId", engine, status, "statusReason", "idempotencyKey", "idempotencyKeyOptions",
                "taskIdentifier", "isTest", payload, "payloadType", "traceId", "spanId", "runtimeEnvironmentId", "environmentType",
                "projectId", "organizationId", queue, "masterQueue", region, "attemptNumber", "createdAt", "updatedAt", "queueTimestamp",
                "startedAt", "executedAt", "completedAt", "delayUntil", "queuedAt", "expiredAt", ttl, "maxDurationInSeconds",
                "concurrencyKey", "scheduleId", "batchId", "rootTaskRunId", "parentTaskRunId", depth, "bulkActionGroupIds", "runTags",
                "taskVersion", "sdkVersion", "cliVersion", "machinePreset", "usageDurationMs", "costInCents", "baseCostInCents",
                "planType", "isWarmStart", output, "outputType", error, annotations)
            VALUES ('run_full', 'run_friendly_full', 'V2', 'COMPLETED_WITH_ERRORS', 'EXTERNAL_DEPLOYMENT_PENDING', 'hashed-key',
                '{"key": "user-key", "scope": "global"}', 'émoji-task 🚀', true, '{"input": "日本語", "n": 1}', 'application/json',
                'trace_1', 'span_1', 'env_1', 'STAGING', 'proj_1', 'org_1', 'task/émoji', 'main:us-east-1', 'us-east-1', 3,
                '2026-01-02 03:04:05.678', '2026-01-02 03:04:09.001', '2026-01-02 03:04:05.700', '2026-01-02 03:04:06.000',
                '2026-01-02 03:04:06.100', '2026-01-02 03:04:09.000', '2026-01-02 03:00:00.000', '2026-01-02 03:04:05.800', NULL,
                '1h', 600, 'ck', 'sched_1', 'batch_1', 'root_1', 'parent_1', 2, ARRAY['bulk_1', NULL, 'bulk_2'],
                ARRAY['tag "quoted"', 'tag,comma', 'ünïcode'], '20260102.1', '4.1.0', '4.1.1', 'small-2x', 1234, 1.5, 0.25, 'pro', false,
                '{"result": [1, 2.5, "three", null, {"deep": true}]}', 'application/json',
                '{"type": "BUILT_IN_ERROR", "name": "Error", "message": "Timeout after 30000ms for run_abc123", "stackTrace": "at foo (file.ts:1:2)"}',
                '{"triggerSource": "api", "rootTriggerSource": "dashboard", "taskKind": "STANDARD", "externalDeploymentId": "dep_9"}')
            """);
        await f.AssertReplicatedAsync();

        var json = await f.ClickHouseQueryAsync(
            $"SELECT *, toString(output) AS output_json, toString(error) AS error_json FROM {f.ClickHouseDatabase}.task_runs_v2 FINAL WHERE run_id = 'run_full' FORMAT JSONEachRow SETTINGS output_format_json_quote_64bit_integers = 0");
        var row = JsonDocument.Parse(json).RootElement;
        string S(string column) => row.GetProperty(column).ValueKind == JsonValueKind.Null ? "null" : row.GetProperty(column).ToString();

        Assert.Equal("env_1", S("environment_id"));
        Assert.Equal("org_1", S("organization_id"));
        Assert.Equal("proj_1", S("project_id"));
        Assert.Equal("run_full", S("run_id"));
        Assert.Equal("STAGING", S("environment_type"));
        Assert.Equal("run_friendly_full", S("friendly_id"));
        Assert.Equal("3", S("attempt"));
        Assert.Equal("V2", S("engine"));
        Assert.Equal("COMPLETED_WITH_ERRORS", S("status"));
        Assert.Equal("émoji-task 🚀", S("task_identifier"));
        Assert.Equal("task/émoji", S("queue"));
        Assert.Equal("sched_1", S("schedule_id"));
        Assert.Equal("batch_1", S("batch_id"));
        Assert.Equal("root_1", S("root_run_id"));
        Assert.Equal("parent_1", S("parent_run_id"));
        Assert.Equal("2", S("depth"));
        Assert.Equal("span_1", S("span_id"));
        Assert.Equal("trace_1", S("trace_id"));
        Assert.Equal("hashed-key", S("idempotency_key"));
        Assert.Equal("user-key", S("idempotency_key_user"));
        Assert.Equal("global", S("idempotency_key_scope"));
        Assert.Equal("2026-01-02 03:04:05.678", S("created_at"));
        Assert.Equal("2026-01-02 03:04:09.001", S("updated_at"));
        Assert.Equal("2026-01-02 03:04:05.700", S("queue_timestamp"));
        Assert.Equal("2026-01-02 03:04:06.000", S("started_at"));
        Assert.Equal("2026-01-02 03:04:06.100", S("executed_at"));
        Assert.Equal("2026-01-02 03:04:09.000", S("completed_at"));
        Assert.Equal("2026-01-02 03:00:00.000", S("delay_until"));
        Assert.Equal("2026-01-02 03:04:05.800", S("queued_at"));
        Assert.Equal("null", S("expired_at"));
        Assert.Equal("1h", S("expiration_ttl"));
        Assert.Equal("1234", S("usage_duration_ms"));
        Assert.Equal(1.5, row.GetProperty("cost_in_cents").GetDouble());
        Assert.Equal(0.25, row.GetProperty("base_cost_in_cents").GetDouble());
        Assert.Equal("""["tag \"quoted\"","tag,comma","ünïcode"]""", row.GetProperty("tags").GetRawText().Replace("\\u00FC", "ü").Replace("\\u00EF", "ï"));
        Assert.Equal("20260102.1", S("task_version"));
        Assert.Equal("4.1.0", S("sdk_version"));
        Assert.Equal("4.1.1", S("cli_version"));
        Assert.Equal("small-2x", S("machine_preset"));
        Assert.Equal("1", S("is_test"));
        Assert.Equal("0", S("_is_deleted"));
        Assert.True(row.GetProperty("_version").GetUInt64() > 0);
        Assert.Equal("ck", S("concurrency_key"));
        Assert.Equal(3, row.GetProperty("bulk_action_group_ids").GetArrayLength());
        Assert.Equal("main", S("worker_queue"));
        Assert.Equal("us-east-1", S("region"));
        Assert.Equal("pro", S("plan_type"));
        Assert.Equal("600", S("max_duration_in_seconds"));
        Assert.Equal("api", S("trigger_source"));
        Assert.Equal("dashboard", S("root_trigger_source"));
        Assert.Equal("STANDARD", S("task_kind"));
        Assert.Equal("0", S("is_warm_start"));
        Assert.Equal("dep_9", S("external_deployment_id"));
        Assert.Matches("^[0-9a-f]{16}$", S("error_fingerprint"));

        var output = JsonDocument.Parse(S("output_json")).RootElement.GetProperty("data").GetProperty("result");
        Assert.Equal(5, output.GetArrayLength());
        Assert.Equal("three", output[2].GetString());
        var error = JsonDocument.Parse(S("error_json")).RootElement.GetProperty("data");
        Assert.Equal("Timeout after 30000ms for run_abc123", error.GetProperty("message").GetString());

        var payload = await f.ClickHouseQueryAsync($"SELECT toString(payload) FROM {f.ClickHouseDatabase}.raw_task_runs_payload_v1 WHERE run_id = 'run_full' FORMAT TabSeparatedRaw");
        Assert.Equal("日本語", JsonDocument.Parse(payload.Trim()).RootElement.GetProperty("data").GetProperty("input").GetString());
    }
}
