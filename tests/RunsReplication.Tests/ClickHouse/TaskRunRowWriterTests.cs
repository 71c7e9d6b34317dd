using System.Buffers;
using System.Text;
using System.Text.Json;
using RunsReplication.ClickHouse;
using RunsReplication.Mapping;
using RunsReplication.Tests.Mapping;

namespace RunsReplication.Tests.ClickHouse;

public class TaskRunRowWriterTests
{
    private static string[] Lines(byte[] bytes)
    {
        var text = Encoding.UTF8.GetString(bytes);
        Assert.EndsWith("\n", text);
        return text[..^1].Split('\n');
    }

    [Fact]
    public void ColumnList_MatchesReferenceOrder_AndRowShape()
    {
        Assert.Equal(56, TaskRunRowWriter.TaskRunColumns.Count);
        Assert.Equal(TaskRunRowWriter.TaskRunColumns.Count, TaskRunRowWriter.TaskRunColumns.Distinct().Count());
        Assert.Equal("environment_id", TaskRunRowWriter.TaskRunColumns[0]);
        Assert.Equal("external_deployment_id", TaskRunRowWriter.TaskRunColumns[^1]);
        // TaskRunRow declares one property per column, in the same order.
        var props = typeof(TaskRunRow).GetProperties().Select(p => ToSnake(p.Name)).ToArray();
        Assert.Equal(TaskRunRowWriter.TaskRunColumns.Count, props.Length);
    }

    private static string ToSnake(string name)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0) sb.Append('_');
            sb.Append(char.ToLowerInvariant(name[i]));
        }
        return sb.ToString();
    }

    [Fact]
    public void WritesHeaderAndRows_ParsedBackColumnByColumn()
    {
        var mapper = new TaskRunMapper();
        var full = TestRuns.Full();
        full.Status = "CRASHED";
        full.StatusReason = "EXTERNAL_DEPLOYMENT_PENDING";
        full.TaskIdentifier = "タスク-🚀 \"quoted\" <tag>";
        full.Output = """{"big":123456789012345678901234567890,"s":"é 😀"}""";
        Assert.True(mapper.TryMap(TestRuns.Insert(full, ulong.MaxValue - 1), out var r1, out var p1));
        Assert.True(mapper.TryMap(TestRuns.Update(TestRuns.Minimal(), 5), out var r2, out _));

        var lines = Lines(TaskRunRowWriter.SerializeTaskRuns([r1, r2]));
        Assert.Equal(3, lines.Length);
        // Relaxed escaping: BMP text and HTML-sensitive characters are written as-is (non-BMP as surrogate escapes).
        Assert.Contains("タスク-", lines[1]);
        Assert.Contains("<tag>", lines[1]);
        Assert.Contains("\\\"quoted\\\"", lines[1]);

        using var header = JsonDocument.Parse(lines[0]);
        Assert.Equal(TaskRunRowWriter.TaskRunColumns, header.RootElement.EnumerateArray().Select(e => e.GetString()!).ToArray());

        using var doc = JsonDocument.Parse(lines[1]);
        var cols = TaskRunRowWriter.TaskRunColumns.Select((name, i) => (name, i)).ToDictionary(x => x.name, x => doc.RootElement[x.i]);
        Assert.Equal(56, doc.RootElement.GetArrayLength());
        Assert.Equal("env_1", cols["environment_id"].GetString());
        Assert.Equal("org_1", cols["organization_id"].GetString());
        Assert.Equal("proj_1", cols["project_id"].GetString());
        Assert.Equal("cm_run_1", cols["run_id"].GetString());
        Assert.Equal(r1.UpdatedAt, cols["updated_at"].GetInt64());
        Assert.Equal(1748781296789L, cols["created_at"].GetInt64());
        Assert.Equal(1748781296790L, cols["queue_timestamp"].GetInt64());
        Assert.Equal("CRASHED", cols["status"].GetString());
        Assert.Equal("PRODUCTION", cols["environment_type"].GetString());
        Assert.Equal("run_abc123", cols["friendly_id"].GetString());
        Assert.Equal(3, cols["attempt"].GetInt32());
        Assert.Equal("V2", cols["engine"].GetString());
        Assert.Equal("タスク-🚀 \"quoted\" <tag>", cols["task_identifier"].GetString());
        Assert.Equal("task/my-task", cols["queue"].GetString());
        Assert.Equal("sched_1", cols["schedule_id"].GetString());
        Assert.Equal("batch_1", cols["batch_id"].GetString());
        Assert.Equal(r1.CompletedAt, cols["completed_at"].GetInt64());
        Assert.Equal(r1.StartedAt, cols["started_at"].GetInt64());
        Assert.Equal(r1.ExecutedAt, cols["executed_at"].GetInt64());
        Assert.Equal(r1.DelayUntil, cols["delay_until"].GetInt64());
        Assert.Equal(r1.QueuedAt, cols["queued_at"].GetInt64());
        Assert.Equal(r1.ExpiredAt, cols["expired_at"].GetInt64());
        Assert.Equal(1234, cols["usage_duration_ms"].GetInt32());
        Assert.Equal(1.5, cols["cost_in_cents"].GetDouble());
        Assert.Equal(0.25, cols["base_cost_in_cents"].GetDouble());
        Assert.Equal(JsonValueKind.Object, cols["output"].ValueKind);
        Assert.Equal("123456789012345678901234567890", cols["output"].GetProperty("data").GetProperty("big").GetString());
        Assert.Equal("é 😀", cols["output"].GetProperty("data").GetProperty("s").GetString());
        Assert.Equal("boom", cols["error"].GetProperty("data").GetProperty("message").GetString());
        Assert.Equal(16, cols["error_fingerprint"].GetString()!.Length);
        Assert.Equal(["tag-a", "tag-b"], cols["tags"].EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("20250601.1", cols["task_version"].GetString());
        Assert.Equal("4.0.0", cols["sdk_version"].GetString());
        Assert.Equal("4.0.1", cols["cli_version"].GetString());
        Assert.Equal("small-1x", cols["machine_preset"].GetString());
        Assert.Equal("root_1", cols["root_run_id"].GetString());
        Assert.Equal("parent_1", cols["parent_run_id"].GetString());
        Assert.Equal(2, cols["depth"].GetInt32());
        Assert.Equal("span_1", cols["span_id"].GetString());
        Assert.Equal("trace_1", cols["trace_id"].GetString());
        Assert.Equal("hashed-key", cols["idempotency_key"].GetString());
        Assert.Equal("user-key", cols["idempotency_key_user"].GetString());
        Assert.Equal("global", cols["idempotency_key_scope"].GetString());
        Assert.Equal("1h", cols["expiration_ttl"].GetString());
        Assert.Equal(1, cols["is_test"].GetInt32());
        Assert.Equal(JsonValueKind.Number, cols["_version"].ValueKind);
        Assert.Equal(ulong.MaxValue - 1, cols["_version"].GetUInt64());
        Assert.Equal(0, cols["_is_deleted"].GetInt32());
        Assert.Equal("ck", cols["concurrency_key"].GetString());
        Assert.Equal(["bulk_1", "bulk_2"], cols["bulk_action_group_ids"].EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("us-east-1", cols["worker_queue"].GetString());
        Assert.Equal("eu-central-1", cols["region"].GetString());
        Assert.Equal("pro", cols["plan_type"].GetString());
        Assert.Equal(300, cols["max_duration_in_seconds"].GetInt32());
        Assert.Equal("api", cols["trigger_source"].GetString());
        Assert.Equal("dashboard", cols["root_trigger_source"].GetString());
        Assert.Equal("STANDARD", cols["task_kind"].GetString());
        Assert.Equal(1, cols["is_warm_start"].GetInt32());
        Assert.Equal("ext_1", cols["external_deployment_id"].GetString());

        using var doc2 = JsonDocument.Parse(lines[2]);
        var row2 = doc2.RootElement;
        string[] nullable = ["queue_timestamp", "completed_at", "started_at", "executed_at", "delay_until", "queued_at",
            "expired_at", "max_duration_in_seconds", "is_warm_start"];
        for (var i = 0; i < TaskRunRowWriter.TaskRunColumns.Count; i++)
        {
            var name = TaskRunRowWriter.TaskRunColumns[i];
            if (nullable.Contains(name)) Assert.Equal(JsonValueKind.Null, row2[i].ValueKind);
            else Assert.NotEqual(JsonValueKind.Null, row2[i].ValueKind);
        }
        Assert.Equal(5UL, row2[TaskRunRowWriter.TaskRunColumns.ToList().IndexOf("_version")].GetUInt64());
        Assert.Equal("{}", row2[TaskRunRowWriter.TaskRunColumns.ToList().IndexOf("output")].GetRawText());

        var payloadLines = Lines(TaskRunRowWriter.SerializePayloads([p1!]));
        Assert.Equal("""["run_id","created_at","payload"]""", payloadLines[0]);
        Assert.Equal("""["cm_run_1",1748781296789,{"data":{"input":[1,2,3]}}]""", payloadLines[1]);
    }

    [Fact]
    public void StreamAndBufferWriterOutputsAreIdentical()
    {
        var mapper = new TaskRunMapper();
        var rows = Enumerable.Range(0, 2000).Select(i =>
        {
            var run = TestRuns.Full();
            run.Id = $"run_{i:D6}";
            return mapper.Map(TestRuns.Update(run, (ulong)i))!;
        }).ToList();
        var expected = TaskRunRowWriter.SerializeTaskRuns(rows);
        using var ms = new MemoryStream();
        TaskRunRowWriter.WriteTaskRuns(ms, rows);
        Assert.Equal(expected, ms.ToArray());
        Assert.Equal(2001, Lines(expected).Length);

        var payloads = rows.Select(r => new PayloadRow { RunId = r.RunId, CreatedAt = r.CreatedAt, Payload = "{}" }).ToList();
        using var ms2 = new MemoryStream();
        TaskRunRowWriter.WritePayloads(ms2, payloads);
        Assert.Equal(TaskRunRowWriter.SerializePayloads(payloads), ms2.ToArray());
    }

    [Fact]
    public void Serialises10kRows()
    {
        var mapper = new TaskRunMapper();
        var rows = new List<TaskRunRow>(10_000);
        for (var i = 0; i < 10_000; i++)
        {
            var run = TestRuns.Full();
            run.Id = "run_" + i;
            rows.Add(mapper.Map(TestRuns.Update(run, (ulong)i))!);
        }
        var buffer = new ArrayBufferWriter<byte>(8 * 1024 * 1024);
        for (var pass = 0; pass < 3; pass++) // informational only: the later passes show the warmed-up rate
        {
            buffer.ResetWrittenCount();
            var sw = System.Diagnostics.Stopwatch.StartNew();
            TaskRunRowWriter.WriteTaskRuns(buffer, rows);
            sw.Stop();
            Console.WriteLine($"pass {pass}: serialised 10k rows in {sw.Elapsed.TotalMilliseconds:F1} ms ({buffer.WrittenCount} bytes)");
        }
        Assert.Equal(10_001, Encoding.UTF8.GetString(buffer.WrittenSpan).Count(c => c == '\n'));
    }

    [Fact]
    public void InsertStatements()
    {
        Assert.Equal("INSERT INTO trigger_dev.task_runs_v2 FORMAT JSONCompactEachRowWithNames", TaskRunRowWriter.BuildTaskRunsInsert());
        Assert.Equal("INSERT INTO my_db.raw_task_runs_payload_v1 FORMAT JSONCompactEachRowWithNames", TaskRunRowWriter.BuildPayloadsInsert("my_db"));
        Assert.Throws<ArgumentException>(() => TaskRunRowWriter.BuildTaskRunsInsert("x; DROP TABLE y"));
    }

    [Fact]
    public void SortOrder_FollowsTableOrderBy()
    {
        TaskRunRow R(string org, string proj, string env, long created, string id) =>
            new() { OrganizationId = org, ProjectId = proj, EnvironmentId = env, CreatedAt = created, RunId = id };
        var expected = new[]
        {
            R("org_A", "p1", "e1", 5, "r1"),
            R("org_B", "p1", "e1", 1, "r9"),
            R("org_B", "p2", "e0", 1, "r1"),
            R("org_B", "p2", "e1", 1, "r2"),
            R("org_B", "p2", "e1", 2, "r0"),
            R("org_B", "p2", "e1", 2, "r1"),
            R("org_a", "p0", "e0", 0, "r0"), // ordinal: 'a' sorts after 'B'
        };
        var shuffled = expected.Reverse().ToList();
        (shuffled[1], shuffled[4]) = (shuffled[4], shuffled[1]);
        shuffled.Sort(TaskRunRowSortComparer.Instance);
        Assert.Equal(expected, shuffled);

        var payloads = new List<PayloadRow> { new() { RunId = "run_b" }, new() { RunId = "run_B" }, new() { RunId = "run_a" } };
        payloads.Sort(PayloadRowSortComparer.Instance);
        Assert.Equal(["run_B", "run_a", "run_b"], payloads.Select(p => p.RunId));
    }
}
