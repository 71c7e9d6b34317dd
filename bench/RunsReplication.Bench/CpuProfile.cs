using System.Buffers;
using System.Diagnostics;
using System.IO.Compression;
using RunsReplication.ClickHouse;
using RunsReplication.Mapping;
using RunsReplication.Model;

namespace RunsReplication.Bench;

/// <summary>Times the CPU stages after decoding (map, serialise, compress) on synthetic runs, one core.</summary>
public static class CpuProfile
{
    public static void Run(int count)
    {
        var changes = Enumerable.Range(0, count).Select(i => new TaskRunChange(ChangeKind.Insert, SyntheticRuns.Create(i), (ulong)i)).ToArray();
        var mapper = new TaskRunMapper();
        // Reused across rounds, as the sink reuses its buffers: measures the writer, not buffer growth.
        var buffer = new ArrayBufferWriter<byte>();
        var payloadBuffer = new ArrayBufferWriter<byte>();
        for (var round = 0; round < 5; round++)
        {
            var sw = Stopwatch.StartNew();
            var rows = new List<TaskRunRow>(count);
            var payloads = new List<PayloadRow>(count);
            foreach (var c in changes)
                if (mapper.TryMap(c, out var row, out var payload)) { rows.Add(row); if (payload is not null) payloads.Add(payload); }
            var map = sw.Elapsed;
            sw.Restart();
            buffer.ResetWrittenCount();
            payloadBuffer.ResetWrittenCount();
            TaskRunRowWriter.WriteTaskRuns(buffer, rows);
            TaskRunRowWriter.WritePayloads(payloadBuffer, payloads);
            var write = sw.Elapsed;
            sw.Restart();
            using (var gzip = new GZipStream(Stream.Null, CompressionLevel.Fastest))
            {
                gzip.Write(buffer.WrittenSpan);
                gzip.Write(payloadBuffer.WrittenSpan);
            }
            var compress = sw.Elapsed;
            Console.WriteLine($"round {round}: {count} runs map {Us(map, count):F2} us/row, serialise {Us(write, count):F2} us/row ({(buffer.WrittenCount + payloadBuffer.WrittenCount) / count} bytes/row), gzip {Us(compress, count):F2} us/row");
        }
    }

    private static double Us(TimeSpan t, int n) => t.TotalMicroseconds / n;
}

public static class SyntheticRuns
{
    private static readonly DateTime Epoch = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    public static TaskRunRecord Create(int i) => new()
    {
        Id = $"run_{i:D10}", FriendlyId = $"run_friendly_{i}", OrganizationId = "org_1", ProjectId = "proj_1",
        RuntimeEnvironmentId = $"env_{i % 10}", EnvironmentType = "PRODUCTION", Status = "COMPLETED_SUCCESSFULLY",
        Engine = "V2", TaskIdentifier = "my-task", Queue = "task/my-task", WorkerQueue = "main:region",
        TraceId = $"trace{i}", SpanId = $"span{i}", CreatedAt = Epoch.AddMilliseconds(i), UpdatedAt = Epoch.AddMilliseconds(i + 5),
        StartedAt = Epoch.AddMilliseconds(i + 1), CompletedAt = Epoch.AddMilliseconds(i + 4),
        Payload = $$"""{"n":{{i}},"text":"some payload text here"}""", PayloadType = "application/json",
        Output = $$"""{"result":{{i}}}""", OutputType = "application/json", RunTags = ["a", "b"],
        TaskVersion = "20260101.1", SdkVersion = "4.0.0", CliVersion = "4.0.0", MachinePreset = "small-1x",
        UsageDurationMs = 1200, CostInCents = 0.01, BaseCostInCents = 0.0025, AttemptNumber = 1,
    };
}
