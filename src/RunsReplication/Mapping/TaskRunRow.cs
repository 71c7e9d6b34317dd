namespace RunsReplication.Mapping;

/// <summary>
/// One row for ClickHouse <c>task_runs_v2</c>. Members are declared in Trigger.dev's insert column order
/// (see <c>TaskRunRowWriter.TaskRunColumns</c>). Timestamps are UTC epoch milliseconds; JSON columns
/// (<see cref="Output"/>, <see cref="Error"/>) hold already-sanitised JSON object text written verbatim.
/// </summary>
public sealed class TaskRunRow
{
    public string EnvironmentId { get; set; } = "";
    public string OrganizationId { get; set; } = "";
    public string ProjectId { get; set; } = "";
    public string RunId { get; set; } = "";
    public long UpdatedAt { get; set; }
    public long CreatedAt { get; set; }
    public long? QueueTimestamp { get; set; }
    public string Status { get; set; } = "";
    public string EnvironmentType { get; set; } = "";
    public string FriendlyId { get; set; } = "";
    public int Attempt { get; set; } = 1;
    public string Engine { get; set; } = "";
    public string TaskIdentifier { get; set; } = "";
    public string Queue { get; set; } = "";
    public string ScheduleId { get; set; } = "";
    public string BatchId { get; set; } = "";
    public long? CompletedAt { get; set; }
    public long? StartedAt { get; set; }
    public long? ExecutedAt { get; set; }
    public long? DelayUntil { get; set; }
    public long? QueuedAt { get; set; }
    public long? ExpiredAt { get; set; }
    public int UsageDurationMs { get; set; }
    public double CostInCents { get; set; }
    public double BaseCostInCents { get; set; }
    /// <summary>JSON object text: <c>{"data":…}</c> or <c>{}</c>.</summary>
    public string Output { get; set; } = "{}";
    /// <summary>JSON object text: <c>{"data":…}</c> or <c>{}</c>.</summary>
    public string Error { get; set; } = "{}";
    public string ErrorFingerprint { get; set; } = "";
    public string[] Tags { get; set; } = [];
    public string TaskVersion { get; set; } = "";
    public string SdkVersion { get; set; } = "";
    public string CliVersion { get; set; } = "";
    public string MachinePreset { get; set; } = "";
    public string RootRunId { get; set; } = "";
    public string ParentRunId { get; set; } = "";
    public int Depth { get; set; }
    public string SpanId { get; set; } = "";
    public string TraceId { get; set; } = "";
    public string IdempotencyKey { get; set; } = "";
    public string IdempotencyKeyUser { get; set; } = "";
    public string IdempotencyKeyScope { get; set; } = "";
    public string ExpirationTtl { get; set; } = "";
    public byte IsTest { get; set; }
    public ulong Version { get; set; }
    public byte IsDeleted { get; set; }
    public string ConcurrencyKey { get; set; } = "";
    public string[] BulkActionGroupIds { get; set; } = [];
    public string WorkerQueue { get; set; } = "";
    public string Region { get; set; } = "";
    public string PlanType { get; set; } = "";
    public int? MaxDurationInSeconds { get; set; }
    public string TriggerSource { get; set; } = "";
    public string RootTriggerSource { get; set; } = "";
    public string TaskKind { get; set; } = "";
    public byte? IsWarmStart { get; set; }
    public string ExternalDeploymentId { get; set; } = "";
}

/// <summary>One row for ClickHouse <c>raw_task_runs_payload_v1</c>.</summary>
public sealed class PayloadRow
{
    public string RunId { get; set; } = "";
    /// <summary>UTC epoch milliseconds.</summary>
    public long CreatedAt { get; set; }
    /// <summary>JSON object text: <c>{"data":…}</c> or <c>{}</c>.</summary>
    public string Payload { get; set; } = "{}";
}
