using System.Globalization;

using RunsReplication.Leadership;

namespace RunsReplication.Configuration;

/// <summary>
/// Reads <see cref="ReplicationSettings"/> from environment variables named as Trigger.dev names them. Every
/// problem becomes one line naming the variable, the value (secrets redacted) and what was expected; all of them
/// are reported together so an operator fixes the environment in one go.
/// </summary>
public sealed class EnvironmentSettingsReader(Func<string, string?> getVariable)
{
    private readonly List<string> _problems = [];

    public static ReplicationSettings ReadFromProcess() =>
        new EnvironmentSettingsReader(Environment.GetEnvironmentVariable).Read();

    public ReplicationSettings Read()
    {
        _problems.Clear();
        var defaults = new ReplicationSettings { PostgresConnectionString = "", ClickHouse = new(new Uri("http://localhost:8123/"), "default", "") };

        var postgres = ReadPostgres();
        var clickHouse = ReadClickHouse();
        var settings = defaults with
        {
            PostgresConnectionString = postgres ?? "",
            ClickHouse = clickHouse ?? defaults.ClickHouse,
            ClickHouseDatabase = Identifier("RUN_REPLICATION_CLICKHOUSE_DATABASE", defaults.ClickHouseDatabase),
            SlotName = Slot("RUN_REPLICATION_SLOT_NAME", defaults.SlotName),
            PublicationName = Identifier("RUN_REPLICATION_PUBLICATION_NAME", defaults.PublicationName),
            FlushBatchSize = Int("RUN_REPLICATION_FLUSH_BATCH_SIZE", defaults.FlushBatchSize, 1, 1_000_000),
            FlushInterval = Millis("RUN_REPLICATION_FLUSH_INTERVAL_MS", defaults.FlushInterval, 1, 600_000),
            MaxFlushConcurrency = Int("RUN_REPLICATION_MAX_FLUSH_CONCURRENCY", defaults.MaxFlushConcurrency, 1, 64),
            InsertMaxRetries = Int("RUN_REPLICATION_INSERT_MAX_RETRIES", defaults.InsertMaxRetries, 1, 100),
            InsertBaseDelay = Millis("RUN_REPLICATION_INSERT_BASE_DELAY_MS", defaults.InsertBaseDelay, 1, 600_000),
            InsertMaxDelay = Millis("RUN_REPLICATION_INSERT_MAX_DELAY_MS", defaults.InsertMaxDelay, 1, 3_600_000),
            DisablePayloadInsert = Bool("RUN_REPLICATION_DISABLE_PAYLOAD_INSERT", false),
            DisableErrorFingerprinting = Bool("RUN_REPLICATION_DISABLE_ERROR_FINGERPRINTING", false),
            StreamBufferSize = Int("RUN_REPLICATION_STREAM_BUFFER_SIZE", defaults.StreamBufferSize, 16, 10_000_000),
            MigrateOnStart = Bool("RUN_REPLICATION_MIGRATE_ON_START", true),
            MaxRowsPerInsert = Int("RUN_REPLICATION_MAX_ROWS_PER_INSERT", defaults.MaxRowsPerInsert, 1, 1_000_000),
            MaxBufferedBytes = Int("RUN_REPLICATION_MAX_BUFFERED_MB", (int)(defaults.MaxBufferedBytes >> 20), 8, 65_536) * 1024L * 1024,
            CompressInserts = OneOf("RUN_REPLICATION_CLICKHOUSE_COMPRESSION", "gzip", "gzip", "none") == "gzip",
            Redis = new RedisConnectionSettings(
                Host: Text("RUN_REPLICATION_REDIS_HOST", "REDIS_HOST") ?? "localhost",
                Port: Int("RUN_REPLICATION_REDIS_PORT", 6379, 1, 65535, "REDIS_PORT"),
                Username: Text("RUN_REPLICATION_REDIS_USERNAME", "REDIS_USERNAME"),
                Password: Text("RUN_REPLICATION_REDIS_PASSWORD", "REDIS_PASSWORD"),
                // TLS is on unless disabled: the reference's rule.
                TlsDisabled: Bool("RUN_REPLICATION_REDIS_TLS_DISABLED", Bool("REDIS_TLS_DISABLED", false)),
                SkipCertificateValidation: Bool("RUN_REPLICATION_REDIS_TLS_SKIP_VERIFY", false),
                QuorumNodes: RedisNodes("RUN_REPLICATION_REDIS_QUORUM_NODES")),
            TerminateStaleSlotHolder = Bool("RUN_REPLICATION_TERMINATE_STALE_SLOT_HOLDER", true),
            HttpPort = Int("RUN_REPLICATION_HTTP_PORT", defaults.HttpPort, 0, 65535),
            InstanceId = Text("RUN_REPLICATION_INSTANCE_ID") ?? ReplicationSettings.DefaultInstanceId(),
        };

        if (settings.InsertMaxDelay < settings.InsertBaseDelay)
            _problems.Add($"RUN_REPLICATION_INSERT_MAX_DELAY_MS={settings.InsertMaxDelay.TotalMilliseconds} is smaller than RUN_REPLICATION_INSERT_BASE_DELAY_MS={settings.InsertBaseDelay.TotalMilliseconds}: expected max >= base");
        settings = settings with { LeaderLease = ReadLeaderLease(settings) };
        if (settings.InstanceId.Length > 63 || settings.InstanceId.Any(c => char.IsControl(c)))
            _problems.Add($"RUN_REPLICATION_INSTANCE_ID='{settings.InstanceId}' is not valid: expected at most 63 printable characters (it becomes PostgreSQL's application_name)");

        if (_problems.Count > 0)
            throw new SettingsException(_problems.ToList());
        return settings;
    }

    private LeaderLeaseOptions ReadLeaderLease(ReplicationSettings settings)
    {
        var lease = LeaderLeaseOptions.FromEnvironment(getVariable, _problems, settings.SlotName);
        lease.InstanceId = settings.InstanceId;
        if (Text("RUN_REPLICATION_LEADER_LOCK_KEY") is { } key)
            lease.Key = key;
        _problems.AddRange(lease.Validate());
        return lease;
    }

    private string? ReadPostgres()
    {
        var name = "RUN_REPLICATION_LEGACY_DATABASE_URL";
        var url = Text(name);
        if (url is null)
        {
            name = "DATABASE_URL";
            url = Text(name);
        }
        if (url is null)
        {
            _problems.Add("DATABASE_URL is not set: expected postgresql://user:password@host:port/database (or set RUN_REPLICATION_LEGACY_DATABASE_URL)");
            return null;
        }
        try
        {
            return DatabaseUrl.Parse(url).ConnectionString;
        }
        catch (FormatException e)
        {
            _problems.Add($"{name}='{DatabaseUrl.Redact(url)}' is not valid: {e.Message}");
            return null;
        }
    }

    private ClickHouseEndpoint? ReadClickHouse()
    {
        const string name = "RUN_REPLICATION_CLICKHOUSE_URL";
        var url = Text(name);
        if (url is null)
        {
            _problems.Add($"{name} is not set: expected http://user:password@host:8123");
            return null;
        }
        try
        {
            return ClickHouseEndpoint.Parse(url);
        }
        catch (FormatException e)
        {
            _problems.Add($"{name}='{DatabaseUrl.Redact(url)}' is not valid: {e.Message}");
            return null;
        }
    }

    /// <summary>"host:port,host:port,host:port": at least three distinct nodes, or none (one node from HOST/PORT).</summary>
    private IReadOnlyList<RedisEndpoint>? RedisNodes(string name)
    {
        var raw = Text(name);
        if (raw is null)
            return null;
        var nodes = new List<RedisEndpoint>();
        foreach (var entry in raw.Split(',', StringSplitOptions.TrimEntries))
        {
            var colon = entry.LastIndexOf(':');
            if (colon <= 0 || Uri.CheckHostName(entry[..colon].Trim('[', ']')) == UriHostNameType.Unknown
                || !int.TryParse(entry[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
            {
                _problems.Add($"{name}='{raw}' is not valid: '{entry}' is not host:port (expected e.g. redis-a:6379,redis-b:6379,redis-c:6379)");
                return null;
            }
            nodes.Add(new RedisEndpoint(entry[..colon].Trim('[', ']'), port));
        }
        if (nodes.Count < 3 || nodes.Distinct().Count() != nodes.Count)
        {
            _problems.Add($"{name}='{raw}' is not valid: expected at least three distinct independent Redis nodes (a majority must survive one failing)");
            return null;
        }
        return nodes;
    }

    private string? Text(string name, string? fallbackName = null)
    {
        var value = getVariable(name);
        if (string.IsNullOrWhiteSpace(value) && fallbackName is not null)
            value = getVariable(fallbackName);
        return string.IsNullOrWhiteSpace(value) ? null : value.Trim();
    }

    private int Int(string name, int fallback, int min, int max, string? fallbackName = null)
    {
        var raw = Text(name, fallbackName);
        if (raw is null)
            return fallback;
        if (int.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max)
            return value;
        _problems.Add($"{name}='{raw}' is not valid: expected an integer from {min} to {max}");
        return fallback;
    }

    private TimeSpan Millis(string name, TimeSpan fallback, int min, int max) =>
        TimeSpan.FromMilliseconds(Int(name, (int)fallback.TotalMilliseconds, min, max));

    private bool Bool(string name, bool fallback)
    {
        var raw = Text(name);
        if (raw is null)
            return fallback;
        switch (raw.ToLowerInvariant())
        {
            case "1" or "true" or "yes" or "on": return true;
            case "0" or "false" or "no" or "off": return false;
            default:
                _problems.Add($"{name}='{raw}' is not valid: expected true/false (or 1/0)");
                return fallback;
        }
    }

    private string OneOf(string name, string fallback, params string[] allowed)
    {
        var raw = Text(name);
        if (raw is null)
            return fallback;
        var match = allowed.FirstOrDefault(a => a.Equals(raw, StringComparison.OrdinalIgnoreCase));
        if (match is not null)
            return match;
        _problems.Add($"{name}='{raw}' is not valid: expected one of {string.Join(", ", allowed)}");
        return fallback;
    }

    private string Identifier(string name, string fallback)
    {
        var raw = Text(name);
        if (raw is null)
            return fallback;
        if (Identifiers.IsValidIdentifier(raw))
            return raw;
        _problems.Add($"{name}='{raw}' is not valid: expected letters, digits and underscores, starting with a letter or underscore, at most 63 characters");
        return fallback;
    }

    private string Slot(string name, string fallback)
    {
        var raw = Text(name);
        if (raw is null)
            return fallback;
        if (Identifiers.IsValidSlotName(raw))
            return raw;
        _problems.Add($"{name}='{raw}' is not valid: expected lower-case letters, digits and underscores, at most 63 characters (PostgreSQL's rule for slot names)");
        return fallback;
    }
}
