using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using RunsReplication.Mapping;

namespace RunsReplication.ClickHouse;

/// <summary>
/// Serialises <see cref="TaskRunRow"/> and <see cref="PayloadRow"/> batches as ClickHouse
/// <c>JSONCompactEachRowWithNames</c>: a first line with the JSON array of column names, then one JSON array per
/// row, each line ending in '\n'. JSON columns are written verbatim (they are already sanitised objects),
/// timestamps as epoch-millisecond integers, <c>_version</c> as a JSON number, nullable columns as <c>null</c>.
/// </summary>
public static class TaskRunRowWriter
{
    public const string Format = "JSONCompactEachRowWithNames";

    /// <summary>task_runs_v2 columns in Trigger.dev's insert order (the order of <see cref="TaskRunRow"/>).</summary>
    public static readonly IReadOnlyList<string> TaskRunColumns =
    [
        "environment_id", "organization_id", "project_id", "run_id", "updated_at", "created_at", "queue_timestamp",
        "status", "environment_type", "friendly_id", "attempt", "engine", "task_identifier", "queue", "schedule_id",
        "batch_id", "completed_at", "started_at", "executed_at", "delay_until", "queued_at", "expired_at",
        "usage_duration_ms", "cost_in_cents", "base_cost_in_cents", "output", "error", "error_fingerprint", "tags",
        "task_version", "sdk_version", "cli_version", "machine_preset", "root_run_id", "parent_run_id", "depth",
        "span_id", "trace_id", "idempotency_key", "idempotency_key_user", "idempotency_key_scope", "expiration_ttl",
        "is_test", "_version", "_is_deleted", "concurrency_key", "bulk_action_group_ids", "worker_queue", "region",
        "plan_type", "max_duration_in_seconds", "trigger_source", "root_trigger_source", "task_kind", "is_warm_start",
        "external_deployment_id",
    ];

    /// <summary>raw_task_runs_payload_v1 columns in insert order.</summary>
    public static readonly IReadOnlyList<string> PayloadColumns = ["run_id", "created_at", "payload"];

    /// <summary>The same list as <see cref="TaskRunColumns"/>, comma separated (for SQL).</summary>
    public static readonly string TaskRunColumnList = string.Join(", ", TaskRunColumns);
    public static readonly string PayloadColumnList = string.Join(", ", PayloadColumns);

    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = false,
        SkipValidation = true,
    };

    private static readonly byte[] TaskRunHeader = BuildHeader(TaskRunColumns);
    private static readonly byte[] PayloadHeader = BuildHeader(PayloadColumns);

    public static string BuildTaskRunsInsert(string database = ClickHouseSchema.DefaultDatabase) =>
        $"INSERT INTO {ClickHouseSchema.ValidateIdentifier(database)}.task_runs_v2 FORMAT {Format}";

    public static string BuildPayloadsInsert(string database = ClickHouseSchema.DefaultDatabase) =>
        $"INSERT INTO {ClickHouseSchema.ValidateIdentifier(database)}.raw_task_runs_payload_v1 FORMAT {Format}";

    private static byte[] BuildHeader(IReadOnlyList<string> columns)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, WriterOptions))
        {
            w.WriteStartArray();
            foreach (var c in columns) w.WriteStringValue(c);
            w.WriteEndArray();
        }
        buffer.GetSpan(1)[0] = (byte)'\n';
        buffer.Advance(1);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Writes the header line and one line per row to <paramref name="output"/>.</summary>
    public static void WriteTaskRuns(IBufferWriter<byte> output, IEnumerable<TaskRunRow> rows)
    {
        output.Write(TaskRunHeader);
        using var w = new Utf8JsonWriter(output, WriterOptions);
        foreach (var row in rows)
        {
            WriteRow(w, row);
            w.Flush();
            NewLine(output);
            w.Reset(output);
        }
    }

    /// <summary>Writes the header line and one line per payload row to <paramref name="output"/>.</summary>
    public static void WritePayloads(IBufferWriter<byte> output, IEnumerable<PayloadRow> rows)
    {
        output.Write(PayloadHeader);
        using var w = new Utf8JsonWriter(output, WriterOptions);
        foreach (var row in rows)
        {
            w.WriteStartArray();
            w.WriteStringValue(row.RunId);
            w.WriteNumberValue(row.CreatedAt);
            WriteJson(w, row.Payload);
            w.WriteEndArray();
            w.Flush();
            NewLine(output);
            w.Reset(output);
        }
    }

    public static void WriteTaskRuns(Stream stream, IEnumerable<TaskRunRow> rows) =>
        WriteChunked(stream, rows, WriteTaskRuns);

    public static void WritePayloads(Stream stream, IEnumerable<PayloadRow> rows) =>
        WriteChunked(stream, rows, WritePayloads);

    public static byte[] SerializeTaskRuns(IEnumerable<TaskRunRow> rows)
    {
        var buffer = new ArrayBufferWriter<byte>(64 * 1024);
        WriteTaskRuns(buffer, rows);
        return buffer.WrittenSpan.ToArray();
    }

    public static byte[] SerializePayloads(IEnumerable<PayloadRow> rows)
    {
        var buffer = new ArrayBufferWriter<byte>(16 * 1024);
        WritePayloads(buffer, rows);
        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteChunked<T>(Stream stream, IEnumerable<T> rows, Action<IBufferWriter<byte>, IEnumerable<T>> write)
    {
        // Rows are written into a reusable buffer that is copied to the stream whenever it grows past 32 KiB (the
        // buffer stays below the large object heap's 85 KB threshold unless one row is bigger).
        var buffer = new ArrayBufferWriter<byte>(64 * 1024);
        IEnumerable<T> Chunk()
        {
            foreach (var row in rows)
            {
                yield return row;
                if (buffer.WrittenCount >= 32 * 1024)
                {
                    stream.Write(buffer.WrittenSpan);
                    buffer.ResetWrittenCount();
                }
            }
        }
        // `write` emits the header, then pulls rows; the iterator copies the buffer out between rows, when the
        // JSON writer has already flushed and reset.
        write(buffer, Chunk());
        stream.Write(buffer.WrittenSpan);
        buffer.ResetWrittenCount();
    }

    private static void NewLine(IBufferWriter<byte> output)
    {
        output.GetSpan(1)[0] = (byte)'\n';
        output.Advance(1);
    }

    private static void WriteJson(Utf8JsonWriter w, string json) =>
        w.WriteRawValue(string.IsNullOrEmpty(json) ? "{}" : json, skipInputValidation: true);

    private static void WriteNullable(Utf8JsonWriter w, long? value)
    {
        if (value is { } v) w.WriteNumberValue(v);
        else w.WriteNullValue();
    }

    private static void WriteStrings(Utf8JsonWriter w, string[]? values)
    {
        w.WriteStartArray();
        if (values is not null)
            foreach (var v in values) w.WriteStringValue(v ?? "");
        w.WriteEndArray();
    }

    private static void WriteRow(Utf8JsonWriter w, TaskRunRow r)
    {
        w.WriteStartArray();
        w.WriteStringValue(r.EnvironmentId);
        w.WriteStringValue(r.OrganizationId);
        w.WriteStringValue(r.ProjectId);
        w.WriteStringValue(r.RunId);
        w.WriteNumberValue(r.UpdatedAt);
        w.WriteNumberValue(r.CreatedAt);
        WriteNullable(w, r.QueueTimestamp);
        w.WriteStringValue(r.Status);
        w.WriteStringValue(r.EnvironmentType);
        w.WriteStringValue(r.FriendlyId);
        w.WriteNumberValue(r.Attempt);
        w.WriteStringValue(r.Engine);
        w.WriteStringValue(r.TaskIdentifier);
        w.WriteStringValue(r.Queue);
        w.WriteStringValue(r.ScheduleId);
        w.WriteStringValue(r.BatchId);
        WriteNullable(w, r.CompletedAt);
        WriteNullable(w, r.StartedAt);
        WriteNullable(w, r.ExecutedAt);
        WriteNullable(w, r.DelayUntil);
        WriteNullable(w, r.QueuedAt);
        WriteNullable(w, r.ExpiredAt);
        w.WriteNumberValue(r.UsageDurationMs);
        w.WriteNumberValue(r.CostInCents);
        w.WriteNumberValue(r.BaseCostInCents);
        WriteJson(w, r.Output);
        WriteJson(w, r.Error);
        w.WriteStringValue(r.ErrorFingerprint);
        WriteStrings(w, r.Tags);
        w.WriteStringValue(r.TaskVersion);
        w.WriteStringValue(r.SdkVersion);
        w.WriteStringValue(r.CliVersion);
        w.WriteStringValue(r.MachinePreset);
        w.WriteStringValue(r.RootRunId);
        w.WriteStringValue(r.ParentRunId);
        w.WriteNumberValue(r.Depth);
        w.WriteStringValue(r.SpanId);
        w.WriteStringValue(r.TraceId);
        w.WriteStringValue(r.IdempotencyKey);
        w.WriteStringValue(r.IdempotencyKeyUser);
        w.WriteStringValue(r.IdempotencyKeyScope);
        w.WriteStringValue(r.ExpirationTtl);
        w.WriteNumberValue(r.IsTest);
        w.WriteNumberValue(r.Version);
        w.WriteNumberValue(r.IsDeleted);
        w.WriteStringValue(r.ConcurrencyKey);
        WriteStrings(w, r.BulkActionGroupIds);
        w.WriteStringValue(r.WorkerQueue);
        w.WriteStringValue(r.Region);
        w.WriteStringValue(r.PlanType);
        if (r.MaxDurationInSeconds is { } max) w.WriteNumberValue(max); else w.WriteNullValue();
        w.WriteStringValue(r.TriggerSource);
        w.WriteStringValue(r.RootTriggerSource);
        w.WriteStringValue(r.TaskKind);
        if (r.IsWarmStart is { } warm) w.WriteNumberValue(warm); else w.WriteNullValue();
        w.WriteStringValue(r.ExternalDeploymentId);
        w.WriteEndArray();
    }
}

/// <summary>Orders task-run rows by the table's ORDER BY (organization_id, project_id, environment_id, created_at, run_id).</summary>
public sealed class TaskRunRowSortComparer : IComparer<TaskRunRow>
{
    public static readonly TaskRunRowSortComparer Instance = new();

    public int Compare(TaskRunRow? x, TaskRunRow? y)
    {
        if (ReferenceEquals(x, y)) return 0;
        if (x is null) return -1;
        if (y is null) return 1;
        var c = string.CompareOrdinal(x.OrganizationId, y.OrganizationId);
        if (c != 0) return c;
        c = string.CompareOrdinal(x.ProjectId, y.ProjectId);
        if (c != 0) return c;
        c = string.CompareOrdinal(x.EnvironmentId, y.EnvironmentId);
        if (c != 0) return c;
        c = x.CreatedAt.CompareTo(y.CreatedAt);
        if (c != 0) return c;
        return string.CompareOrdinal(x.RunId, y.RunId);
    }
}

/// <summary>Orders payload rows by run_id (ordinal).</summary>
public sealed class PayloadRowSortComparer : IComparer<PayloadRow>
{
    public static readonly PayloadRowSortComparer Instance = new();

    public int Compare(PayloadRow? x, PayloadRow? y)
    {
        if (ReferenceEquals(x, y)) return 0;
        if (x is null) return -1;
        if (y is null) return 1;
        return string.CompareOrdinal(x.RunId, y.RunId);
    }
}
