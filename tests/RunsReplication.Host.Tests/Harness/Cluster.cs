using System.Globalization;
using System.Text.Json;

namespace RunsReplication.Host.Tests.Harness;

/// <summary>
/// Several replicator processes on one fixture, as a Deployment runs them, plus a sampler that records who holds
/// the slot (PostgreSQL's view) and who says it leads (each process's view) every 100 ms.
/// </summary>
public sealed class Cluster : IAsyncDisposable
{
    private readonly ReplicationFixture _fixture;
    private readonly Dictionary<string, string> _overrides;
    private readonly List<ReplicatorProcess> _all = [];
    private readonly CancellationTokenSource _stopSampling = new();
    private Task? _sampling;

    public List<ReplicatorProcess> Members { get; } = [];
    public List<Sample> Samples { get; } = [];
    /// <summary>Instances we paused: they cannot answer, and PostgreSQL may still list their walsender.</summary>
    public HashSet<string> Paused { get; } = [];

    public sealed record Sample(DateTime At, string? SlotHolder, IReadOnlyList<string> Streaming);

    public Cluster(ReplicationFixture fixture, Dictionary<string, string>? overrides = null)
    {
        _fixture = fixture;
        _overrides = overrides ?? [];
    }

    public ReplicatorProcess Start(string instanceId)
    {
        var process = ReplicatorProcess.Start(_fixture, instanceId, _overrides);
        Members.Add(process);
        _all.Add(process);
        return process;
    }

    public void Remove(ReplicatorProcess process) => Members.Remove(process);

    public void StartSampling() => _sampling = SampleAsync(_stopSampling.Token);

    private async Task SampleAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var holder = await _fixture.SlotHolderAsync();
                var streaming = new List<string>();
                foreach (var member in Members.ToArray())
                {
                    if (Paused.Contains(member.InstanceId) || member.HasExited)
                        continue;
                    if (await member.StatusAsync() is { } status && status.GetProperty("streaming").GetBoolean())
                        streaming.Add(member.InstanceId);
                }
                lock (Samples)
                    Samples.Add(new Sample(DateTime.UtcNow, holder, streaming));
            }
            catch (Exception)
            {
                // PostgreSQL restarting: no sample this tick.
            }
            try { await Task.Delay(100, cancellationToken); } catch (OperationCanceledException) { }
        }
    }

    public async Task StopSamplingAsync()
    {
        await _stopSampling.CancelAsync();
        if (_sampling is not null)
            await _sampling;
    }

    /// <summary>The one member that says it leads and streams, waiting up to <paramref name="timeout"/>.</summary>
    public async Task<ReplicatorProcess> WaitForStreamingLeaderAsync(TimeSpan timeout, ReplicatorProcess? except = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            foreach (var member in Members.ToArray())
            {
                if (member == except || Paused.Contains(member.InstanceId) || member.HasExited)
                    continue;
                if (await member.StatusAsync() is { } status && status.GetProperty("role").GetString() == "leader" && status.GetProperty("streaming").GetBoolean())
                    return member;
            }
            await Task.Delay(50);
        }
        Assert.Fail($"no streaming leader within {timeout}:\n" + string.Join("\n---\n", Members.Select(m => $"{m.InstanceId}:\n{m.Tail(10)}")));
        return null!;
    }

    /// <summary>Every (time, token, instance) at which an instance became leader, in time order, from all logs.</summary>
    public IReadOnlyList<(DateTime At, long Token, string Instance)> Elections()
    {
        var list = new List<(DateTime, long, string)>();
        foreach (var member in _all)
            foreach (var line in member.LogsContaining("Became leader"))
                list.Add((DateTime.Parse(line.GetProperty("timestamp").GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal),
                    line.GetProperty("fencingToken").GetInt64(), member.InstanceId));
        return list.OrderBy(e => e.Item1).ToList();
    }

    /// <summary>The invariants every chaos test ends with (besides PostgreSQL = ClickHouse).</summary>
    public void AssertInvariants()
    {
        // Leader work always stopped by itself after a loss: no watchdog had to end a process.
        foreach (var member in _all)
            Assert.True(member.LogsContaining("invoking watchdog").Count == 0, $"{member.InstanceId}'s watchdog fired:\n{member.Tail(40)}");

        // Fencing tokens only increase across elections.
        var tokens = Elections().Select(e => e.Token).ToList();
        Assert.NotEmpty(tokens);
        for (var i = 1; i < tokens.Count; i++)
            Assert.True(tokens[i] > tokens[i - 1], $"fencing tokens did not increase: {string.Join(", ", tokens)}");

        lock (Samples)
        {
            Assert.NotEmpty(Samples);
            // "<id>-admin" is an instance's admin connection: on a graceful stop it holds the slot for the moment
            // pg_replication_slot_advance takes to record the last confirmation.
            var members = _all.SelectMany(m => new[] { m.InstanceId, m.InstanceId + "-admin" }).ToHashSet();
            DateTime? overlapSince = null;
            foreach (var sample in Samples)
            {
                // PostgreSQL's view: the slot is held by one of ours or by nobody (one walsender per slot).
                Assert.True(sample.SlotHolder is null || members.Contains(sample.SlotHolder), $"slot held by unknown {sample.SlotHolder}");
                // The instances' view: two may briefly both report streaming when a new leader has just ended a
                // stale holder's walsender and the stale one has not yet noticed its connection is gone (Redis lost
                // the key, so both believed they led). PostgreSQL serves one of them; the other must notice at once.
                if (sample.Streaming.Count > 1)
                {
                    var holder = sample.SlotHolder is { } h && h.EndsWith("-admin", StringComparison.Ordinal) ? h[..^6] : sample.SlotHolder;
                    Assert.True(holder is null || sample.Streaming.Contains(holder),
                        $"{string.Join(", ", sample.Streaming)} stream at {sample.At:O} but the slot holder is {sample.SlotHolder}");
                    overlapSince ??= sample.At;
                    Assert.True(sample.At - overlapSince < TimeSpan.FromSeconds(1),
                        $"{string.Join(", ", sample.Streaming)} both reported streaming from {overlapSince:O} to {sample.At:O}");
                }
                else
                {
                    overlapSince = null;
                }
            }
        }
    }

    /// <summary>No sample saw two instances report streaming, not even for one sampling tick.</summary>
    public void AssertNeverTwoStreaming()
    {
        lock (Samples)
        {
            Assert.NotEmpty(Samples);
            var both = Samples.FirstOrDefault(s => s.Streaming.Count > 1);
            Assert.True(both is null, $"{string.Join(", ", both?.Streaming ?? [])} both reported streaming at {both?.At:O}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopSamplingAsync();
        foreach (var member in _all)
            await member.DisposeAsync();
    }
}
