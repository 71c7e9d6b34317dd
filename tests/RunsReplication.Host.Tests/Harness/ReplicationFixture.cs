using Npgsql;
using RunsReplication.ClickHouse;
using RunsReplication.Configuration;
using RunsReplication.Verification;

namespace RunsReplication.Host.Tests.Harness;

/// <summary>
/// One test's private world on the shared servers: its own PostgreSQL database (with Trigger.dev's TaskRun table,
/// REPLICA IDENTITY FULL), its own ClickHouse database, slot and Redis lease key, so tests never see each
/// other's rows. Disposing drops them all.
/// </summary>
public sealed class ReplicationFixture : IAsyncDisposable
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(30) };

    public string Name { get; }
    public string DatabaseUrl { get; }
    public string ConnectionString { get; }
    public string ClickHouseDatabase => Name;
    public string SlotName => Name;
    public string LeaseKey => $"runs-replication-test:{Name}";
    public ClickHouseClient ClickHouse { get; }

    private ReplicationFixture(string name, string databaseUrl)
    {
        Name = name;
        DatabaseUrl = databaseUrl;
        ConnectionString = DatabaseUrl_ToConnectionString(databaseUrl);
        ClickHouse = new ClickHouseClient(Http, ClickHouseEndpoint.Parse(Services.ClickHouseUrl), compressRequests: false);
    }

    private static string DatabaseUrl_ToConnectionString(string url) =>
        new NpgsqlConnectionStringBuilder(RunsReplication.Configuration.DatabaseUrl.Parse(url).ConnectionString) { Pooling = false }.ConnectionString;

    public static async Task<ReplicationFixture> CreateAsync(string testName)
    {
        var name = $"rr_{new string(testName.ToLowerInvariant().Where(char.IsAsciiLetterOrDigit).Take(24).ToArray())}_{Guid.NewGuid():N}"[..48];
        var admin = Services.AdminDatabaseUrl;
        await using (var connection = new NpgsqlConnection(DatabaseUrl_ToConnectionString(admin)))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await create.ExecuteNonQueryAsync();
        }
        var uri = new UriBuilder(admin) { Path = "/" + name };
        var fixture = new ReplicationFixture(name, uri.Uri.ToString());
        var schema = Path.Combine(Services.RepoRoot, "schema/postgres");
        await fixture.ExecuteAsync(await File.ReadAllTextAsync(Path.Combine(schema, "task_run.sql")));
        await fixture.ExecuteAsync(await File.ReadAllTextAsync(Path.Combine(schema, "task_run_replica_identity.sql")));
        return fixture;
    }

    /// <summary>Environment for a replicator process working on this fixture.</summary>
    public Dictionary<string, string> ReplicatorEnvironment(string instanceId) => new()
    {
        ["DATABASE_URL"] = DatabaseUrl,
        ["RUN_REPLICATION_CLICKHOUSE_URL"] = Services.ClickHouseUrl,
        ["RUN_REPLICATION_CLICKHOUSE_DATABASE"] = ClickHouseDatabase,
        ["RUN_REPLICATION_SLOT_NAME"] = SlotName,
        ["RUN_REPLICATION_PUBLICATION_NAME"] = $"{Name}_publication",
        ["RUN_REPLICATION_REDIS_HOST"] = Services.RedisHost,
        ["RUN_REPLICATION_REDIS_PORT"] = Services.RedisPort.ToString(),
        ["RUN_REPLICATION_REDIS_TLS_DISABLED"] = "true",
        ["RUN_REPLICATION_LEADER_LOCK_KEY"] = LeaseKey,
        ["RUN_REPLICATION_INSTANCE_ID"] = instanceId,
        ["RUN_REPLICATION_FLUSH_INTERVAL_MS"] = "200",
        ["RUN_REPLICATION_LEADER_LOCK_TIMEOUT_MS"] = "5000",
        ["RUN_REPLICATION_LEADER_LOCK_EXTEND_INTERVAL_MS"] = "1000",
        ["RUN_REPLICATION_LEADER_LOCK_RETRY_INTERVAL_MS"] = "200",
        ["RUN_REPLICATION_LEADER_LOCK_ADDITIONAL_TIME_MS"] = "1000",
        ["RUN_REPLICATION_LOG_LEVEL"] = "Information",
    };

    public ReplicationSettings Settings => new()
    {
        PostgresConnectionString = ConnectionString,
        ClickHouse = ClickHouseEndpoint.Parse(Services.ClickHouseUrl),
        ClickHouseDatabase = ClickHouseDatabase,
        SlotName = SlotName,
        PublicationName = $"{Name}_publication",
    };

    public async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 300 };
        await command.ExecuteNonQueryAsync();
    }

    public async Task<T> ScalarAsync<T>(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    public Task<string> ClickHouseQueryAsync(string sql) => ClickHouse.QueryAsync(sql, CancellationToken.None);

    /// <summary>The slot's confirmed_flush_lsn as a number (0 when absent).</summary>
    public async Task<ulong> ConfirmedFlushLsnAsync()
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            $"SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = '{SlotName}'", connection);
        var text = await command.ExecuteScalarAsync() as string;
        if (text is null)
            return 0;
        var parts = text.Split('/');
        return (Convert.ToUInt64(parts[0], 16) << 32) | Convert.ToUInt64(parts[1], 16);
    }

    /// <summary>Which application holds the slot right now (null when nobody streams it).</summary>
    public async Task<string?> SlotHolderAsync()
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            $"SELECT a.application_name FROM pg_replication_slots s JOIN pg_stat_activity a ON a.pid = s.active_pid WHERE s.slot_name = '{SlotName}'", connection);
        return await command.ExecuteScalarAsync() as string;
    }

    public Task<VerificationReport> VerifyAsync() =>
        new ReplicationVerifier(Settings, ClickHouse).VerifyAsync(CancellationToken.None);

    /// <summary>
    /// The closing check of every integration test: PostgreSQL and ClickHouse agree (waiting up to
    /// <paramref name="timeout"/> for replication to catch up).
    /// </summary>
    public async Task AssertReplicatedAsync(TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        VerificationReport report;
        while (true)
        {
            try
            {
                report = await VerifyAsync();
                if (report.Equal)
                    return;
            }
            catch (ClickHouseException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(250);
                continue;
            }
            if (DateTime.UtcNow > deadline)
                break;
            await Task.Delay(250);
        }
        Assert.Fail($"PostgreSQL and ClickHouse differ: {report}");
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await using var connection = new NpgsqlConnection(DatabaseUrl_ToConnectionString(Services.AdminDatabaseUrl));
            await connection.OpenAsync();
            await using (var drop = new NpgsqlCommand(
                $"SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '{SlotName}' AND active_pid IS NOT NULL", connection))
                await drop.ExecuteNonQueryAsync();
            await Task.Delay(200);
            await using (var drop = new NpgsqlCommand(
                $"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '{SlotName}'", connection))
                await drop.ExecuteNonQueryAsync();
            await using (var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {Name} WITH (FORCE)", connection))
                await drop.ExecuteNonQueryAsync();
            await ClickHouse.QueryAsync($"DROP DATABASE IF EXISTS {ClickHouseDatabase}", CancellationToken.None);
        }
        catch (Exception)
        {
            // Best effort: a failed cleanup must not hide the test's own result.
        }
    }
}
