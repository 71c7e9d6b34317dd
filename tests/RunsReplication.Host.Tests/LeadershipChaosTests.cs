using System.Diagnostics;
using RunsReplication.Host.Tests.Harness;
using Xunit.Abstractions;

namespace RunsReplication.Host.Tests;

/// <summary>
/// Several real replicator processes against real PostgreSQL, Redis and ClickHouse while a workload keeps changing
/// TaskRun; the tests do to them what production does (SIGSTOP, SIGKILL, SIGTERM, Redis paused or restarted
/// empty). Lease TTL 5 s. Each checks: at most one instance streams at any sampled moment, fencing tokens only
/// increase, and PostgreSQL equals ClickHouse at the end.
/// </summary>
[Trait("Category", "Integration")]
public sealed class LeadershipChaosTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(5);

    private static async Task<(ReplicationFixture, Cluster)> StartClusterAsync(string name, int size)
    {
        var fixture = await ReplicationFixture.CreateAsync(name);
        var cluster = new Cluster(fixture);
        for (var i = 1; i <= size; i++)
            cluster.Start($"r{i}");
        await cluster.WaitForStreamingLeaderAsync(TimeSpan.FromSeconds(30));
        cluster.StartSampling();
        return (fixture, cluster);
    }

    /// <summary>
    /// Runs <paramref name="scenario"/> while a workload keeps changing TaskRun, then checks what every chaos test
    /// checks: PostgreSQL equals ClickHouse, at most one instance streamed at a time, fencing tokens only grew.
    /// </summary>
    private static async Task UnderLoadAsync(ReplicationFixture f, Cluster cluster, TimeSpan pause, Func<Task> scenario)
    {
        using var stop = new CancellationTokenSource();
        var workload = Workload.RunContinuouslyAsync(f, "load", pause, stop.Token);
        await scenario();
        await stop.CancelAsync();
        await workload;
        await f.AssertReplicatedAsync(TimeSpan.FromSeconds(90));
        await cluster.StopSamplingAsync();
        cluster.AssertInvariants();
    }

    [Fact]
    public async Task A_leader_paused_past_its_TTL_is_replaced_and_stops_streaming_the_moment_it_wakes()
    {
        var (f, cluster) = await StartClusterAsync(nameof(A_leader_paused_past_its_TTL_is_replaced_and_stops_streaming_the_moment_it_wakes), 3);
        await using var _ = f;
        await using var __ = cluster;
        using var stop = new CancellationTokenSource();
        var workload = Workload.RunContinuouslyAsync(f, "load", TimeSpan.FromMilliseconds(100), stop.Token);

        var zombie = await cluster.WaitForStreamingLeaderAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(1000);
        var paused = Stopwatch.StartNew();
        cluster.Paused.Add(zombie.InstanceId);
        zombie.Signal(ReplicatorProcess.SIGSTOP);

        // Another instance takes the slot (ending the paused walsender) within about one TTL.
        string? holder;
        do
        {
            await Task.Delay(50);
            holder = await f.SlotHolderAsync();
        } while ((holder is null || holder == zombie.InstanceId) && paused.Elapsed < Ttl * 3);
        var failover = paused.Elapsed;
        Assert.True(holder is not null && holder != zombie.InstanceId, $"no other instance took the slot within {paused.Elapsed}");
        Assert.True(failover < Ttl + TimeSpan.FromSeconds(3), $"failover took {failover.TotalSeconds:F1}s");

        // Stay paused well past the TTL, then wake up.
        while (paused.Elapsed < Ttl * 2)
            await Task.Delay(100);
        var linesBefore = zombie.Lines.Count;
        var wokeAt = DateTimeOffset.UtcNow;
        var woke = Stopwatch.StartNew();
        zombie.Signal(ReplicatorProcess.SIGCONT);
        TimeSpan stoppedStreaming;
        while (true)
        {
            if (await zombie.StatusAsync() is { } status && !status.GetProperty("streaming").GetBoolean())
            {
                stoppedStreaming = woke.Elapsed;
                break;
            }
            Assert.True(woke.Elapsed < TimeSpan.FromSeconds(5), "the resumed instance kept streaming");
            await Task.Delay(10);
        }
        cluster.Paused.Remove(zombie.InstanceId);
        await zombie.WaitForRoleAsync("follower", TimeSpan.FromSeconds(5));
        Assert.NotEqual(zombie.InstanceId, await f.SlotHolderAsync());

        // It says so once, and stays quiet: no renewal errors tick by tick.
        await Task.Delay(Ttl);
        var newLines = zombie.Lines.Skip(linesBefore).ToList();
        var lossLines = newLines.Count(l => l.Contains("Leader lease lost", StringComparison.Ordinal));
        var warnings = newLines.Count(l => l.Contains("\"level\":\"warning\"", StringComparison.Ordinal) || l.Contains("\"level\":\"error\"", StringComparison.Ordinal));
        Assert.Equal(1, lossLines);
        Assert.Equal(1, warnings);
        var lossLine = zombie.LogsContaining("Leader lease lost")[^1];
        Assert.Equal("ExpiredWhilePaused", lossLine.GetProperty("reason").GetString());
        // By the zombie's own clock (its log timestamp), independent of how fast its HTTP endpoint answers after waking.
        var lossLoggedAfter = lossLine.GetProperty("timestamp").GetDateTimeOffset() - wokeAt;

        // And it can lead again later: stop the others.
        foreach (var other in cluster.Members.Where(m => m != zombie).ToList())
        {
            other.Signal(ReplicatorProcess.SIGTERM);
            Assert.True(await other.WaitForExitAsync(TimeSpan.FromSeconds(30)));
            cluster.Remove(other);
        }
        Assert.Same(zombie, await cluster.WaitForStreamingLeaderAsync(Ttl * 3));

        await stop.CancelAsync();
        await workload;
        await f.AssertReplicatedAsync(TimeSpan.FromSeconds(60));
        await cluster.StopSamplingAsync();
        cluster.AssertInvariants();

        var report = $"TTL 5 s: failover after SIGSTOP {failover.TotalMilliseconds:F0} ms; resumed zombie stopped streaming {stoppedStreaming.TotalMilliseconds:F0} ms after SIGCONT (/status), logged its loss {lossLoggedAfter.TotalMilliseconds:F0} ms after SIGCONT; loss log lines {lossLines}; warning/error lines after waking {warnings}";
        output.WriteLine(report);
        await Services.RecordAsync("chaos-measurements.txt", report);
    }

    [Fact]
    public async Task With_Redis_paused_past_the_TTL_nobody_streams_and_one_leader_returns()
    {
        var (f, cluster) = await StartClusterAsync(nameof(With_Redis_paused_past_the_TTL_nobody_streams_and_one_leader_returns), 2);
        await using var _ = f;
        await using var __ = cluster;
        using var stop = new CancellationTokenSource();
        var workload = Workload.RunContinuouslyAsync(f, "load", TimeSpan.FromMilliseconds(100), stop.Token);
        await Task.Delay(1000);

        var redis = await Services.PidAsync("redis");
        var paused = Stopwatch.StartNew();
        Assert.Equal(0, Kill(redis, ReplicatorProcess.SIGSTOP));
        try
        {
            // The leader must stop by its renew deadline (< TTL) without hearing from Redis.
            await Task.Delay(Ttl);
            var deadline = paused.Elapsed + Ttl;
            while (paused.Elapsed < deadline)
            {
                Assert.Null(await f.SlotHolderAsync());
                foreach (var member in cluster.Members)
                    Assert.False((await member.StatusAsync())?.GetProperty("streaming").GetBoolean() ?? false, $"{member.InstanceId} streams without a lease");
                await Task.Delay(200);
            }
        }
        finally
        {
            Kill(redis, ReplicatorProcess.SIGCONT);
        }
        await cluster.WaitForStreamingLeaderAsync(Ttl * 4);
        await Task.Delay(3000);
        // Exactly one leader after Redis returned.
        var roles = await Task.WhenAll(cluster.Members.Select(m => m.RoleAsync()));
        Assert.Equal(1, roles.Count(r => r == "leader"));
        await stop.CancelAsync();
        await workload;
        await f.AssertReplicatedAsync(TimeSpan.FromSeconds(60));
        await cluster.StopSamplingAsync();
        cluster.AssertInvariants();
    }

    [Fact]
    public async Task Redis_restarted_empty_makes_the_leader_step_down_and_one_leader_is_elected()
    {
        var (f, cluster) = await StartClusterAsync(nameof(Redis_restarted_empty_makes_the_leader_step_down_and_one_leader_is_elected), 2);
        await using var _ = f;
        await using var __ = cluster;
        await UnderLoadAsync(f, cluster, TimeSpan.FromMilliseconds(100), async () =>
        {
            await Task.Delay(1000);
            var before = cluster.Elections().Count;

            await Services.RunScriptAsync("restart", "redis");
            await Task.Delay(Ttl);
            await cluster.WaitForStreamingLeaderAsync(Ttl * 4);
            Assert.True(cluster.Elections().Count > before, "nobody was elected again after Redis lost the key");
            await Task.Delay(2000);
        });
        // Stricter than the shared invariants: the old leader still leads by its own clock when the key vanishes, so
        // no follower may take the key (and the slot) until it has provably stepped down. Never two at once, and
        // nobody had to end a walsender that belonged to a leader.
        cluster.AssertNeverTwoStreaming();
        foreach (var member in cluster.Members)
            Assert.Empty(member.LogsContaining("Ended stale walsender"));
    }

    [Fact]
    public async Task With_a_Redis_quorum_one_node_lost_changes_nothing_and_a_majority_lost_stops_the_leader()
    {
        var (nodes, list) = await RedisNode.StartManyAsync(3);
        try
        {
            var f = await ReplicationFixture.CreateAsync(nameof(With_a_Redis_quorum_one_node_lost_changes_nothing_and_a_majority_lost_stops_the_leader));
            await using var _ = f;
            var cluster = new Cluster(f, new Dictionary<string, string> { ["RUN_REPLICATION_REDIS_QUORUM_NODES"] = list });
            await using var __ = cluster;
            cluster.Start("r1");
            cluster.Start("r2");
            var leader = await cluster.WaitForStreamingLeaderAsync(TimeSpan.FromSeconds(30));
            cluster.StartSampling();
            await UnderLoadAsync(f, cluster, TimeSpan.FromMilliseconds(100), async () =>
            {
                await Task.Delay(1000);
                var elections = cluster.Elections().Count;

                // One node paused past the TTL (its copy of the key expires meanwhile), then restarted empty: the
                // other two still hold the lease, and a renewal never writes the key back to the node that lost it.
                nodes[0].Pause();
                await Task.Delay(Ttl * 2);
                nodes[0].Resume();
                await nodes[0].RestartEmptyAsync();
                await Task.Delay(Ttl);
                Assert.Equal(elections, cluster.Elections().Count);
                Assert.Same(leader, await cluster.WaitForStreamingLeaderAsync(TimeSpan.FromSeconds(1)));
                foreach (var member in cluster.Members)
                    Assert.Empty(member.LogsContaining("Leader lease lost"));

                // A majority unreachable: the leader stops by its deadline and nobody streams until it returns.
                var paused = Stopwatch.StartNew();
                nodes[1].Pause();
                nodes[2].Pause();
                try
                {
                    await Task.Delay(Ttl);
                    while (paused.Elapsed < Ttl * 2)
                    {
                        Assert.Null(await f.SlotHolderAsync());
                        foreach (var member in cluster.Members)
                            Assert.False((await member.StatusAsync())?.GetProperty("streaming").GetBoolean() ?? false, $"{member.InstanceId} streams without a majority");
                        await Task.Delay(200);
                    }
                }
                finally
                {
                    nodes[1].Resume();
                    nodes[2].Resume();
                }
                await cluster.WaitForStreamingLeaderAsync(Ttl * 4);
                Assert.True(cluster.Elections().Count > elections, "nobody was elected after the majority returned");
                Assert.Single(leader.LogsContaining("Leader lease lost"));
            });
        }
        finally
        {
            foreach (var node in nodes) await node.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_leader_killed_mid_batch_is_replaced_within_a_TTL()
    {
        var (f, cluster) = await StartClusterAsync(nameof(A_leader_killed_mid_batch_is_replaced_within_a_TTL), 3);
        await using var _ = f;
        await using var __ = cluster;
        await UnderLoadAsync(f, cluster, TimeSpan.FromMilliseconds(20), async () =>
        {
            var leader = await cluster.WaitForStreamingLeaderAsync(TimeSpan.FromSeconds(10));
            await f.ExecuteAsync(Workload.InsertRuns("burst", 10_000));
            await Task.Delay(500);
            var killed = Stopwatch.StartNew();
            leader.Signal(ReplicatorProcess.SIGKILL);
            Assert.True(await leader.WaitForExitAsync(TimeSpan.FromSeconds(5)));
            cluster.Remove(leader);
            await cluster.WaitForStreamingLeaderAsync(Ttl * 3);
            Assert.True(killed.Elapsed < Ttl + TimeSpan.FromSeconds(3), $"takeover after SIGKILL took {killed.Elapsed.TotalSeconds:F1}s");
        });
    }

    [Fact]
    public async Task A_leader_stopped_with_SIGTERM_hands_over_at_once()
    {
        var (f, cluster) = await StartClusterAsync(nameof(A_leader_stopped_with_SIGTERM_hands_over_at_once), 2);
        await using var _ = f;
        await using var __ = cluster;
        await UnderLoadAsync(f, cluster, TimeSpan.FromMilliseconds(50), async () =>
        {
            var leader = await cluster.WaitForStreamingLeaderAsync(TimeSpan.FromSeconds(10));
            await Task.Delay(1000);
            var stopped = Stopwatch.StartNew();
            leader.Signal(ReplicatorProcess.SIGTERM);
            Assert.True(await leader.WaitForExitAsync(TimeSpan.FromSeconds(30)));
            Assert.Equal(0, leader.ExitCode);
            cluster.Remove(leader);
            await cluster.WaitForStreamingLeaderAsync(Ttl * 2);
            // Released, not expired: well under one TTL.
            Assert.True(stopped.Elapsed < Ttl, $"handover after SIGTERM took {stopped.Elapsed.TotalSeconds:F1}s");
        });
    }

    [Fact]
    public async Task A_rolling_restart_of_every_replica_loses_nothing()
    {
        var (f, cluster) = await StartClusterAsync(nameof(A_rolling_restart_of_every_replica_loses_nothing), 3);
        await using var _ = f;
        await using var __ = cluster;
        await UnderLoadAsync(f, cluster, TimeSpan.FromMilliseconds(50), async () =>
        {
            foreach (var old in cluster.Members.ToList())
            {
                old.Signal(ReplicatorProcess.SIGTERM);
                Assert.True(await old.WaitForExitAsync(TimeSpan.FromSeconds(30)));
                Assert.Equal(0, old.ExitCode);
                cluster.Remove(old);
                var replacement = cluster.Start(old.InstanceId + "b");
                var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
                while (await replacement.RoleAsync() is not ("leader" or "follower"))
                {
                    Assert.True(DateTime.UtcNow < deadline, $"{replacement.InstanceId} did not start:\n{replacement.Tail()}");
                    await Task.Delay(100);
                }
                await cluster.WaitForStreamingLeaderAsync(Ttl * 3);
            }
            await Task.Delay(2000);
        });
    }

    [Fact]
    public async Task With_the_exit_policy_a_leader_that_lost_its_lease_exits_non_zero()
    {
        await using var f = await ReplicationFixture.CreateAsync(nameof(With_the_exit_policy_a_leader_that_lost_its_lease_exits_non_zero));
        await using var cluster = new Cluster(f, new Dictionary<string, string> { ["RUN_REPLICATION_LEADER_LOCK_LOSS_POLICY"] = "exit" });
        cluster.Start("r1");
        var leader = await cluster.WaitForStreamingLeaderAsync(TimeSpan.FromSeconds(30));
        cluster.Start("r2");
        await Task.Delay(1000);
        leader.Signal(ReplicatorProcess.SIGSTOP);
        await Task.Delay(Ttl * 2);
        leader.Signal(ReplicatorProcess.SIGCONT);
        Assert.True(await leader.WaitForExitAsync(TimeSpan.FromSeconds(30)), "the instance did not exit after losing its lease");
        Assert.NotEqual(0, leader.ExitCode);
        cluster.Remove(leader);
        await cluster.WaitForStreamingLeaderAsync(Ttl * 2);
        await f.ExecuteAsync(Workload.InsertRuns("after", 10));
        await f.AssertReplicatedAsync();
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill")]
    private static extern int Kill(int pid, int signal);
}
