using RunsReplication.Model;

namespace RunsReplication.Tests.Mapping;

internal static class TestRuns
{
    public static readonly DateTime Created = new(2025, 6, 1, 12, 34, 56, 789, DateTimeKind.Unspecified);

    public static long Ms(DateTime d) => new DateTimeOffset(DateTime.SpecifyKind(d, DateTimeKind.Utc)).ToUnixTimeMilliseconds();

    /// <summary>A run with every column set.</summary>
    public static TaskRunRecord Full() => new()
    {
        Id = "cm_run_1",
        FriendlyId = "run_abc123",
        OrganizationId = "org_1",
        ProjectId = "proj_1",
        RuntimeEnvironmentId = "env_1",
        EnvironmentType = "PRODUCTION",
        Status = "COMPLETED_SUCCESSFULLY",
        StatusReason = null,
        Engine = "V2",
        TaskIdentifier = "my-task",
        Queue = "task/my-task",
        WorkerQueue = "us-east-1:shard-2",
        ScheduleId = "sched_1",
        BatchId = "batch_1",
        RootTaskRunId = "root_1",
        ParentTaskRunId = "parent_1",
        Depth = 2,
        SpanId = "span_1",
        TraceId = "trace_1",
        IdempotencyKey = "hashed-key",
        IdempotencyKeyOptions = """{"key":"user-key","scope":"global"}""",
        AttemptNumber = 3,
        CreatedAt = Created,
        UpdatedAt = Created.AddSeconds(10),
        QueueTimestamp = Created.AddMilliseconds(1),
        StartedAt = Created.AddSeconds(1),
        ExecutedAt = Created.AddSeconds(2),
        CompletedAt = Created.AddSeconds(3),
        DelayUntil = Created.AddSeconds(4),
        QueuedAt = Created.AddSeconds(5),
        ExpiredAt = Created.AddSeconds(6),
        Ttl = "1h",
        UsageDurationMs = 1234,
        CostInCents = 1.5,
        BaseCostInCents = 0.25,
        Output = """{"result":"ok","n":1}""",
        OutputType = "application/json",
        Error = """{"type":"BUILT_IN_ERROR","name":"Error","message":"boom"}""",
        Payload = """{"input":[1,2,3]}""",
        PayloadType = "application/json",
        RunTags = ["tag-a", "tag-b"],
        TaskVersion = "20250601.1",
        SdkVersion = "4.0.0",
        CliVersion = "4.0.1",
        MachinePreset = "small-1x",
        IsTest = true,
        ConcurrencyKey = "ck",
        BulkActionGroupIds = ["bulk_1", "bulk_2"],
        MaxDurationInSeconds = 300,
        Annotations = """{"triggerSource":"api","rootTriggerSource":"dashboard","taskKind":"STANDARD","externalDeploymentId":"ext_1"}""",
        IsWarmStart = true,
        Region = "eu-central-1",
        PlanType = "pro",
    };

    /// <summary>A run with every nullable column null (but organizationId and environmentType, which gate the row).</summary>
    public static TaskRunRecord Minimal() => new()
    {
        Id = "cm_run_min",
        FriendlyId = "run_min",
        OrganizationId = "org_1",
        ProjectId = "proj_1",
        RuntimeEnvironmentId = "env_1",
        EnvironmentType = "DEVELOPMENT",
        Status = "PENDING",
        Engine = "V1",
        TaskIdentifier = "t",
        Queue = "q",
        CreatedAt = Created,
        UpdatedAt = Created,
    };

    public static TaskRunChange Insert(TaskRunRecord run, ulong version = 42) => new(ChangeKind.Insert, run, version);
    public static TaskRunChange Update(TaskRunRecord run, ulong version = 43) => new(ChangeKind.Update, run, version);
    public static TaskRunChange Delete(TaskRunRecord run, ulong version = 44) => new(ChangeKind.Delete, run, version);
}
