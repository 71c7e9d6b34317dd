using RunsReplication.Host.Tests.Harness;
using static RunsReplication.Host.Tests.ReplicationTests;

namespace RunsReplication.Host.Tests;

/// <summary>
/// What production does to the replicator and its servers — a huge transaction, ClickHouse down, SIGKILL,
/// PostgreSQL restarting, a rolling handover, an idle table — with real processes. Each ends by comparing
/// PostgreSQL with ClickHouse.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ResilienceTests
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_200k_row_transaction_is_replicated_in_bounded_memory()
    {
        await using var f = await ReplicationFixture.CreateAsync(nameof(A_200k_row_transaction_is_replicated_in_bounded_memory));
        // Small bounds, so that holding the transaction whole (~200 MB of decoded rows) would show: at most
        // ~2,000 events buffered, 2,000 rows per insert, two inserts in flight.
        await using var replicator = ReplicatorProcess.Start(f, "a", new Dictionary<string, string>
        {
            ["RUN_REPLICATION_STREAM_BUFFER_SIZE"] = "2000",
            ["RUN_REPLICATION_FLUSH_BATCH_SIZE"] = "500",
            ["RUN_REPLICATION_MAX_ROWS_PER_INSERT"] = "2000",
        });
        await WaitStreamingAsync(replicator);
        var idle = replicator.PeakResidentBytes();

        await f.ExecuteAsync(Workload.InsertRuns("big", 200_000));
        await f.AssertReplicatedAsync(TimeSpan.FromMinutes(4));

        var peak = replicator.PeakResidentBytes();
        await Services.RecordAsync("memory-measurements.txt", $"200k-row transaction: peak RSS {peak / 1048576} MiB (idle {idle / 1048576} MiB), bound {MemoryBound / 1048576} MiB");
        // The transaction is ~200 MB of decoded rows on top of the ~90 MB idle process; a replicator that held it
        // whole would exceed this bound.
        Assert.True(peak < MemoryBound, $"peak RSS {peak / 1048576} MiB (idle {idle / 1048576} MiB) exceeds {MemoryBound / 1048576} MiB");
        Assert.True(await replicator.MetricAsync("runs_replication_batches_flushed") > 10, "the transaction was written in many batches");
    }

    internal const long MemoryBound = 240L * 1024 * 1024;

    [Fact]
    public async Task Runs_with_megabyte_outputs_are_bounded_in_bytes_not_just_rows()
    {
        await using var f = await ReplicationFixture.CreateAsync(nameof(Runs_with_megabyte_outputs_are_bounded_in_bytes_not_just_rows));
        // Rows are few but large: ~150 MB of output text, far more than the 32 MiB byte budget. Counted in rows alone
        // (5,000 events buffered) all of it could be held at once, several times over once decoded and serialised.
        await using var replicator = ReplicatorProcess.Start(f, "a", new Dictionary<string, string>
        {
            ["RUN_REPLICATION_MAX_BUFFERED_MB"] = "32",
            ["RUN_REPLICATION_FLUSH_BATCH_SIZE"] = "20",
        });
        await WaitStreamingAsync(replicator);
        var idle = replicator.PeakResidentBytes();
        await f.ExecuteAsync(Workload.InsertRuns("large", 150).Replace(
            "'{\"result\":' || g || '}'", "'{\"result\":\"' || repeat('x', 1000000) || '\",\"n\":' || g || '}'"));
        await f.AssertReplicatedAsync(TimeSpan.FromMinutes(3));

        var peak = replicator.PeakResidentBytes();
        await Services.RecordAsync("memory-measurements.txt", $"150 runs with 1 MB outputs, 32 MiB budget: peak RSS {peak / 1048576} MiB (idle {idle / 1048576} MiB)");
        Assert.True(peak < 400L * 1024 * 1024, $"peak RSS {peak / 1048576} MiB (idle {idle / 1048576} MiB)");
        Assert.Equal("150", (await f.ClickHouseQueryAsync($"SELECT count() FROM {f.ClickHouseDatabase}.task_runs_v2 FINAL WHERE length(toString(output)) > 1000000")).Trim());
    }

    [Fact]
    public async Task ClickHouse_down_for_30s_under_load_loses_nothing_and_confirms_nothing_it_lacks()
    {
        await using var f = await ReplicationFixture.CreateAsync(nameof(ClickHouse_down_for_30s_under_load_loses_nothing_and_confirms_nothing_it_lacks));
        await using var replicator = ReplicatorProcess.Start(f, "a");
        await WaitStreamingAsync(replicator);
        using var stopWorkload = new CancellationTokenSource();
        var workload = Workload.RunContinuouslyAsync(f, "load", TimeSpan.FromMilliseconds(100), stopWorkload.Token);
        try
        {
            await Task.Delay(2000);
            await Services.RunScriptAsync("down", "clickhouse");
            await Task.Delay(1500); // acknowledgements of inserts that finished before the stop may still arrive
            var confirmedAtStop = await f.ConfirmedFlushLsnAsync();
            for (var i = 0; i < 28; i++)
            {
                await Task.Delay(1000);
                Assert.Equal(confirmedAtStop, await f.ConfirmedFlushLsnAsync());
            }
            Assert.NotNull(await replicator.StatusAsync()); // still alive, waiting
        }
        finally
        {
            await Services.RunScriptAsync("up", "clickhouse");
        }
        await Task.Delay(2000);
        await stopWorkload.CancelAsync();
        var written = await workload;
        Assert.True(written > 100, $"the workload wrote only {written} runs");
        await f.AssertReplicatedAsync(TimeSpan.FromSeconds(90));
        Assert.True(await f.ConfirmedFlushLsnAsync() > 0);
        // One outage, a handful of lines (failing, unavailable, recovered; a worker may flap once while ClickHouse
        // starts): not one per retry.
        var outageLines = replicator.LogsContaining("ClickHouse inserts");
        var retries = await replicator.MetricAsync("runs_replication_insert_retries");
        Assert.True(retries >= 10, $"only {retries} retries during a 30 s outage");
        Assert.True(outageLines.Count is >= 2 and <= 6, $"{outageLines.Count} lines for {retries} retries:\n" + string.Join("\n", outageLines.Select(l => l.GetProperty("message").GetString())));
    }

    [Fact]
    public async Task Replicator_killed_mid_batch_and_restarted_loses_nothing()
    {
        await using var f = await ReplicationFixture.CreateAsync(nameof(Replicator_killed_mid_batch_and_restarted_loses_nothing));
        using var stopWorkload = new CancellationTokenSource();
        Task<int> workload;
        await using (var first = ReplicatorProcess.Start(f, "first", new Dictionary<string, string> { ["RUN_REPLICATION_FLUSH_BATCH_SIZE"] = "500" }))
        {
            // The slot is created by the first leader: changes before it are not part of the stream.
            await WaitStreamingAsync(first);
            workload = Workload.RunContinuouslyAsync(f, "load", TimeSpan.FromMilliseconds(20), stopWorkload.Token);
            await f.ExecuteAsync(Workload.InsertRuns("burst", 20_000));
            await Task.Delay(700); // mid-stream: some batches stored, others in flight
            first.Signal(ReplicatorProcess.SIGKILL);
            Assert.True(await first.WaitForExitAsync(TimeSpan.FromSeconds(5)));
        }
        await using var second = ReplicatorProcess.Start(f, "second");
        await WaitStreamingAsync(second, TimeSpan.FromSeconds(45));
        await Task.Delay(1000);
        await stopWorkload.CancelAsync();
        await workload;
        await f.AssertReplicatedAsync(TimeSpan.FromSeconds(90));
    }

    [Fact]
    public async Task PostgreSQL_restart_under_load_and_the_stream_resumes_by_itself()
    {
        await using var f = await ReplicationFixture.CreateAsync(nameof(PostgreSQL_restart_under_load_and_the_stream_resumes_by_itself));
        await using var replicator = ReplicatorProcess.Start(f, "a");
        await WaitStreamingAsync(replicator);
        using var stopWorkload = new CancellationTokenSource();
        var workload = Workload.RunContinuouslyAsync(f, "load", TimeSpan.FromMilliseconds(50), stopWorkload.Token);
        await Task.Delay(2000);
        await Services.RunScriptAsync("restart", "pg");
        await WaitStreamingAsync(replicator, TimeSpan.FromSeconds(60));
        await Task.Delay(2000);
        await stopWorkload.CancelAsync();
        await workload;
        await f.AssertReplicatedAsync(TimeSpan.FromSeconds(90));
        // One incident: a failure line (repeats of the same error are not logged), then one line when it is over.
        Assert.InRange(replicator.LogsContaining("Replication stream failed").Count, 1, 3);
        await replicator.WaitForLogAsync("Replication stream resumed after", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Graceful_shutdown_confirms_everything_and_the_next_instance_resumes_there()
    {
        await using var f = await ReplicationFixture.CreateAsync(nameof(Graceful_shutdown_confirms_everything_and_the_next_instance_resumes_there));
        await using (var first = ReplicatorProcess.Start(f, "first"))
        {
            await WaitStreamingAsync(first);
            await f.ExecuteAsync(Workload.InsertRuns("before", 50));
            await f.AssertReplicatedAsync();
            first.Signal(ReplicatorProcess.SIGTERM);
            Assert.True(await first.WaitForExitAsync(TimeSpan.FromSeconds(30)), "SIGTERM did not end the process in time");
            Assert.Equal(0, first.ExitCode);
        }
        await f.ExecuteAsync(Workload.InsertRuns("after", 1));

        await using var second = ReplicatorProcess.Start(f, "second");
        // Released on shutdown: the next instance leads at once instead of waiting out the TTL.
        await second.WaitForRoleAsync("leader", TimeSpan.FromSeconds(4));
        await f.AssertReplicatedAsync();
        // It resumed after the 50 runs: only the new run was streamed again.
        Assert.Equal(1, await second.MetricAsync("runs_replication_events_processed"));
    }

    [Fact]
    public async Task An_idle_TaskRun_table_does_not_hold_WAL_that_other_tables_write()
    {
        await using var f = await ReplicationFixture.CreateAsync(nameof(An_idle_TaskRun_table_does_not_hold_WAL_that_other_tables_write));
        await f.ExecuteAsync("CREATE TABLE other_table (id serial PRIMARY KEY, v text)");
        await using var replicator = ReplicatorProcess.Start(f, "a");
        await WaitStreamingAsync(replicator);
        await f.ExecuteAsync(Workload.InsertRuns("one", 1));
        await f.AssertReplicatedAsync();
        var before = await f.ConfirmedFlushLsnAsync();

        for (var i = 0; i < 20; i++)
        {
            await f.ExecuteAsync("INSERT INTO other_table (v) SELECT repeat('x', 200) FROM generate_series(1, 500)");
            await Task.Delay(250);
        }
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        var walNow = await f.ScalarAsync<string>("SELECT pg_current_wal_lsn()::text");
        var target = Lsn(walNow);
        ulong confirmed;
        do
        {
            await Task.Delay(500);
            confirmed = await f.ConfirmedFlushLsnAsync();
        } while (confirmed < target && DateTime.UtcNow < deadline);
        Assert.True(confirmed >= target, $"confirmed_flush_lsn stayed at {confirmed:X} (was {before:X}), WAL is at {target:X}");
        await f.AssertReplicatedAsync();
    }

    private static ulong Lsn(string text)
    {
        var parts = text.Split('/');
        return (Convert.ToUInt64(parts[0], 16) << 32) | Convert.ToUInt64(parts[1], 16);
    }
}
