namespace RunsReplication.Model;

/// <summary>
/// One row of PostgreSQL's <c>public."TaskRun"</c> as decoded from the replication stream, holding only the
/// columns the ClickHouse tables need. Property names follow the Prisma model; the PostgreSQL column name is in
/// the comment where it differs. Timestamps are UTC (the columns are <c>timestamp(3) without time zone</c>,
/// written in UTC by the engine). JSON-bearing columns are kept as the raw text PostgreSQL holds, so the mapper
/// decides how to parse and sanitise them.
/// </summary>
public sealed class TaskRunRecord
{
    public string Id { get; set; } = "";
    public string FriendlyId { get; set; } = "";
    public string? OrganizationId { get; set; }
    public string ProjectId { get; set; } = "";
    public string RuntimeEnvironmentId { get; set; } = "";
    /// <summary>Enum RuntimeEnvironmentType text (PRODUCTION, STAGING, DEVELOPMENT, PREVIEW) or null.</summary>
    public string? EnvironmentType { get; set; }
    /// <summary>Enum TaskRunStatus text.</summary>
    public string Status { get; set; } = "";
    public string? StatusReason { get; set; }
    /// <summary>Enum RunEngineVersion text (V1, V2).</summary>
    public string Engine { get; set; } = "";
    public string TaskIdentifier { get; set; } = "";
    public string Queue { get; set; } = "";
    /// <summary>PostgreSQL column <c>masterQueue</c>.</summary>
    public string? WorkerQueue { get; set; }
    public string? ScheduleId { get; set; }
    public string? BatchId { get; set; }
    public string? RootTaskRunId { get; set; }
    public string? ParentTaskRunId { get; set; }
    public int? Depth { get; set; }
    public string? SpanId { get; set; }
    public string? TraceId { get; set; }
    public string? IdempotencyKey { get; set; }
    /// <summary>jsonb text, e.g. <c>{"key":"k","scope":"run"}</c>.</summary>
    public string? IdempotencyKeyOptions { get; set; }
    public int? AttemptNumber { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime UpdatedAt { get; set; }
    public DateTime? QueueTimestamp { get; set; }
    public DateTime? StartedAt { get; set; }
    public DateTime? ExecutedAt { get; set; }
    public DateTime? CompletedAt { get; set; }
    public DateTime? DelayUntil { get; set; }
    public DateTime? QueuedAt { get; set; }
    public DateTime? ExpiredAt { get; set; }
    /// <summary>PostgreSQL column <c>ttl</c>.</summary>
    public string? Ttl { get; set; }
    public int? UsageDurationMs { get; set; }
    public double? CostInCents { get; set; }
    public double? BaseCostInCents { get; set; }
    /// <summary>text column holding the serialised output; see <see cref="OutputType"/>.</summary>
    public string? Output { get; set; }
    public string? OutputType { get; set; }
    /// <summary>jsonb text.</summary>
    public string? Error { get; set; }
    /// <summary>text column holding the serialised payload; see <see cref="PayloadType"/>.</summary>
    public string? Payload { get; set; }
    public string? PayloadType { get; set; }
    /// <summary>PostgreSQL column <c>runTags</c>.</summary>
    public string[]? RunTags { get; set; }
    public string? TaskVersion { get; set; }
    public string? SdkVersion { get; set; }
    public string? CliVersion { get; set; }
    public string? MachinePreset { get; set; }
    public bool IsTest { get; set; }
    public string? ConcurrencyKey { get; set; }
    public string[]? BulkActionGroupIds { get; set; }
    public int? MaxDurationInSeconds { get; set; }
    /// <summary>jsonb text.</summary>
    public string? Annotations { get; set; }
    public bool? IsWarmStart { get; set; }
    public string? Region { get; set; }
    public string? PlanType { get; set; }

    public TaskRunRecord Clone() => (TaskRunRecord)MemberwiseClone();
}

/// <summary>What happened to a TaskRun row.</summary>
public enum ChangeKind : byte
{
    Insert = 0,
    Update = 1,
    Delete = 2,
}

/// <summary>
/// One change to a TaskRun, stamped with the version of the transaction that made it (derived from the commit
/// LSN, so it is the same for every row of a transaction and increases in commit order).
/// </summary>
public sealed record TaskRunChange(ChangeKind Kind, TaskRunRecord Run, ulong Version)
{
    /// <summary>
    /// Roughly what this change costs in memory on its way to ClickHouse: the decoded strings (UTF-16), the mapped
    /// row and its serialised form. Used to bound the pipeline in bytes as well as in rows.
    /// </summary>
    public long ApproximateBytes { get; } = 1024 + 4L * (
        (Run.Payload?.Length ?? 0) + (Run.Output?.Length ?? 0) + (Run.Error?.Length ?? 0) +
        (Run.Annotations?.Length ?? 0) + (Run.IdempotencyKeyOptions?.Length ?? 0) + Run.Id.Length +
        Run.TaskIdentifier.Length + Run.Queue.Length + (Run.RunTags?.Sum(t => t?.Length ?? 0) ?? 0));
}
