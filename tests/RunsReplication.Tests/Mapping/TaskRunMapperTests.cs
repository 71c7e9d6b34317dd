using System.Text.Json;
using RunsReplication.Mapping;
using RunsReplication.Model;

namespace RunsReplication.Tests.Mapping;

public class TaskRunMapperTests
{
    private static TaskRunRow MapRow(TaskRunRecord run, TaskRunMapper? mapper = null)
    {
        Assert.True((mapper ?? new TaskRunMapper()).TryMap(TestRuns.Update(run), out var row, out _));
        return row;
    }

    private static string Output(string? output, string? type = "application/json", TaskRunMapper? mapper = null)
    {
        var run = TestRuns.Minimal();
        run.Output = output;
        run.OutputType = type;
        return MapRow(run, mapper).Output;
    }

    [Fact]
    public void FullyPopulatedRun_MapsEveryColumn()
    {
        var run = TestRuns.Full();
        var mapper = new TaskRunMapper();
        Assert.True(mapper.TryMap(TestRuns.Insert(run, 123456789012345UL), out var r, out var p));

        Assert.Equal("env_1", r.EnvironmentId);
        Assert.Equal("org_1", r.OrganizationId);
        Assert.Equal("proj_1", r.ProjectId);
        Assert.Equal("cm_run_1", r.RunId);
        Assert.Equal(TestRuns.Ms(run.UpdatedAt), r.UpdatedAt);
        Assert.Equal(TestRuns.Ms(run.CreatedAt), r.CreatedAt);
        Assert.Equal(1748781296789L, r.CreatedAt);
        Assert.Equal(r.CreatedAt + 1, r.QueueTimestamp);
        Assert.Equal("COMPLETED_SUCCESSFULLY", r.Status);
        Assert.Equal("PRODUCTION", r.EnvironmentType);
        Assert.Equal("run_abc123", r.FriendlyId);
        Assert.Equal(3, r.Attempt);
        Assert.Equal("V2", r.Engine);
        Assert.Equal("my-task", r.TaskIdentifier);
        Assert.Equal("task/my-task", r.Queue);
        Assert.Equal("sched_1", r.ScheduleId);
        Assert.Equal("batch_1", r.BatchId);
        Assert.Equal(r.CreatedAt + 3000, r.CompletedAt);
        Assert.Equal(r.CreatedAt + 1000, r.StartedAt);
        Assert.Equal(r.CreatedAt + 2000, r.ExecutedAt);
        Assert.Equal(r.CreatedAt + 4000, r.DelayUntil);
        Assert.Equal(r.CreatedAt + 5000, r.QueuedAt);
        Assert.Equal(r.CreatedAt + 6000, r.ExpiredAt);
        Assert.Equal(1234, r.UsageDurationMs);
        Assert.Equal(1.5, r.CostInCents);
        Assert.Equal(0.25, r.BaseCostInCents);
        Assert.Equal("""{"data":{"result":"ok","n":1}}""", r.Output);
        Assert.Equal("""{"data":{"type":"BUILT_IN_ERROR","name":"Error","message":"boom"}}""", r.Error);
        Assert.Equal("", r.ErrorFingerprint); // not a failure status
        Assert.Equal(["tag-a", "tag-b"], r.Tags);
        Assert.Equal("20250601.1", r.TaskVersion);
        Assert.Equal("4.0.0", r.SdkVersion);
        Assert.Equal("4.0.1", r.CliVersion);
        Assert.Equal("small-1x", r.MachinePreset);
        Assert.Equal("root_1", r.RootRunId);
        Assert.Equal("parent_1", r.ParentRunId);
        Assert.Equal(2, r.Depth);
        Assert.Equal("span_1", r.SpanId);
        Assert.Equal("trace_1", r.TraceId);
        Assert.Equal("hashed-key", r.IdempotencyKey);
        Assert.Equal("user-key", r.IdempotencyKeyUser);
        Assert.Equal("global", r.IdempotencyKeyScope);
        Assert.Equal("1h", r.ExpirationTtl);
        Assert.Equal(1, r.IsTest);
        Assert.Equal(123456789012345UL, r.Version);
        Assert.Equal(0, r.IsDeleted);
        Assert.Equal("ck", r.ConcurrencyKey);
        Assert.Equal(["bulk_1", "bulk_2"], r.BulkActionGroupIds);
        Assert.Equal("us-east-1", r.WorkerQueue);
        Assert.Equal("eu-central-1", r.Region);
        Assert.Equal("pro", r.PlanType);
        Assert.Equal(300, r.MaxDurationInSeconds);
        Assert.Equal("api", r.TriggerSource);
        Assert.Equal("dashboard", r.RootTriggerSource);
        Assert.Equal("STANDARD", r.TaskKind);
        Assert.Equal((byte)1, r.IsWarmStart);
        Assert.Equal("", r.ExternalDeploymentId); // statusReason is not EXTERNAL_DEPLOYMENT_PENDING

        Assert.NotNull(p);
        Assert.Equal("cm_run_1", p!.RunId);
        Assert.Equal(r.CreatedAt, p.CreatedAt);
        Assert.Equal("""{"data":{"input":[1,2,3]}}""", p.Payload);
        Assert.Equal(0, mapper.SkippedRuns);
    }

    [Fact]
    public void NullColumns_GetDefaults()
    {
        var mapper = new TaskRunMapper();
        Assert.True(mapper.TryMap(TestRuns.Insert(TestRuns.Minimal(), 7), out var r, out var p));
        Assert.Null(r.QueueTimestamp);
        Assert.Null(r.StartedAt);
        Assert.Null(r.ExecutedAt);
        Assert.Null(r.CompletedAt);
        Assert.Null(r.DelayUntil);
        Assert.Null(r.QueuedAt);
        Assert.Null(r.ExpiredAt);
        Assert.Null(r.MaxDurationInSeconds);
        Assert.Null(r.IsWarmStart);
        Assert.Equal(1, r.Attempt);
        Assert.Equal(0, r.Depth);
        Assert.Equal(0, r.UsageDurationMs);
        Assert.Equal(0d, r.CostInCents);
        Assert.Equal(0d, r.BaseCostInCents);
        Assert.Empty(r.Tags);
        Assert.Empty(r.BulkActionGroupIds);
        Assert.Equal("{}", r.Output);
        Assert.Equal("{}", r.Error);
        foreach (var s in new[]
                 {
                     r.ScheduleId, r.BatchId, r.RootRunId, r.ParentRunId, r.SpanId, r.TraceId, r.IdempotencyKey,
                     r.IdempotencyKeyUser, r.IdempotencyKeyScope, r.ExpirationTtl, r.TaskVersion, r.SdkVersion,
                     r.CliVersion, r.MachinePreset, r.ConcurrencyKey, r.WorkerQueue, r.Region, r.PlanType,
                     r.TriggerSource, r.RootTriggerSource, r.TaskKind, r.ExternalDeploymentId, r.ErrorFingerprint,
                 })
            Assert.Equal("", s);
        Assert.Equal(0, r.IsTest);
        Assert.Equal(7UL, r.Version);
        Assert.NotNull(p);
        Assert.Equal("{}", p!.Payload);
    }

    [Fact]
    public void Unicode_IsPreserved()
    {
        var run = TestRuns.Minimal();
        run.TaskIdentifier = "任务-🚀";
        run.RunTags = ["标签", "emoji-😀"];
        run.Output = """{"msg":"こんにちは 🌍","esc":"\u00e9\ud83d\ude00"}""";
        run.OutputType = "application/json";
        var r = MapRow(run);
        Assert.Equal("任务-🚀", r.TaskIdentifier);
        Assert.Equal(["标签", "emoji-😀"], r.Tags);
        using var doc = JsonDocument.Parse(r.Output);
        Assert.Equal("こんにちは 🌍", doc.RootElement.GetProperty("data").GetProperty("msg").GetString());
        Assert.Equal("é😀", doc.RootElement.GetProperty("data").GetProperty("esc").GetString());
    }

    [Theory]
    [InlineData("""{"a":1}""", """{"data":{"a":1}}""")]
    [InlineData("""[1,"two",{"three":3}]""", """{"data":[1,"two",{"three":3}]}""")]
    [InlineData("\"just a string\"", """{"data":"just a string"}""")]
    [InlineData("42.5", """{"data":42.5}""")]
    [InlineData("true", """{"data":true}""")]
    [InlineData("null", """{"data":null}""")]
    [InlineData("""{"a":{"b":{"c":[{"d":null}]}}}""", """{"data":{"a":{"b":{"c":[{"d":null}]}}}}""")]
    [InlineData("  {\"a\" : 1 }  ", "{\"data\":  {\"a\" : 1 }  }")]
    public void Output_JsonShapes_AreWrappedInData(string output, string expected)
    {
        var actual = Output(output);
        Assert.Equal(expected, actual);
        using var _ = JsonDocument.Parse(actual);
    }

    [Fact]
    public void Output_SuperJson_UsesJsonPart()
    {
        Assert.Equal("""{"data":{"when":"2025-01-01T00:00:00.000Z","n":[1,2]}}""",
            Output("""{"json":{"when":"2025-01-01T00:00:00.000Z","n":[1,2]},"meta":{"values":{"when":["Date"]}}}""", "application/super+json"));
        Assert.Equal("""{"data":"hi"}""", Output("""{"meta":{},"json":"hi"}""", "application/super+json"));
        Assert.Equal("{}", Output("""{"meta":{}}""", "application/super+json"));
        Assert.Equal("{}", Output("""[1,2]""", "application/super+json"));
        Assert.Equal("{}", Output("""{"json":""", "application/super+json"));
    }

    [Theory]
    [InlineData("application/store")]
    [InlineData("text/plain")]
    [InlineData(null)]
    [InlineData("APPLICATION/JSON")]
    public void Output_NonJsonType_IsEmptyObject(string? type) => Assert.Equal("{}", Output("""{"a":1}""", type));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public void Output_Empty_IsEmptyObject(string? output) => Assert.Equal("{}", Output(output));

    [Theory]
    [InlineData("{not json")]
    [InlineData("{\"a\":1} trailing")]
    [InlineData("undefined")]
    [InlineData("   ")]
    public void Output_InvalidJson_IsEmptyObject(string output)
    {
        var mapper = new TaskRunMapper();
        Assert.Equal("{}", Output(output, mapper: mapper));
        Assert.Equal(1, mapper.JsonInvalid);
        Assert.Equal(1, mapper.JsonValuesEmptied);
    }

    [Fact]
    public void Output_LoneSurrogate_IsEmptyObjectByDefault_OrReplacedWhenConfigured()
    {
        const string bad = """{"text":"bad \ud800 here","ok":"\ud83d\ude00"}""";
        var mapper = new TaskRunMapper();
        Assert.Equal("{}", Output(bad, mapper: mapper));
        Assert.Equal(1, mapper.JsonLoneSurrogates);

        var keep = new TaskRunMapper(new TaskRunMapperOptions { EmptyJsonOnLoneSurrogate = false });
        var kept = Output(bad, mapper: keep);
        using var doc = JsonDocument.Parse(kept);
        Assert.Equal("bad [invalid-utf16] here", doc.RootElement.GetProperty("data").GetProperty("text").GetString());
        Assert.Equal("😀", doc.RootElement.GetProperty("data").GetProperty("ok").GetString());
        Assert.Equal(1, keep.JsonValuesRewritten);

        var fffd = new TaskRunMapper(new TaskRunMapperOptions
        {
            EmptyJsonOnLoneSurrogate = false,
            LoneSurrogateReplacement = LoneSurrogateReplacement.ReplacementCharacter,
        });
        using var doc2 = JsonDocument.Parse(Output(bad, mapper: fffd));
        Assert.Equal("bad \uFFFD here", doc2.RootElement.GetProperty("data").GetProperty("text").GetString());
    }

    [Fact]
    public void Output_HugeIntegers_BecomeStrings()
    {
        var mapper = new TaskRunMapper();
        var output = Output("""{"big":123456789012345678901234567890,"neg":-99999999999999999999,"u64":18446744073709551615,"f":1.5e300}""", mapper: mapper);
        Assert.Equal("""{"data":{"big":"123456789012345678901234567890","neg":"-99999999999999999999","u64":18446744073709551615,"f":1.5e300}}""", output);
        Assert.Equal(1, mapper.JsonValuesRewritten);
    }

    [Fact]
    public void Output_TooDeep_IsEmptyObject()
    {
        var deep = new string('[', 1500) + new string(']', 1500);
        var mapper = new TaskRunMapper();
        Assert.Equal("{}", Output(deep, mapper: mapper));
        Assert.Equal(1, mapper.JsonTooDeep);
        var ok = new string('[', 200) + new string(']', 200);
        Assert.Equal("{\"data\":" + ok + "}", Output(ok));
    }

    [Fact]
    public void Error_IsWrappedInData()
    {
        var run = TestRuns.Minimal();
        run.Error = """{"type":"STRING_ERROR","raw":"oops"}""";
        Assert.Equal("""{"data":{"type":"STRING_ERROR","raw":"oops"}}""", MapRow(run).Error);
    }

    [Theory]
    [InlineData("main", "main")]
    [InlineData("us-east-1:shard-2", "us-east-1")]
    [InlineData("a:b:c", "a")]
    [InlineData(":x", "")]
    [InlineData("", "")]
    [InlineData(null, "")]
    public void WorkerQueue_IsCutAtFirstColon(string? masterQueue, string expected)
    {
        var run = TestRuns.Minimal();
        run.WorkerQueue = masterQueue;
        Assert.Equal(expected, MapRow(run).WorkerQueue);
    }

    [Theory]
    [InlineData("""{"key":"k1","scope":"run"}""", "k1", "run")]
    [InlineData("""{"key":"k2","scope":"attempt","extra":{"x":1}}""", "k2", "attempt")]
    [InlineData("""{"key":"k3"}""", "k3", "")]
    [InlineData("""{"scope":"global"}""", "", "global")]
    [InlineData("""{"key":5,"scope":null}""", "", "")]
    [InlineData("""[1,2]""", "", "")]
    [InlineData("""not json""", "", "")]
    [InlineData(null, "", "")]
    public void IdempotencyKeyOptions_AreRead(string? options, string user, string scope)
    {
        var run = TestRuns.Minimal();
        run.IdempotencyKeyOptions = options;
        var r = MapRow(run);
        Assert.Equal(user, r.IdempotencyKeyUser);
        Assert.Equal(scope, r.IdempotencyKeyScope);
    }

    [Theory]
    [InlineData("""{"triggerSource":"sdk","rootTriggerSource":"schedule","taskKind":"SCHEDULED"}""", "sdk", "schedule", "SCHEDULED")]
    [InlineData("""{"triggerSource":"cli"}""", "cli", "", "")]
    [InlineData("""{"triggerSource":1,"rootTriggerSource":"api","taskKind":"AGENT"}""", "", "", "")]
    [InlineData("""["api"]""", "", "", "")]
    [InlineData("""oops""", "", "", "")]
    [InlineData(null, "", "", "")]
    public void Annotations_AreReadOnlyWhenValid(string? annotations, string source, string root, string kind)
    {
        var run = TestRuns.Minimal();
        run.Annotations = annotations;
        var r = MapRow(run);
        Assert.Equal(source, r.TriggerSource);
        Assert.Equal(root, r.RootTriggerSource);
        Assert.Equal(kind, r.TaskKind);
    }

    [Fact]
    public void ExternalDeploymentId_OnlyWhenPendingExternalDeployment_EvenIfAnnotationsInvalid()
    {
        var run = TestRuns.Minimal();
        run.Annotations = """{"triggerSource":42,"externalDeploymentId":"ext_9"}""";
        Assert.Equal("", MapRow(run).ExternalDeploymentId);
        run.StatusReason = "EXTERNAL_DEPLOYMENT_PENDING";
        var r = MapRow(run);
        Assert.Equal("ext_9", r.ExternalDeploymentId);
        Assert.Equal("", r.TriggerSource);
    }

    [Fact]
    public void Delete_SetsIsDeleted_AndNoPayload()
    {
        var mapper = new TaskRunMapper();
        Assert.True(mapper.TryMap(TestRuns.Delete(TestRuns.Full(), 99), out var r, out var p));
        Assert.Equal(1, r.IsDeleted);
        Assert.Equal(99UL, r.Version);
        Assert.Null(p);
    }

    [Fact]
    public void Payload_OnlyOnInsert_AndNotWhenDisabled()
    {
        var mapper = new TaskRunMapper();
        Assert.True(mapper.TryMap(TestRuns.Insert(TestRuns.Full()), out _, out var p1));
        Assert.NotNull(p1);
        Assert.True(mapper.TryMap(TestRuns.Update(TestRuns.Full()), out _, out var p2));
        Assert.Null(p2);

        var disabled = new TaskRunMapper(new TaskRunMapperOptions { DisablePayloadInserts = true });
        Assert.True(disabled.TryMap(TestRuns.Insert(TestRuns.Full()), out var row, out var p3));
        Assert.NotNull(row);
        Assert.Null(p3);
    }

    [Fact]
    public void Payload_SuperJsonAndStoreTypes()
    {
        var run = TestRuns.Full();
        run.Payload = """{"json":{"a":1},"meta":{}}""";
        run.PayloadType = "application/super+json";
        Assert.True(new TaskRunMapper().TryMap(TestRuns.Insert(run), out _, out var p));
        Assert.Equal("""{"data":{"a":1}}""", p!.Payload);

        run.Payload = "packets/abc/payload.json";
        run.PayloadType = "application/store";
        Assert.True(new TaskRunMapper().TryMap(TestRuns.Insert(run), out _, out p));
        Assert.Equal("{}", p!.Payload);
    }

    [Fact]
    public void RunsWithoutOrganizationOrEnvironmentType_AreSkippedAndCounted()
    {
        var mapper = new TaskRunMapper();
        var noOrg = TestRuns.Full();
        noOrg.OrganizationId = null;
        var noEnvType = TestRuns.Full();
        noEnvType.EnvironmentType = null;
        Assert.False(mapper.TryMap(TestRuns.Insert(noOrg), out _, out var p));
        Assert.Null(p);
        Assert.Null(mapper.Map(TestRuns.Update(noEnvType)));
        Assert.Equal(2, mapper.SkippedRuns);
        Assert.NotNull(mapper.Map(TestRuns.Update(TestRuns.Full())));
        Assert.Equal(2, mapper.SkippedRuns);
    }

    [Theory]
    [InlineData("SYSTEM_FAILURE", true)]
    [InlineData("CRASHED", true)]
    [InlineData("INTERRUPTED", true)]
    [InlineData("COMPLETED_WITH_ERRORS", true)]
    [InlineData("TIMED_OUT", true)]
    [InlineData("COMPLETED_SUCCESSFULLY", false)]
    [InlineData("CANCELED", false)]
    [InlineData("EXPIRED", false)]
    [InlineData("EXECUTING", false)]
    public void ErrorFingerprint_OnlyForFailureStatuses(string status, bool expected)
    {
        var run = TestRuns.Full();
        run.Status = status;
        run.Error = """{"message":"boom"}""";
        Assert.Equal(expected ? "1c0cb85b275141a0" : "", MapRow(run).ErrorFingerprint);
    }

    [Fact]
    public void ErrorFingerprint_CanBeDisabled()
    {
        var run = TestRuns.Full();
        run.Status = "CRASHED";
        var mapper = new TaskRunMapper(new TaskRunMapperOptions { DisableErrorFingerprinting = true });
        Assert.Equal("", MapRow(run, mapper).ErrorFingerprint);
    }

    [Fact]
    public void Timestamps_AreUtcEpochMilliseconds()
    {
        Assert.Equal(0, TaskRunMapper.ToEpochMs(DateTime.UnixEpoch));
        Assert.Equal(1_700_000_000_123, TaskRunMapper.ToEpochMs(new DateTime(2023, 11, 14, 22, 13, 20, 123, DateTimeKind.Unspecified)));
        Assert.Equal(1_700_000_000_123, TaskRunMapper.ToEpochMs(new DateTime(2023, 11, 14, 22, 13, 20, 123, DateTimeKind.Utc)));
        Assert.Null(TaskRunMapper.ToEpochMs((DateTime?)null));
    }

    [Fact]
    public void IsWarmStartFalse_IsZero()
    {
        var run = TestRuns.Minimal();
        run.IsWarmStart = false;
        Assert.Equal((byte)0, MapRow(run).IsWarmStart);
    }
}
