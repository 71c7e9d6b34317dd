using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace RunsReplication.Leadership;

/// <summary>One Redis node.</summary>
public readonly record struct RedisEndpoint(string Host, int Port)
{
    public override string ToString() => $"{Host}:{Port}";
}

/// <summary>
/// Redis connection settings (from RUN_REPLICATION_REDIS_*). The password is never logged or printed.
/// <see cref="QuorumNodes"/>, when set, replaces Host/Port: the lease then lives on a majority of these independent
/// nodes (<see cref="QuorumLeaseStore"/>), all reached with the same credentials and TLS mode.
/// </summary>
public sealed record RedisConnectionSettings(
    string Host,
    int Port,
    string? Username = null,
    string? Password = null,
    bool TlsDisabled = false,
    bool SkipCertificateValidation = false,
    int ConnectTimeoutMs = 2000,
    int AsyncTimeoutMs = 1000,
    IReadOnlyList<RedisEndpoint>? QuorumNodes = null)
{
    /// <summary>The nodes to connect to: the quorum nodes, or Host:Port alone.</summary>
    public IReadOnlyList<RedisEndpoint> Endpoints => QuorumNodes is { Count: > 0 } nodes ? nodes : [new RedisEndpoint(Host, Port)];

    public bool IsQuorum => QuorumNodes is { Count: > 0 };

    /// <summary>host:port, user and TLS mode; no password.</summary>
    public override string ToString() =>
        $"{string.Join(",", Endpoints)} user={(string.IsNullOrEmpty(Username) ? "(default)" : Username)} tls={(TlsDisabled ? "off" : "on")}" +
        (SkipCertificateValidation ? " certValidation=off" : "") + $" password={(string.IsNullOrEmpty(Password) ? "none" : "***")}";
}

public static class RedisConnectionFactory
{
    /// <summary>TLS unless disabled (certificate validation on unless explicitly skipped), AbortOnConnectFail=false, short timeouts.</summary>
    public static ConfigurationOptions BuildOptions(RedisConnectionSettings settings) =>
        BuildOptions(settings, settings.Endpoints[0]);

    /// <summary>Options for one node of <paramref name="settings"/> (each quorum node is its own connection).</summary>
    public static ConfigurationOptions BuildOptions(RedisConnectionSettings settings, RedisEndpoint endpoint)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(endpoint.Host);
        var options = new ConfigurationOptions
        {
            EndPoints = { { endpoint.Host, endpoint.Port } },
            User = string.IsNullOrEmpty(settings.Username) ? null : settings.Username,
            Password = string.IsNullOrEmpty(settings.Password) ? null : settings.Password,
            Ssl = !settings.TlsDisabled,
            AbortOnConnectFail = false,
            ConnectTimeout = settings.ConnectTimeoutMs,
            AsyncTimeout = settings.AsyncTimeoutMs,
            SyncTimeout = settings.AsyncTimeoutMs,
            ConnectRetry = 1,
            ClientName = "runs-replication",
        };
        if (!settings.TlsDisabled)
        {
            options.SslHost = endpoint.Host;
            if (settings.SkipCertificateValidation)
                options.CertificateValidation += (_, _, _, _) => true;
        }
        return options;
    }

    public static async Task<IConnectionMultiplexer> ConnectAsync(RedisConnectionSettings settings, ILogger logger)
    {
        logger.LogInformation("Connecting to Redis {Redis}", settings.ToString());
        return await ConnectionMultiplexer.ConnectAsync(BuildOptions(settings)).ConfigureAwait(false);
    }
}

/// <summary>The lease store and the Redis connections under it, disposed together (a DI singleton).</summary>
public sealed class LeaseStoreConnection : IAsyncDisposable
{
    private readonly IReadOnlyList<IConnectionMultiplexer> _connections;

    public LeaseStoreConnection(RedisConnectionSettings settings, string key)
    {
        _connections = settings.Endpoints.Select(e => (IConnectionMultiplexer)ConnectionMultiplexer.Connect(RedisConnectionFactory.BuildOptions(settings, e))).ToList();
        Store = settings.IsQuorum ? new QuorumLeaseStore(_connections, key) : new RedisLeaseStore(_connections[0], key);
    }

    public ILeaseStore Store { get; }

    public async ValueTask DisposeAsync()
    {
        foreach (var connection in _connections) await connection.DisposeAsync().ConfigureAwait(false);
    }
}
