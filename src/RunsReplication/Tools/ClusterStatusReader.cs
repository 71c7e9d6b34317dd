using Npgsql;
using RunsReplication.ClickHouse;
using RunsReplication.Configuration;
using RunsReplication.Leadership;
using RunsReplication.Pipeline;
using RunsReplication.Postgres;
using StackExchange.Redis;

namespace RunsReplication.Tools;

/// <summary>What the <c>status</c> command prints: the slot as PostgreSQL sees it, the lease as Redis holds it,
/// and ClickHouse's row counts. Each part is read independently, so one unreachable server does not hide the rest.</summary>
public sealed record ClusterStatus(
    string Slot,
    bool? SlotExists,
    bool? SlotActive,
    string? SlotHolder,
    string? ConfirmedFlushLsn,
    long? RetainedWalBytes,
    string? LeaseKey,
    string? LeaseHolder,
    long? LeaseTtlMs,
    long? TaskRunsInClickHouse,
    IReadOnlyList<string> Problems);

public sealed class ClusterStatusReader(ReplicationSettings settings, ReplicationSetup setup, ClickHouseClient clickHouse)
{
    public async Task<ClusterStatus> ReadAsync(CancellationToken cancellationToken)
    {
        var problems = new List<string>();
        bool? exists = null, active = null;
        string? holder = null, confirmed = null, leaseHolder = null;
        long? retained = null, ttl = null, rows = null;

        try
        {
            var slot = await setup.ReadSlotAsync(cancellationToken).ConfigureAwait(false);
            exists = slot is not null;
            active = slot?.Active;
            holder = slot?.ActiveApplicationName;
            confirmed = slot?.ConfirmedFlushLsn is { } lsn ? ReplicationStatus.FormatLsn(lsn) : null;
            await using var connection = await setup.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using var command = new NpgsqlCommand(
                "SELECT (pg_current_wal_lsn() - restart_lsn)::bigint FROM pg_replication_slots WHERE slot_name = $1", connection);
            command.Parameters.Add(new NpgsqlParameter { Value = settings.SlotName });
            retained = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as long?;
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            problems.Add($"PostgreSQL: {e.Message}");
        }

        try
        {
            // The lease as the replicators judge it: on one node, or what a majority of the quorum nodes hold.
            await using var redis = new LeaseStoreConnection(settings.Redis, settings.LeaderLease.Key);
            var holderRead = await redis.Store.ReadHolderAsync(cancellationToken).WaitAsync(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
            leaseHolder = holderRead.Value;
            ttl = leaseHolder is null ? null : holderRead.PttlMs;
        }
        catch (Exception e) when (e is RedisException or TimeoutException or RedisQuorumException)
        {
            problems.Add($"Redis: {e.Message}");
        }

        try
        {
            var database = Identifiers.Require(settings.ClickHouseDatabase, "ClickHouse database");
            var text = await clickHouse.QueryAsync($"SELECT count() FROM {database}.task_runs_v2 FINAL WHERE _is_deleted = 0", cancellationToken).ConfigureAwait(false);
            rows = long.Parse(text.Trim());
        }
        catch (ClickHouseException e)
        {
            problems.Add($"ClickHouse: {e.Message}");
        }

        return new ClusterStatus(settings.SlotName, exists, active, holder, confirmed, retained,
            settings.LeaderLease.Key, leaseHolder, ttl, rows, problems);
    }
}
