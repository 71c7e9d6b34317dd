using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace RunsReplication.Leadership;

/// <summary>Redis connection settings (from RUN_REPLICATION_REDIS_*). The password is never logged or printed.</summary>
public sealed record RedisConnectionSettings(
    string Host,
    int Port,
    string? Username = null,
    string? Password = null,
    bool TlsDisabled = false,
    bool SkipCertificateValidation = false,
    int ConnectTimeoutMs = 2000,
    int AsyncTimeoutMs = 1000)
{
    /// <summary>host:port, user and TLS mode; no password.</summary>
    public override string ToString() =>
        $"{Host}:{Port} user={(string.IsNullOrEmpty(Username) ? "(default)" : Username)} tls={(TlsDisabled ? "off" : "on")}" +
        (SkipCertificateValidation ? " certValidation=off" : "") + $" password={(string.IsNullOrEmpty(Password) ? "none" : "***")}";
}

public static class RedisConnectionFactory
{
    /// <summary>TLS unless disabled (certificate validation on unless explicitly skipped), AbortOnConnectFail=false, short timeouts.</summary>
    public static ConfigurationOptions BuildOptions(RedisConnectionSettings settings)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(settings.Host);
        var options = new ConfigurationOptions
        {
            EndPoints = { { settings.Host, settings.Port } },
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
            options.SslHost = settings.Host;
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
