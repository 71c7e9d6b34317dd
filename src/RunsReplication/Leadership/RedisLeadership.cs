using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace RunsReplication.Leadership;

/// <summary>
/// <see cref="ILeadership"/> over Redis: <see cref="LeaderLease"/> + <see cref="RedisLeaseStore"/> (one node) or
/// <see cref="QuorumLeaseStore"/> (a majority of several).
/// </summary>
public sealed class RedisLeadership : ILeadership, IAsyncDisposable
{
    private readonly LeaderLease _lease;

    /// <param name="redis">A shared multiplexer (see <see cref="RedisConnectionFactory"/>).</param>
    /// <param name="options">Validated on construction (throws <see cref="ArgumentException"/> listing every error).</param>
    /// <param name="onWatchdogExpired">Called when leader work has not reported stopped within the watchdog grace after a loss; the host should stop the application.</param>
    public RedisLeadership(IConnectionMultiplexer redis, LeaderLeaseOptions options, ILogger<RedisLeadership> logger,
        TimeProvider? timeProvider = null, Action<LeaseLossReason>? onWatchdogExpired = null)
        : this(new RedisLeaseStore(redis, options.Key), options, logger, timeProvider, onWatchdogExpired)
    {
    }

    public RedisLeadership(ILeaseStore store, LeaderLeaseOptions options, ILogger<RedisLeadership> logger,
        TimeProvider? timeProvider = null, Action<LeaseLossReason>? onWatchdogExpired = null)
    {
        Store = store;
        _lease = new LeaderLease(Store, options, timeProvider ?? TimeProvider.System, logger, onWatchdogExpired);
    }

    public ILeaseStore Store { get; }

    public Task<LeadershipTerm> AcquireAsync(CancellationToken cancellationToken) => _lease.AcquireAsync(cancellationToken);

    public LeaseStatus Status => _lease.Status;

    public Task<bool> IsStillHeldAsync(LeadershipTerm term, CancellationToken cancellationToken) =>
        _lease.IsStillHeldAsync(term, cancellationToken);

    /// <summary>Reads the key (GET + PTTL) for the admin status route.</summary>
    public Task<LeaseHolder> ReadHolderAsync(CancellationToken cancellationToken) => Store.ReadHolderAsync(cancellationToken);

    public ValueTask DisposeAsync() => _lease.DisposeAsync();
}
