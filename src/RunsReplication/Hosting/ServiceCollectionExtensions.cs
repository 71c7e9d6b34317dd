using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RunsReplication.ClickHouse;
using RunsReplication.Configuration;
using RunsReplication.Leadership;
using RunsReplication.Mapping;
using RunsReplication.Observability;
using RunsReplication.Pipeline;
using RunsReplication.Postgres;
using RunsReplication.Tools;
using StackExchange.Redis;

namespace RunsReplication.Hosting;

public static class ServiceCollectionExtensions
{
    /// <summary>Registers the pieces every command shares: settings, time, metrics, PostgreSQL setup, ClickHouse.</summary>
    public static IServiceCollection AddReplicationCore(this IServiceCollection services, ReplicationSettings settings)
    {
        services.AddSingleton(settings);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<ReplicationMetrics>();
        services.AddSingleton<ReplicationStatus>();
        services.AddSingleton<ReplicationSetup>();
        services.AddHttpClient(nameof(ClickHouseClient), client => client.Timeout = TimeSpan.FromSeconds(60));
        services.AddSingleton(sp => new ClickHouseClient(
            sp.GetRequiredService<IHttpClientFactory>().CreateClient(nameof(ClickHouseClient)), settings.ClickHouse, settings.CompressInserts));
        services.AddSingleton<ClickHouseMigrator>();
        services.AddSingleton(new TaskRunMapper(new TaskRunMapperOptions
        {
            DisablePayloadInserts = settings.DisablePayloadInsert,
            DisableErrorFingerprinting = settings.DisableErrorFingerprinting,
        }));
        services.AddSingleton<ClickHouseSink>();
        services.AddSingleton<TaskRunSnapshotReader>();
        services.AddSingleton<Backfiller>();
        services.AddSingleton<ClusterStatusReader>();
        return services;
    }

    /// <summary>Registers the replicator itself: lease, pipeline and the leader loop.</summary>
    public static IServiceCollection AddReplicator(this IServiceCollection services, ReplicationSettings settings)
    {
        services.AddReplicationCore(settings);
        services.AddSingleton<ReplicationPipeline>();
        services.AddSingleton(sp =>
        {
            var logger = sp.GetRequiredService<ILoggerFactory>().CreateLogger("RunsReplication.Redis");
            logger.LogInformation("Connecting to Redis {Redis}; leader lease {LeaseMode}", settings.Redis.ToString(),
                settings.Redis.IsQuorum
                    ? $"on a majority ({QuorumVote.Majority(settings.Redis.Endpoints.Count)}) of {settings.Redis.Endpoints.Count} nodes"
                    : "on one node");
            // AbortOnConnectFail is off: an unreachable Redis means "follower until it returns", not a crash.
            return new LeaseStoreConnection(settings.Redis, settings.LeaderLease.Key);
        });
        services.AddSingleton(sp => new RedisLeadership(
            sp.GetRequiredService<LeaseStoreConnection>().Store,
            settings.LeaderLease,
            sp.GetRequiredService<ILogger<RedisLeadership>>(),
            sp.GetRequiredService<TimeProvider>(),
            reason => WatchdogExpired(sp, reason)));
        services.AddSingleton<ILeadership>(sp => sp.GetRequiredService<RedisLeadership>());
        services.AddSingleton<ReplicationLeaderService>();
        services.AddHostedService(sp => sp.GetRequiredService<ReplicationLeaderService>());
        return services;
    }

    /// <summary>
    /// Leader work did not stop within the grace period after the lease was lost: stop the host, and if even
    /// that hangs, end the process so the orchestrator restarts it. A wedged leader must not keep streaming.
    /// </summary>
    private static void WatchdogExpired(IServiceProvider services, LeaseLossReason reason)
    {
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("RunsReplication.Watchdog");
        logger.LogCritical("Leader work did not stop after the lease was lost ({Reason}); stopping the process", reason);
        Environment.ExitCode = 4;
        services.GetRequiredService<IHostApplicationLifetime>().StopApplication();
        _ = Task.Delay(TimeSpan.FromSeconds(15)).ContinueWith(_ => Environment.FailFast("leader work did not stop after losing the lease"), TaskScheduler.Default);
    }
}
