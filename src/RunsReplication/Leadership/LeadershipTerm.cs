namespace RunsReplication.Leadership;

/// <summary>
/// What a won election gives the caller. Link every leader-only operation to <see cref="Lost"/>; when the work has
/// stopped, call <see cref="ReportWorkStopped"/> (the watchdog fires otherwise, and the next
/// <see cref="ILeadership.AcquireAsync"/> waits for it).
/// </summary>
public sealed class LeadershipTerm
{
    private readonly LeaderLease _owner;
    private readonly CancellationTokenSource _lostCts = new();
    private readonly TaskCompletionSource<LeaseLossReason> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _workStopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _reason = -1;

    // Mutable lease bookkeeping (monotonic timestamps), guarded by Gate.
    internal readonly object Gate = new();
    internal long LastRenewSentAt;
    internal long Deadline;
    internal bool RenewInFlight;
    internal int ConsecutiveFailures;
    internal ITimer? DeadlineTimer;
    internal ITimer? WatchdogTimer;
    internal Task? RenewLoop;

    internal LeadershipTerm(LeaderLease owner, long fencingToken, string holderValue, long acquireSentAt, long deadline, long takeoverSafeAt)
    {
        TakeoverSafeAt = takeoverSafeAt;
        _owner = owner;
        FencingToken = fencingToken;
        HolderValue = holderValue;
        AcquireSentAt = acquireSentAt;
        LastRenewSentAt = acquireSentAt;
        Deadline = deadline;
    }

    /// <summary>Monotonically increasing per key (INCR of <c>&lt;key&gt;:fencing</c>); use it to fence checkpoint writes.</summary>
    public long FencingToken { get; }

    /// <summary>The value stored in Redis: "&lt;instanceId&gt;|&lt;token&gt;".</summary>
    public string HolderValue { get; }

    internal long AcquireSentAt { get; }

    /// <summary>
    /// Monotonic timestamp (of the lease's <see cref="TimeProvider"/>) after which any earlier holder has stopped
    /// leading by its own clock. The acquisition time when we watched the previous lease end (expire or be released);
    /// one lease duration later when we took a key we never watched, as after a fresh start. Before this moment,
    /// a process still holding the slot may be a rightful leader that has not yet learned Redis lost its key.
    /// </summary>
    public long TakeoverSafeAt { get; }

    /// <summary>Fires once when the lease is lost or released.</summary>
    public CancellationToken Lost => _lostCts.Token;

    public LeaseLossReason? LossReason
    {
        get { var r = Volatile.Read(ref _reason); return r < 0 ? null : (LeaseLossReason)r; }
    }

    /// <summary>Completes (with the reason) when the term ends.</summary>
    public Task<LeaseLossReason> Ended => _ended.Task;

    /// <summary>Completes when the leader work has called <see cref="ReportWorkStopped"/>.</summary>
    public Task WorkStopped => _workStopped.Task;

    /// <summary>The leader work reports that it has stopped (stream closed, nothing in flight). Cancels the watchdog.</summary>
    public void ReportWorkStopped()
    {
        if (_workStopped.TrySetResult())
            Interlocked.Exchange(ref WatchdogTimer, null)?.Dispose();
    }

    /// <summary>Graceful shutdown: fires <see cref="Lost"/> with <see cref="LeaseLossReason.Released"/>, stops renewing, then compare-and-DELs the key.</summary>
    public ValueTask ReleaseAsync(CancellationToken cancellationToken = default) => _owner.ReleaseAsync(this, cancellationToken);

    internal bool TryEnd(LeaseLossReason reason) =>
        Interlocked.CompareExchange(ref _reason, (int)reason, -1) == -1;

    internal void Fire(LeaseLossReason reason)
    {
        // The token turns cancelled synchronously; registered callbacks run on the thread pool so they cannot block us.
        _ = _lostCts.CancelAsync();
        _ended.TrySetResult(reason);
    }
}
