using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;
using RunsReplication.Model;

namespace RunsReplication.Postgres;

/// <summary>
/// Reads a pgoutput tuple of <c>TaskRun</c> (binary mode) into a <see cref="TaskRunRecord"/>. Built once per
/// Relation message: each column position is resolved to the field it fills and how its bytes are read, so the
/// per-row work is a switch. Columns we do not replicate are skipped; a column added later is ignored rather
/// than breaking the stream. Unchanged TOAST values keep the value from the old row (REPLICA IDENTITY FULL).
/// </summary>
public sealed class TaskRunTupleDecoder
{
    private enum Read : byte { Skip, Text, Jsonb, Int, Double, Bool, Timestamp, TextArray }

    private readonly (Field Field, Read Read)[] _columns;
    // Columns whose values repeat from row to row (ids of the tenant, enums, versions): the last value's bytes and
    // string, so a repeated value costs a byte comparison instead of a new string.
    private readonly byte[]?[] _lastBytes;
    private readonly string?[] _lastText;
    private const int MaxCachedLength = 64;
    // Holds one value's bytes at a time (grown to the largest value seen).
    private byte[] _scratch = new byte[1024];

    public string RelationName { get; }

    private TaskRunTupleDecoder(string relationName, (Field, Read)[] columns)
    {
        RelationName = relationName;
        _columns = columns;
        _lastBytes = new byte[columns.Length][];
        _lastText = new string[columns.Length];
        for (var i = 0; i < columns.Length; i++)
            if (columns[i].Item2 == Read.Text && IsRepetitive(columns[i].Item1))
                _lastBytes[i] = [];
    }

    public static TaskRunTupleDecoder For(RelationMessage relation)
    {
        var columns = new (Field, Read)[relation.Columns.Count];
        for (var i = 0; i < columns.Length; i++)
        {
            var column = relation.Columns[i];
            var field = FieldByColumn.GetValueOrDefault(column.ColumnName, Field.None);
            columns[i] = field == Field.None ? (field, Read.Skip) : (field, ReadFor(field, column.DataTypeId));
        }
        return new TaskRunTupleDecoder(relation.RelationName, columns);
    }

    // Values are read as PostgreSQL's binary send format. Text-like types (text, varchar, name, bpchar, json) and
    // our enums send their UTF-8 text; jsonb sends a version byte first.
    private static Read ReadFor(Field field, uint typeOid) => field switch
    {
        Field.Depth or Field.AttemptNumber or Field.UsageDurationMs or Field.MaxDurationInSeconds => Read.Int,
        Field.CostInCents or Field.BaseCostInCents => Read.Double,
        Field.IsTest or Field.IsWarmStart => Read.Bool,
        Field.CreatedAt or Field.UpdatedAt or Field.QueueTimestamp or Field.StartedAt or Field.ExecutedAt
            or Field.CompletedAt or Field.DelayUntil or Field.QueuedAt or Field.ExpiredAt => Read.Timestamp,
        Field.RunTags or Field.BulkActionGroupIds => Read.TextArray,
        _ => typeOid == JsonbOid ? Read.Jsonb : Read.Text,
    };

    private const uint JsonbOid = 3802;

    private static bool IsRepetitive(Field field) => field is Field.OrganizationId or Field.ProjectId
        or Field.RuntimeEnvironmentId or Field.EnvironmentType or Field.Status or Field.StatusReason or Field.Engine
        or Field.TaskIdentifier or Field.Queue or Field.WorkerQueue or Field.OutputType or Field.PayloadType
        or Field.TaskVersion or Field.SdkVersion or Field.CliVersion or Field.MachinePreset or Field.Region
        or Field.PlanType or Field.Ttl or Field.ScheduleId;

    public async ValueTask<TaskRunRecord> DecodeAsync(ReplicationTuple tuple, TaskRunRecord? previous, CancellationToken cancellationToken)
    {
        var run = previous?.Clone() ?? new TaskRunRecord();
        var i = 0;
        await foreach (var value in tuple.ConfigureAwait(false))
        {
            var column = i++;
            var (field, read) = column < _columns.Length ? _columns[column] : (Field.None, Read.Skip);
            if (read == Read.Skip || value.IsUnchangedToastedValue)
                continue;
            if (value.IsDBNull)
            {
                SetNull(run, field);
                continue;
            }
            var length = value.Length;
            if (length > _scratch.Length)
                _scratch = new byte[Math.Max(length, _scratch.Length * 2)];
            var stream = value.GetStream();
            var reading = stream.ReadAsync(_scratch.AsMemory(0, length), cancellationToken);
            var got = reading.IsCompletedSuccessfully ? reading.Result : await reading.ConfigureAwait(false);
            if (got < length)
                await stream.ReadExactlyAsync(_scratch.AsMemory(got, length - got), cancellationToken).ConfigureAwait(false);
            Apply(run, column, field, read, _scratch.AsSpan(0, length));
        }
        return run;
    }

    private void Apply(TaskRunRecord run, int column, Field field, Read read, ReadOnlySpan<byte> bytes)
    {
        switch (read)
        {
            case Read.Text:
                SetText(run, field, _lastBytes[column] is { } last ? Cached(column, last, bytes) : PgBinary.Text(bytes));
                break;
            case Read.Jsonb:
                SetText(run, field, PgBinary.Jsonb(bytes));
                break;
            case Read.Int:
                SetInt(run, field, PgBinary.Int(bytes));
                break;
            case Read.Double:
                SetDouble(run, field, PgBinary.Double(bytes));
                break;
            case Read.Bool:
                SetBool(run, field, PgBinary.Bool(bytes));
                break;
            case Read.Timestamp:
                SetTimestamp(run, field, PgBinary.Timestamp(bytes));
                break;
            case Read.TextArray:
                SetArray(run, field, PgBinary.TextArray(bytes)!);
                break;
        }
    }

    private string Cached(int column, byte[] last, ReadOnlySpan<byte> bytes)
    {
        if (_lastText[column] is { } text && bytes.SequenceEqual(last))
            return text;
        text = PgBinary.Text(bytes);
        if (bytes.Length <= MaxCachedLength)
        {
            _lastBytes[column] = bytes.ToArray();
            _lastText[column] = text;
        }
        return text;
    }

    private enum Field : byte
    {
        None, Id, FriendlyId, OrganizationId, ProjectId, RuntimeEnvironmentId, EnvironmentType, Status, StatusReason,
        Engine, TaskIdentifier, Queue, WorkerQueue, ScheduleId, BatchId, RootTaskRunId, ParentTaskRunId, Depth,
        SpanId, TraceId, IdempotencyKey, IdempotencyKeyOptions, AttemptNumber, CreatedAt, UpdatedAt, QueueTimestamp,
        StartedAt, ExecutedAt, CompletedAt, DelayUntil, QueuedAt, ExpiredAt, Ttl, UsageDurationMs, CostInCents,
        BaseCostInCents, Output, OutputType, Error, Payload, PayloadType, RunTags, TaskVersion, SdkVersion,
        CliVersion, MachinePreset, IsTest, ConcurrencyKey, BulkActionGroupIds, MaxDurationInSeconds, Annotations,
        IsWarmStart, Region, PlanType,
    }

    private static readonly Dictionary<string, Field> FieldByColumn = new(StringComparer.Ordinal)
    {
        ["id"] = Field.Id, ["friendlyId"] = Field.FriendlyId, ["organizationId"] = Field.OrganizationId,
        ["projectId"] = Field.ProjectId, ["runtimeEnvironmentId"] = Field.RuntimeEnvironmentId,
        ["environmentType"] = Field.EnvironmentType, ["status"] = Field.Status, ["statusReason"] = Field.StatusReason,
        ["engine"] = Field.Engine, ["taskIdentifier"] = Field.TaskIdentifier, ["queue"] = Field.Queue,
        ["masterQueue"] = Field.WorkerQueue, ["scheduleId"] = Field.ScheduleId, ["batchId"] = Field.BatchId,
        ["rootTaskRunId"] = Field.RootTaskRunId, ["parentTaskRunId"] = Field.ParentTaskRunId, ["depth"] = Field.Depth,
        ["spanId"] = Field.SpanId, ["traceId"] = Field.TraceId, ["idempotencyKey"] = Field.IdempotencyKey,
        ["idempotencyKeyOptions"] = Field.IdempotencyKeyOptions, ["attemptNumber"] = Field.AttemptNumber,
        ["createdAt"] = Field.CreatedAt, ["updatedAt"] = Field.UpdatedAt, ["queueTimestamp"] = Field.QueueTimestamp,
        ["startedAt"] = Field.StartedAt, ["executedAt"] = Field.ExecutedAt, ["completedAt"] = Field.CompletedAt,
        ["delayUntil"] = Field.DelayUntil, ["queuedAt"] = Field.QueuedAt, ["expiredAt"] = Field.ExpiredAt,
        ["ttl"] = Field.Ttl, ["usageDurationMs"] = Field.UsageDurationMs, ["costInCents"] = Field.CostInCents,
        ["baseCostInCents"] = Field.BaseCostInCents, ["output"] = Field.Output, ["outputType"] = Field.OutputType,
        ["error"] = Field.Error, ["payload"] = Field.Payload, ["payloadType"] = Field.PayloadType,
        ["runTags"] = Field.RunTags, ["taskVersion"] = Field.TaskVersion, ["sdkVersion"] = Field.SdkVersion,
        ["cliVersion"] = Field.CliVersion, ["machinePreset"] = Field.MachinePreset, ["isTest"] = Field.IsTest,
        ["concurrencyKey"] = Field.ConcurrencyKey, ["bulkActionGroupIds"] = Field.BulkActionGroupIds,
        ["maxDurationInSeconds"] = Field.MaxDurationInSeconds, ["annotations"] = Field.Annotations,
        ["isWarmStart"] = Field.IsWarmStart, ["region"] = Field.Region, ["planType"] = Field.PlanType,
    };

    private static void SetText(TaskRunRecord r, Field f, string v)
    {
        switch (f)
        {
            case Field.Id: r.Id = v; break;
            case Field.FriendlyId: r.FriendlyId = v; break;
            case Field.OrganizationId: r.OrganizationId = v; break;
            case Field.ProjectId: r.ProjectId = v; break;
            case Field.RuntimeEnvironmentId: r.RuntimeEnvironmentId = v; break;
            case Field.EnvironmentType: r.EnvironmentType = v; break;
            case Field.Status: r.Status = v; break;
            case Field.StatusReason: r.StatusReason = v; break;
            case Field.Engine: r.Engine = v; break;
            case Field.TaskIdentifier: r.TaskIdentifier = v; break;
            case Field.Queue: r.Queue = v; break;
            case Field.WorkerQueue: r.WorkerQueue = v; break;
            case Field.ScheduleId: r.ScheduleId = v; break;
            case Field.BatchId: r.BatchId = v; break;
            case Field.RootTaskRunId: r.RootTaskRunId = v; break;
            case Field.ParentTaskRunId: r.ParentTaskRunId = v; break;
            case Field.SpanId: r.SpanId = v; break;
            case Field.TraceId: r.TraceId = v; break;
            case Field.IdempotencyKey: r.IdempotencyKey = v; break;
            case Field.IdempotencyKeyOptions: r.IdempotencyKeyOptions = v; break;
            case Field.Ttl: r.Ttl = v; break;
            case Field.Output: r.Output = v; break;
            case Field.OutputType: r.OutputType = v; break;
            case Field.Error: r.Error = v; break;
            case Field.Payload: r.Payload = v; break;
            case Field.PayloadType: r.PayloadType = v; break;
            case Field.TaskVersion: r.TaskVersion = v; break;
            case Field.SdkVersion: r.SdkVersion = v; break;
            case Field.CliVersion: r.CliVersion = v; break;
            case Field.MachinePreset: r.MachinePreset = v; break;
            case Field.ConcurrencyKey: r.ConcurrencyKey = v; break;
            case Field.Annotations: r.Annotations = v; break;
            case Field.Region: r.Region = v; break;
            case Field.PlanType: r.PlanType = v; break;
        }
    }

    private static void SetNull(TaskRunRecord r, Field f)
    {
        switch (f)
        {
            case Field.Depth or Field.AttemptNumber or Field.UsageDurationMs or Field.MaxDurationInSeconds:
                SetInt(r, f, null); break;
            case Field.CostInCents or Field.BaseCostInCents: SetDouble(r, f, null); break;
            case Field.IsTest: r.IsTest = false; break;
            case Field.IsWarmStart: r.IsWarmStart = null; break;
            case Field.QueueTimestamp or Field.StartedAt or Field.ExecutedAt or Field.CompletedAt or Field.DelayUntil
                or Field.QueuedAt or Field.ExpiredAt: SetTimestamp(r, f, null); break;
            case Field.CreatedAt or Field.UpdatedAt: break; // NOT NULL columns
            case Field.RunTags: r.RunTags = null; break;
            case Field.BulkActionGroupIds: r.BulkActionGroupIds = null; break;
            case Field.Id or Field.FriendlyId or Field.ProjectId or Field.RuntimeEnvironmentId or Field.Status
                or Field.Engine or Field.TaskIdentifier or Field.Queue: SetText(r, f, ""); break;
            default: SetNullableText(r, f); break;
        }
    }

    private static void SetNullableText(TaskRunRecord r, Field f)
    {
        switch (f)
        {
            case Field.OrganizationId: r.OrganizationId = null; break;
            case Field.EnvironmentType: r.EnvironmentType = null; break;
            case Field.StatusReason: r.StatusReason = null; break;
            case Field.WorkerQueue: r.WorkerQueue = null; break;
            case Field.ScheduleId: r.ScheduleId = null; break;
            case Field.BatchId: r.BatchId = null; break;
            case Field.RootTaskRunId: r.RootTaskRunId = null; break;
            case Field.ParentTaskRunId: r.ParentTaskRunId = null; break;
            case Field.SpanId: r.SpanId = null; break;
            case Field.TraceId: r.TraceId = null; break;
            case Field.IdempotencyKey: r.IdempotencyKey = null; break;
            case Field.IdempotencyKeyOptions: r.IdempotencyKeyOptions = null; break;
            case Field.Ttl: r.Ttl = null; break;
            case Field.Output: r.Output = null; break;
            case Field.OutputType: r.OutputType = null; break;
            case Field.Error: r.Error = null; break;
            case Field.Payload: r.Payload = null; break;
            case Field.PayloadType: r.PayloadType = null; break;
            case Field.TaskVersion: r.TaskVersion = null; break;
            case Field.SdkVersion: r.SdkVersion = null; break;
            case Field.CliVersion: r.CliVersion = null; break;
            case Field.MachinePreset: r.MachinePreset = null; break;
            case Field.ConcurrencyKey: r.ConcurrencyKey = null; break;
            case Field.Annotations: r.Annotations = null; break;
            case Field.Region: r.Region = null; break;
            case Field.PlanType: r.PlanType = null; break;
        }
    }

    private static void SetInt(TaskRunRecord r, Field f, int? v)
    {
        switch (f)
        {
            case Field.Depth: r.Depth = v; break;
            case Field.AttemptNumber: r.AttemptNumber = v; break;
            case Field.UsageDurationMs: r.UsageDurationMs = v; break;
            case Field.MaxDurationInSeconds: r.MaxDurationInSeconds = v; break;
        }
    }

    private static void SetDouble(TaskRunRecord r, Field f, double? v)
    {
        if (f == Field.CostInCents) r.CostInCents = v;
        else if (f == Field.BaseCostInCents) r.BaseCostInCents = v;
    }

    private static void SetBool(TaskRunRecord r, Field f, bool v)
    {
        if (f == Field.IsTest) r.IsTest = v;
        else if (f == Field.IsWarmStart) r.IsWarmStart = v;
    }

    private static void SetTimestamp(TaskRunRecord r, Field f, DateTime? v)
    {
        switch (f)
        {
            case Field.CreatedAt: r.CreatedAt = v ?? r.CreatedAt; break;
            case Field.UpdatedAt: r.UpdatedAt = v ?? r.UpdatedAt; break;
            case Field.QueueTimestamp: r.QueueTimestamp = v; break;
            case Field.StartedAt: r.StartedAt = v; break;
            case Field.ExecutedAt: r.ExecutedAt = v; break;
            case Field.CompletedAt: r.CompletedAt = v; break;
            case Field.DelayUntil: r.DelayUntil = v; break;
            case Field.QueuedAt: r.QueuedAt = v; break;
            case Field.ExpiredAt: r.ExpiredAt = v; break;
        }
    }

    private static void SetArray(TaskRunRecord r, Field f, string[] v)
    {
        if (f == Field.RunTags) r.RunTags = v;
        else if (f == Field.BulkActionGroupIds) r.BulkActionGroupIds = v;
    }
}
