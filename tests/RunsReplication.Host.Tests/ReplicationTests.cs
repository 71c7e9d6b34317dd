using RunsReplication.Host.Tests.Harness;

namespace RunsReplication.Host.Tests;

/// <summary>End-to-end replication through a real replicator process, PostgreSQL, Redis and ClickHouse engine.</summary>
[Trait("Category", "Integration")]
public sealed class ReplicationTests
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Insert_update_and_delete_reach_ClickHouse()
    {
        await using var f = await ReplicationFixture.CreateAsync(nameof(Insert_update_and_delete_reach_ClickHouse));
        await using var replicator = ReplicatorProcess.Start(f, "a");
        await replicator.WaitForRoleAsync("leader", Soon);
        await replicator.WaitForLogAsync("Leading replication", Soon);
        await WaitStreamingAsync(replicator);

        await f.ExecuteAsync(Workload.InsertRuns("run", 3));
        await f.AssertReplicatedAsync();
        Assert.Equal("3", (await f.ClickHouseQueryAsync($"SELECT count() FROM {f.ClickHouseDatabase}.task_runs_v2 FINAL WHERE _is_deleted = 0")).Trim());
        Assert.Equal("3", (await f.ClickHouseQueryAsync($"SELECT count() FROM {f.ClickHouseDatabase}.raw_task_runs_payload_v1")).Trim());

        await f.ExecuteAsync("""UPDATE public."TaskRun" SET status = 'COMPLETED_SUCCESSFULLY', "updatedAt" = now() + interval '1 second' WHERE id = 'run_2'""");
        await f.AssertReplicatedAsync();
        Assert.Equal("COMPLETED_SUCCESSFULLY", (await f.ClickHouseQueryAsync($"SELECT status FROM {f.ClickHouseDatabase}.task_runs_v2 FINAL WHERE run_id = 'run_2'")).Trim());

        await f.ExecuteAsync("""DELETE FROM public."TaskRun" WHERE id = 'run_3'""");
        await f.AssertReplicatedAsync();
        Assert.Equal("0", (await f.ClickHouseQueryAsync($"SELECT count() FROM {f.ClickHouseDatabase}.task_runs_v2 FINAL WHERE _is_deleted = 0 AND run_id = 'run_3'")).Trim());
        // FINAL hides the tombstone; the raw rows show it was written with the delete's higher version.
        Assert.Equal("1", (await f.ClickHouseQueryAsync($"SELECT argMax(_is_deleted, _version) FROM {f.ClickHouseDatabase}.task_runs_v2 WHERE run_id = 'run_3'")).Trim());
    }

    [Fact]
    public async Task One_transaction_with_two_inserts_and_an_update()
    {
        await using var f = await ReplicationFixture.CreateAsync(nameof(One_transaction_with_two_inserts_and_an_update));
        await using var replicator = ReplicatorProcess.Start(f, "a");
        await WaitStreamingAsync(replicator);

        await f.ExecuteAsync($"""
            BEGIN;
            {Workload.InsertRuns("tx", 2)};
            UPDATE public."TaskRun" SET status = 'COMPLETED_SUCCESSFULLY', "updatedAt" = now() + interval '1 second' WHERE id = 'tx_1';
            COMMIT;
            """);
        await f.AssertReplicatedAsync();
        var rows = await f.ClickHouseQueryAsync($"SELECT run_id, status, _version FROM {f.ClickHouseDatabase}.task_runs_v2 FINAL ORDER BY run_id FORMAT TabSeparated");
        var lines = rows.Trim().Split('\n').Select(l => l.Split('\t')).ToArray();
        Assert.Equal(["tx_1", "COMPLETED_SUCCESSFULLY"], lines[0][..2]);
        Assert.Equal(["tx_2", "PENDING"], lines[1][..2]);
        Assert.Equal(lines[0][2], lines[1][2]); // one transaction, one version
    }

    [Fact]
    public async Task A_thousand_runs_in_one_statement_then_an_update_of_all()
    {
        await using var f = await ReplicationFixture.CreateAsync(nameof(A_thousand_runs_in_one_statement_then_an_update_of_all));
        await using var replicator = ReplicatorProcess.Start(f, "a", new Dictionary<string, string> { ["RUN_REPLICATION_FLUSH_BATCH_SIZE"] = "50", ["RUN_REPLICATION_MAX_FLUSH_CONCURRENCY"] = "10" });
        await WaitStreamingAsync(replicator);

        await f.ExecuteAsync(Workload.InsertRuns("bulk", 1000));
        await f.AssertReplicatedAsync();
        await f.ExecuteAsync("""UPDATE public."TaskRun" SET status = 'COMPLETED_SUCCESSFULLY', "updatedAt" = now() + interval '1 second'""");
        await f.AssertReplicatedAsync();
        Assert.Equal("1000", (await f.ClickHouseQueryAsync($"SELECT countIf(status = 'COMPLETED_SUCCESSFULLY') FROM {f.ClickHouseDatabase}.task_runs_v2 FINAL WHERE _is_deleted = 0")).Trim());
    }

    [Fact]
    public async Task A_create_and_four_updates_in_one_batch_merge_into_two_rows()
    {
        await using var f = await ReplicationFixture.CreateAsync(nameof(A_create_and_four_updates_in_one_batch_merge_into_two_rows));
        await using var replicator = ReplicatorProcess.Start(f, "a", new Dictionary<string, string> { ["RUN_REPLICATION_FLUSH_INTERVAL_MS"] = "3000" });
        await WaitStreamingAsync(replicator);

        var statuses = new[] { "DEQUEUED", "EXECUTING", "RETRYING_AFTER_FAILURE", "COMPLETED_SUCCESSFULLY" };
        await f.ExecuteAsync(Workload.InsertRuns("merge", 1).Replace("'PENDING'", "'PENDING_VERSION'"));
        foreach (var (status, i) in statuses.Select((s, i) => (s, i)))
            await f.ExecuteAsync($"""UPDATE public."TaskRun" SET status = '{status}', "updatedAt" = now() + interval '{i + 1} seconds' WHERE id = 'merge_1'""");
        await f.AssertReplicatedAsync();

        // Five changes arrived within one flush interval: the insert and the last update were written, nothing else.
        Assert.Equal(5, await replicator.MetricAsync("runs_replication_events_processed"));
        Assert.Equal(2, await replicator.MetricAsync("runs_replication_task_runs_inserted"));
        Assert.Equal("COMPLETED_SUCCESSFULLY", (await f.ClickHouseQueryAsync($"SELECT status FROM {f.ClickHouseDatabase}.task_runs_v2 FINAL WHERE run_id = 'merge_1'")).Trim());
    }

    [Fact]
    public async Task Bad_json_is_isolated_and_every_run_lands()
    {
        await using var f = await ReplicationFixture.CreateAsync(nameof(Bad_json_is_isolated_and_every_run_lands));
        await using var replicator = ReplicatorProcess.Start(f, "a");
        await WaitStreamingAsync(replicator);

        await f.ExecuteAsync(Workload.InsertRuns("json", 10));
        var deep = new string('[', 1500) + new string(']', 1500);
        await f.ExecuteAsync($$"""
            BEGIN;
            UPDATE public."TaskRun" SET output = '{"text":"\ud800 lone surrogate"}', status = 'COMPLETED_SUCCESSFULLY', "updatedAt" = now() + interval '1 second' WHERE id = 'json_3';
            UPDATE public."TaskRun" SET output = '{{deep}}', status = 'COMPLETED_SUCCESSFULLY', "updatedAt" = now() + interval '1 second' WHERE id = 'json_5';
            UPDATE public."TaskRun" SET output = '{"big": 123456789012345678901234567890}', status = 'COMPLETED_SUCCESSFULLY', "updatedAt" = now() + interval '1 second' WHERE id = 'json_7';
            UPDATE public."TaskRun" SET output = 'not json at all', status = 'COMPLETED_SUCCESSFULLY', "updatedAt" = now() + interval '1 second' WHERE id = 'json_8';
            UPDATE public."TaskRun" SET status = 'COMPLETED_SUCCESSFULLY', "updatedAt" = now() + interval '1 second' WHERE id = 'json_9';
            COMMIT;
            """);
        await f.AssertReplicatedAsync();
        Assert.Equal("5", (await f.ClickHouseQueryAsync($"SELECT countIf(status = 'COMPLETED_SUCCESSFULLY') FROM {f.ClickHouseDatabase}.task_runs_v2 FINAL")).Trim());
        Assert.Empty(replicator.LogsContaining("Dropped run"));
    }

    [Fact]
    public async Task Runs_without_organization_are_skipped_with_a_counted_warning()
    {
        await using var f = await ReplicationFixture.CreateAsync(nameof(Runs_without_organization_are_skipped_with_a_counted_warning));
        await using var replicator = ReplicatorProcess.Start(f, "a");
        await WaitStreamingAsync(replicator);

        await f.ExecuteAsync(Workload.InsertRuns("org", 2));
        await f.ExecuteAsync(Workload.InsertRuns("noorg", 2).Replace("'org_1'", "NULL"));
        await f.AssertReplicatedAsync();
        await replicator.WaitForLogAsync("without organizationId or environmentType", Soon);
        Assert.Equal(2, await replicator.MetricAsync("runs_replication_runs_skipped"));
    }

    [Fact]
    public async Task Backfill_copies_runs_the_stream_never_saw_and_verify_reports_the_result()
    {
        await using var f = await ReplicationFixture.CreateAsync(nameof(Backfill_copies_runs_the_stream_never_saw_and_verify_reports_the_result));
        await f.ExecuteAsync(Workload.InsertRuns("early", 300)); // before any slot exists
        await using var replicator = ReplicatorProcess.Start(f, "a");
        await WaitStreamingAsync(replicator);
        await f.ExecuteAsync(Workload.InsertRuns("late", 10));

        var (code, output) = (0, "");
        for (var i = 0; i < 60 && !output.Contains("clickhouse=10 "); i++)
        {
            await Task.Delay(250);
            (code, output) = await ReplicatorProcess.RunCommandAsync(f, "verify");
        }
        Assert.Equal(1, code);
        Assert.Contains("missing=300", output);

        (code, output) = await ReplicatorProcess.RunCommandAsync(f, "backfill", "--page-size", "70");
        Assert.True(code == 0, output);
        Assert.Contains("backfilled 310 runs", output);
        // A change after the backfill's snapshot is newer than the backfilled row and wins.
        await f.ExecuteAsync("""UPDATE public."TaskRun" SET status = 'COMPLETED_SUCCESSFULLY', "updatedAt" = now() + interval '1 second' WHERE id = 'early_5'""");
        await f.AssertReplicatedAsync();
        (code, output) = await ReplicatorProcess.RunCommandAsync(f, "verify");
        Assert.True(code == 0, output);

        (code, output) = await ReplicatorProcess.RunCommandAsync(f, "status");
        Assert.True(code == 0, output);
        Assert.Contains("\"slotHolder\": \"a\"", output);
        Assert.Contains("\"taskRunsInClickHouse\": 310", output);
    }

    internal static async Task WaitStreamingAsync(ReplicatorProcess replicator, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? Soon);
        while (DateTime.UtcNow < deadline)
        {
            if (await replicator.StatusAsync() is { } status && status.GetProperty("streaming").GetBoolean())
                return;
            await Task.Delay(100);
        }
        Assert.Fail($"{replicator.InstanceId} is not streaming. Last lines:\n{replicator.Tail()}");
    }
}
