using System.Text;
using Npgsql;
using RunsReplication.Leadership;

namespace RunsReplication.Configuration;

/// <summary>
/// Everything the service needs to run, already validated. Built from the environment by
/// <see cref="EnvironmentSettingsReader"/> using Trigger.dev's variable names and defaults.
/// </summary>
public sealed record ReplicationSettings
{
    public required string PostgresConnectionString { get; init; }
    public required ClickHouseEndpoint ClickHouse { get; init; }
    public string ClickHouseDatabase { get; init; } = "trigger_dev";
    public string SlotName { get; init; } = "task_runs_to_clickhouse_v1";
    public string PublicationName { get; init; } = "task_runs_to_clickhouse_v1_publication";
    public string TableName { get; init; } = "TaskRun";

    public int FlushBatchSize { get; init; } = 100;
    public TimeSpan FlushInterval { get; init; } = TimeSpan.FromMilliseconds(1000);
    public int MaxFlushConcurrency { get; init; } = 2;
    public int InsertMaxRetries { get; init; } = 3;
    public TimeSpan InsertBaseDelay { get; init; } = TimeSpan.FromMilliseconds(100);
    public TimeSpan InsertMaxDelay { get; init; } = TimeSpan.FromMilliseconds(2000);
    public bool DisablePayloadInsert { get; init; }
    public bool DisableErrorFingerprinting { get; init; }
    /// <summary>Events buffered between the stream reader and the batcher (the backpressure bound).</summary>
    public int StreamBufferSize { get; init; } = 5_000;
    public bool MigrateOnStart { get; init; } = true;
    /// <summary>Bytes of decoded changes held between the stream and ClickHouse (see <see cref="Pipeline.MemoryBudget"/>).</summary>
    public long MaxBufferedBytes { get; init; } = 128L * 1024 * 1024;
    /// <summary>Most rows one insert carries when workers group waiting batches under a backlog.</summary>
    public int MaxRowsPerInsert { get; init; } = 20_000;
    /// <summary>Whether insert bodies are gzip-compressed (<c>RUN_REPLICATION_CLICKHOUSE_COMPRESSION=gzip|none</c>).</summary>
    public bool CompressInserts { get; init; } = true;

    public RedisConnectionSettings Redis { get; init; } = new("localhost", 6379);
    public LeaderLeaseOptions LeaderLease { get; init; } = new();
    /// <summary>Whether a new leader may end the walsender of a previous holder whose lease has ended.</summary>
    public bool TerminateStaleSlotHolder { get; init; } = true;

    public int HttpPort { get; init; } = 9464;
    public string InstanceId { get; init; } = DefaultInstanceId();

    /// <summary>Every setting, with the PostgreSQL password replaced (the record's generated text would print it).</summary>
    public override string ToString()
    {
        var text = new StringBuilder("ReplicationSettings { ");
        var redacted = this with { PostgresConnectionString = RedactConnectionString(PostgresConnectionString) };
        if (redacted.PrintMembers(text))
            text.Append(' ');
        return text.Append('}').ToString();
    }

    private static string RedactConnectionString(string connectionString)
    {
        try
        {
            var builder = new NpgsqlConnectionStringBuilder(connectionString);
            if (!string.IsNullOrEmpty(builder.Password))
                builder.Password = "***";
            return builder.ConnectionString;
        }
        catch (ArgumentException)
        {
            return "(unreadable connection string)";
        }
    }

    public static string DefaultInstanceId() => $"{Environment.MachineName}-{Environment.ProcessId}";
}
