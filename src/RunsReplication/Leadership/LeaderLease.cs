using Microsoft.Extensions.Logging;

namespace RunsReplication.Leadership;

/// <summary>
/// The lease state machine: Follower → Acquiring → Leader → (lost) → Follower, or Stopped after disposal.
/// Leadership is judged only on the local monotonic clock: a lease won or renewed by a request sent at t is led
/// until t + RenewDeadline. <see cref="LeaseContender"/> wins the key, <see cref="LeaseRenewer"/> keeps a term and
/// ends it on loss, <see cref="LeaseWatchdog"/> guards that leader work stops after it.
/// </summary>
public sealed class LeaderLease : ILeadership, IAsyncDisposable
{
    private readonly LeaseClock _clock;
    private readonly LeaseKey _key;
    private readonly LeaseContender _contender;
    private readonly LeaseRenewer _renewer;
    private readonly LeaseWatchdog _watchdog;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _disposed = new();
    private readonly object _gate = new();

    private LeaseRole _role = LeaseRole.Follower;
    private LeadershipTerm? _term;
    private LeaseLossReason? _lastLoss;
    private LeaseLossReason? _pendingLoss; // a loss (not a release) not yet followed by a new AcquireAsync
    private string? _holder;
    private RenewalOutcome _lastOutcome;
    private long? _lastRenewalAt;
    private int _consecutiveFailures;

    public LeaderLease(ILeaseStore store, LeaderLeaseOptions options, TimeProvider timeProvider, ILogger logger,
        Action<LeaseLossReason>? onWatchdogExpired = null, Func<double>? random = null)
    {
        var errors = options.Validate();
        if (errors.Count > 0) throw new ArgumentException("Invalid leader lease options: " + string.Join("; ", errors), nameof(options));
        Options = options;
        _log = logger;
        random ??= Random.Shared.NextDouble;
        _clock = new LeaseClock(timeProvider);
        _key = new LeaseKey(store, options, timeProvider, logger);
        _contender = new LeaseContender(_key, _clock, options, logger, random, holder => { lock (_gate) _holder = holder; });
        _renewer = new LeaseRenewer(this, _key, _clock, options, logger, random);
        _watchdog = new LeaseWatchdog(timeProvider, options.WatchdogGrace, logger, onWatchdogExpired);
    }

    /// <summary>Number of times a loop has parked on a timer (test hook: fake time may be advanced once it grows).</summary>
    internal int Parks => _clock.Parks;

    public LeaderLeaseOptions Options { get; }

    public LeaseStatus Status
    {
        get
        {
            lock (_gate)
            {
                var now = _clock.Now;
                var wallNow = _clock.Provider.GetUtcNow();
                var term = _role == LeaseRole.Leader ? _term : null;
                long? expiresIn = null, deadlineIn = null;
                if (term is not null)
                    lock (term.Gate)
                    {
                        expiresIn = _clock.Ms(now, term.LastRenewSentAt + _clock.Ticks(Options.LeaseDuration - Options.SafetyMargin));
                        deadlineIn = _clock.Ms(now, term.Deadline);
                    }
                var hb = _clock.LastBeat;
                return new LeaseStatus(
                    Options.InstanceId, _role, term?.FencingToken, expiresIn, deadlineIn,
                    _lastRenewalAt is { } r ? wallNow - _clock.Elapsed(r, now) : null,
                    _lastOutcome, _holder, _consecutiveFailures,
                    hb == 0 ? null : wallNow - _clock.Elapsed(hb, now),
                    hb == 0 ? null : _clock.Ms(hb, now),
                    _lastLoss);
            }
        }
    }

    public async Task<bool> IsStillHeldAsync(LeadershipTerm term, CancellationToken cancellationToken) =>
        !term.Lost.IsCancellationRequested
        && await _key.HoldsAsync(term.HolderValue, cancellationToken).ConfigureAwait(false)
        && !term.Lost.IsCancellationRequested;

    public async Task<LeadershipTerm> AcquireAsync(CancellationToken cancellationToken)
    {
        LeaseLossReason? previousLoss;
        LeadershipTerm? previous;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_role == LeaseRole.Stopped, this);
            if (_role == LeaseRole.Acquiring) throw new InvalidOperationException("AcquireAsync is already running.");
            if (_term is { LossReason: null }) throw new InvalidOperationException("This instance already leads; wait for the term to end.");
            previousLoss = _pendingLoss;
            if (previousLoss is { } lost && Options.LossPolicy == LeaseLossPolicy.Exit) throw new LeadershipLostException(lost);
            _pendingLoss = null;
            previous = _term;
            _role = LeaseRole.Acquiring;
        }

        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
        try
        {
            // Two terms' work must never overlap, even when the last one ended by release.
            if (previous is not null) await previous.WorkStopped.WaitAsync(linked.Token).ConfigureAwait(false);
            var win = await _contender.ContendAsync(afterLoss: previousLoss is not null, linked.Token).ConfigureAwait(false);
            if (TryStartTerm(win) is { } term) return term;
            // Disposed while the winning reply was on its way: a stopped instance must not lead; hand the key back.
            await _key.TryReleaseAsync(win.HolderValue, CancellationToken.None).ConfigureAwait(false);
            throw new OperationCanceledException("The lease was disposed while acquiring.", _disposed.Token);
        }
        catch
        {
            lock (_gate) if (_role == LeaseRole.Acquiring) _role = LeaseRole.Follower;
            throw;
        }
    }

    private LeadershipTerm? TryStartTerm(LeaseWin win)
    {
        var term = new LeadershipTerm(this, win.FencingToken, win.HolderValue, win.SentAt, win.Deadline, win.TakeoverSafeAt);
        lock (_gate)
        {
            if (_role == LeaseRole.Stopped) return null;
            _term = term;
            _role = LeaseRole.Leader;
            _holder = win.HolderValue;
            RecordRenewal(RenewalOutcome.None, win.SentAt, 0);
        }
        _log.LogInformation("Became leader: fencingToken={FencingToken} renewDeadlineMs={RenewDeadlineMs} leaseMs={LeaseMs}",
            win.FencingToken, (long)Options.RenewDeadline.TotalMilliseconds, Options.LockTimeoutMs);
        _renewer.Start(term, win.RepliedAt);
        return term;
    }

    /// <summary>Ends <paramref name="term"/> (once; later calls do nothing) and tells its work through <see cref="LeadershipTerm.Lost"/>.</summary>
    internal void Lose(LeadershipTerm term, LeaseLossReason reason)
    {
        if (!term.TryEnd(reason)) return;
        Interlocked.Exchange(ref term.DeadlineTimer, null)?.Dispose();
        var now = _clock.Now;
        long lastRenew;
        int failures;
        lock (term.Gate) { lastRenew = term.LastRenewSentAt; failures = term.ConsecutiveFailures; }
        lock (_gate)
        {
            _lastLoss = reason;
            if (reason != LeaseLossReason.Released) _pendingLoss = reason;
            if (_role == LeaseRole.Leader && ReferenceEquals(_term, term)) _role = LeaseRole.Follower;
        }
        var level = reason == LeaseLossReason.Released ? LogLevel.Information : LogLevel.Warning;
        _log.Log(level,
            "Leader lease lost: reason={Reason} fencingToken={FencingToken} heldForMs={HeldForMs} sinceLastRenewalMs={SinceLastRenewalMs} failedRenewals={FailedRenewals}",
            reason, term.FencingToken, _clock.Ms(term.AcquireSentAt, now), _clock.Ms(lastRenew, now), failures);
        term.Fire(reason);
        _watchdog.Arm(term);
    }

    internal void RecordRenewal(RenewalOutcome outcome, long sentAt, int failures)
    {
        lock (_gate) (_lastOutcome, _lastRenewalAt, _consecutiveFailures) = (outcome, sentAt, failures);
    }

    internal async ValueTask ReleaseAsync(LeadershipTerm term, CancellationToken cancellationToken)
    {
        Lose(term, LeaseLossReason.Released);
        try { if (term.RenewLoop is { } loop) await loop.ConfigureAwait(false); }
        catch { /* the loop logs its own failures */ }
        await _key.TryReleaseAsync(term.HolderValue, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        LeadershipTerm? term;
        lock (_gate)
        {
            if (_role == LeaseRole.Stopped) return;
            _role = LeaseRole.Stopped;
            term = _term;
        }
        await _disposed.CancelAsync().ConfigureAwait(false);
        if (term is { LossReason: null }) await ReleaseAsync(term, CancellationToken.None).ConfigureAwait(false);
    }
}
