using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging.Abstractions;
using RunsReplication.Configuration;
using RunsReplication.Pipeline;
using RunsReplication.Postgres;

namespace RunsReplication.Bench;

/// <summary>Reads a slot through <see cref="ReplicationStream"/> and only counts: the decode ceiling.</summary>
public static class DecodeProfile
{
    public static async Task RunAsync(string slot, int expectedChanges)
    {
        var settings = EnvironmentSettingsReader.ReadFromProcess() with { SlotName = slot, InstanceId = "bench-decode" };
        await using var stream = new ReplicationStream(settings, TimeProvider.System, NullLogger<ReplicationStream>.Instance);
        await stream.OpenAsync(CancellationToken.None);
        var channel = Channel.CreateBounded<StreamEvent>(10_000);
        using var cts = new CancellationTokenSource();
        var sw = Stopwatch.StartNew();
        var reading = stream.RunAsync(channel.Writer, cts.Token);
        var changes = 0;
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        await foreach (var e in channel.Reader.ReadAllAsync())
        {
            if (e.Kind == StreamEventKind.Change && ++changes == expectedChanges)
                break;
        }
        var elapsed = sw.Elapsed;
        var cpuUsed = Process.GetCurrentProcess().TotalProcessorTime - cpu;
        Console.WriteLine($"decode: {changes} changes in {elapsed.TotalSeconds:F2}s = {changes / elapsed.TotalSeconds:F0}/s, cpu {cpuUsed.TotalSeconds:F2}s ({cpuUsed.TotalMicroseconds / changes:F1} us/change)");
        cts.Cancel();
        try { await reading; } catch (OperationCanceledException) { }
    }
}
