namespace RunsReplication.Leadership;

/// <summary>Why a leadership term ended. Fired exactly once per term.</summary>
public enum LeaseLossReason
{
    /// <summary>The process woke up (timer or loop) already past its renew deadline: it was paused.</summary>
    ExpiredWhilePaused,
    /// <summary>Redis answered the renewal: the key is gone.</summary>
    RenewalRefused,
    /// <summary>Redis answered the renewal: the key holds another holder's value.</summary>
    TakenByOther,
    /// <summary>Renewals failed or hung until the renew deadline.</summary>
    RedisUnreachable,
    /// <summary>We released the lease (graceful shutdown).</summary>
    Released,
}

public enum LeaseRole { Follower, Acquiring, Leader, Stopped }

public enum RenewalOutcome { None, Renewed, Refused, TakenByOther, TimedOut, Failed }

/// <summary>What to do after a term is lost (not released): contend again, or let the caller exit non-zero.</summary>
public enum LeaseLossPolicy { Reacquire, Exit }

/// <summary>
/// Result of the acquire script: <see cref="FencingToken"/> is null when the key was held (by <see cref="Holder"/>,
/// for <see cref="PttlMs"/> more ms by the server's clock) or was empty while the caller did not allow taking an
/// empty key (<see cref="EmptyKeyRefused"/>: both null).
/// </summary>
public readonly record struct AcquireResult(long? FencingToken, string? Holder, long PttlMs = -2)
{
    public static readonly AcquireResult EmptyKeyRefused = new(null, null);
    public bool Acquired => FencingToken is not null;
    public bool WasEmptyAndRefused => FencingToken is null && Holder is null;
}

public enum RenewResult
{
    /// <summary>The key held our value and its expiry was reset.</summary>
    Renewed,
    /// <summary>The key does not exist (it was NOT re-created).</summary>
    Missing,
    /// <summary>The key holds another value.</summary>
    HeldByOther,
}

/// <summary>The key as read from Redis: value (null when missing) and server-side PTTL in ms (negative when missing/no expiry).</summary>
public readonly record struct LeaseHolder(string? Value, long PttlMs);

/// <summary>The four Redis operations the lease needs. Implementations must never re-create a missing key on renew.</summary>
public interface ILeaseStore
{
    /// <summary>
    /// Takes the key if it is free (INCR fencing counter; the stored value is "&lt;instanceId&gt;|&lt;token&gt;").
    /// A key its holder released (marked by the release) is always free; any other empty key only when
    /// <paramref name="mayTakeEmptyKey"/>.
    /// </summary>
    Task<AcquireResult> TryAcquireAsync(string instanceId, TimeSpan ttl, bool mayTakeEmptyKey, CancellationToken cancellationToken);
    /// <summary>Compare-and-PEXPIRE.</summary>
    Task<RenewResult> RenewAsync(string value, TimeSpan ttl, CancellationToken cancellationToken);
    /// <summary>Compare-and-DEL, leaving a release marker that expires after <paramref name="ttl"/>. True when our value was deleted.</summary>
    Task<bool> ReleaseAsync(string value, TimeSpan ttl, CancellationToken cancellationToken);
    /// <summary>GET + PTTL, for status.</summary>
    Task<LeaseHolder> ReadHolderAsync(CancellationToken cancellationToken);
}

/// <summary>The seam the replication worker uses.</summary>
public interface ILeadership
{
    /// Waits until this instance holds the lease (contending with jittered retries) and returns the term.
    Task<LeadershipTerm> AcquireAsync(CancellationToken cancellationToken);
    LeaseStatus Status { get; }
    /// <summary>
    /// Asks Redis whether the key still holds <paramref name="term"/>'s value. Before ending another process's
    /// walsender a leader checks this: after Redis lost its data, two instances may each believe they lead for up to
    /// one renewal interval, and they must not take the slot from each other in turn.
    /// </summary>
    Task<bool> IsStillHeldAsync(LeadershipTerm term, CancellationToken cancellationToken);
}

/// <summary>Snapshot for /healthz and the admin status route. Times in ms are on the local monotonic clock.</summary>
public sealed record LeaseStatus(
    string InstanceId,
    LeaseRole Role,
    long? FencingToken,
    long? LeaseExpiresInMs,
    long? RenewDeadlineInMs,
    DateTimeOffset? LastRenewalAt,
    RenewalOutcome LastRenewalOutcome,
    string? Holder,
    int ConsecutiveRenewalFailures,
    DateTimeOffset? LoopHeartbeatAt,
    long? LoopHeartbeatAgeMs,
    LeaseLossReason? LastLossReason);

/// <summary>Thrown by <see cref="ILeadership.AcquireAsync"/> under <see cref="LeaseLossPolicy.Exit"/> after a term was lost: the caller should exit non-zero.</summary>
public sealed class LeadershipLostException(LeaseLossReason reason)
    : Exception($"Leader lease was lost ({reason}) and the loss policy is 'exit'.")
{
    public LeaseLossReason Reason { get; } = reason;
}
