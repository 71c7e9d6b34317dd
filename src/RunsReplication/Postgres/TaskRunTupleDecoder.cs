using System.Text;
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
    private enum Read : byte { Skip, Text, RawText, Int, Double, Bool, Timestamp, TextArray }

    private readonly (Field Field, Read Read)[] _columns;

    public string RelationName { get; }

    private TaskRunTupleDecoder(string relationName, (Field, Read)[] columns)
    {
        RelationName = relationName;
        _columns = columns;
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

    // Built-in type OIDs Npgsql reads natively; anything else (our enums) is read as its binary form, which for
    // an enum is the label's UTF-8 text.
    private static Read ReadFor(Field field, uint typeOid) => field switch
    {
        Field.Depth or Field.AttemptNumber or Field.UsageDurationMs or Field.MaxDurationInSeconds => Read.Int,
        Field.CostInCents or Field.BaseCostInCents => Read.Double,
        Field.IsTest or Field.IsWarmStart => Read.Bool,
        Field.CreatedAt or Field.UpdatedAt or Field.QueueTimestamp or Field.StartedAt or Field.ExecutedAt
            or Field.CompletedAt or Field.DelayUntil or Field.QueuedAt or Field.ExpiredAt => Read.Timestamp,
        Field.RunTags or Field.BulkActionGroupIds => Read.TextArray,
        _ => typeOid is 25 or 1043 or 114 or 3802 or 19 or 1042 ? Read.Text : Read.RawText,
    };

    public async ValueTask<TaskRunRecord> DecodeAsync(ReplicationTuple tuple, TaskRunRecord? previous, CancellationToken cancellationToken)
    {
        var run = previous?.Clone() ?? new TaskRunRecord();
        var i = 0;
        await foreach (var value in tuple.ConfigureAwait(false))
        {
            var (field, read) = i < _columns.Length ? _columns[i] : (Field.None, Read.Skip);
            i++;
            if (read == Read.Skip || value.IsUnchangedToastedValue)
                continue;
            if (value.IsDBNull)
            {
                SetNull(run, field);
                continue;
            }
            switch (read)
            {
                case Read.Text:
                    SetText(run, field, await value.Get<string>(cancellationToken).ConfigureAwait(false));
                    break;
                case Read.RawText:
                    SetText(run, field, await ReadRawTextAsync(value, cancellationToken).ConfigureAwait(false));
                    break;
                case Read.Int:
                    SetInt(run, field, await value.Get<int>(cancellationToken).ConfigureAwait(false));
                    break;
                case Read.Double:
                    SetDouble(run, field, await value.Get<double>(cancellationToken).ConfigureAwait(false));
                    break;
                case Read.Bool:
                    SetBool(run, field, await value.Get<bool>(cancellationToken).ConfigureAwait(false));
                    break;
                case Read.Timestamp:
                    var stamp = await value.Get<DateTime>(cancellationToken).ConfigureAwait(false);
                    SetTimestamp(run, field, DateTime.SpecifyKind(stamp, DateTimeKind.Utc));
                    break;
                case Read.TextArray:
                    SetArray(run, field, await value.Get<string[]>(cancellationToken).ConfigureAwait(false));
                    break;
            }
        }
        return run;
    }

    private static async ValueTask<string> ReadRawTextAsync(ReplicationValue value, CancellationToken cancellationToken)
    {
        var length = value.Length;
        if (length == 0)
            return "";
        var buffer = new byte[length];
        await using var stream = value.GetStream();
        await stream.ReadExactlyAsync(buffer, cancellationToken).ConfigureAwait(false);
        return Encoding.UTF8.GetString(buffer);
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
