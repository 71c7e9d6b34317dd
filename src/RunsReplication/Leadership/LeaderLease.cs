using Microsoft.Extensions.Logging;

namespace RunsReplication.Leadership;

/// <summary>
/// The lease state machine: Follower → Acquiring → Leader → (lost) → Follower, or Stopped after disposal.
/// Leadership is judged only on the local monotonic clock: a lease won or renewed by a request sent at t is led
/// until t + RenewDeadline. Loss is checked on every wake-up and by a deadline timer, so it fires at the deadline
/// even while a Redis call hangs, and before any Redis call after a pause.
/// </summary>
public sealed class LeaderLease : ILeadership, IAsyncDisposable
{
    private readonly ILeaseStore _store;
    private readonly LeaderLeaseOptions _o;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly Action<LeaseLossReason>? _onWatchdog;
    private readonly Func<double> _random;
    private readonly Backoff _backoff;
    private readonly HolderWatch _watch;
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
    private long _heartbeat;
    private int _parks;

    public LeaderLease(ILeaseStore store, LeaderLeaseOptions options, TimeProvider timeProvider, ILogger logger,
        Action<LeaseLossReason>? onWatchdogExpired = null, Func<double>? random = null)
    {
        var errors = options.Validate();
        if (errors.Count > 0) throw new ArgumentException("Invalid leader lease options: " + string.Join("; ", errors), nameof(options));
        _store = store;
        _o = options;
        _time = timeProvider;
        _log = logger;
        _onWatchdog = onWatchdogExpired;
        _random = random ?? Random.Shared.NextDouble;
        _backoff = new Backoff(options.RetryInterval, options.MaxBackoff, _random);
        _watch = new HolderWatch(timeProvider, options.LeaseDuration, options.LeaseDuration - options.ExtendInterval);
    }

    /// <summary>Number of times a loop has parked on a timer (test hook: fake time may be advanced once it grows).</summary>
    internal int Parks => Volatile.Read(ref _parks);

    public LeaderLeaseOptions Options => _o;

    public LeaseStatus Status
    {
        get
        {
            lock (_gate)
            {
                var now = _time.GetTimestamp();
                var wallNow = _time.GetUtcNow();
                var term = _role == LeaseRole.Leader ? _term : null;
                long? expiresIn = null, deadlineIn = null;
                if (term is not null)
                {
                    lock (term.Gate)
                    {
                        expiresIn = Ms(now, term.LastRenewSentAt + Ticks(_o.LeaseDuration - _o.SafetyMargin));
                        deadlineIn = Ms(now, term.Deadline);
                    }
                }
                var hb = Volatile.Read(ref _heartbeat);
                return new LeaseStatus(
                    _o.InstanceId, _role, term?.FencingToken, expiresIn, deadlineIn,
                    _lastRenewalAt is { } r ? wallNow - _time.GetElapsedTime(r, now) : null,
                    _lastOutcome, _holder, _consecutiveFailures,
                    hb == 0 ? null : wallNow - _time.GetElapsedTime(hb, now),
                    hb == 0 ? null : Ms(hb, now),
                    _lastLoss);
            }
        }
    }

    public async Task<bool> IsStillHeldAsync(LeadershipTerm term, CancellationToken cancellationToken)
    {
        if (term.Lost.IsCancellationRequested)
            return false;
        try
        {
            var holder = await _store.ReadHolderAsync(cancellationToken).WaitAsync(_o.CallTimeout, _time, cancellationToken).ConfigureAwait(false);
            return holder.Value == term.HolderValue && !term.Lost.IsCancellationRequested;
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            return false; // unknown is not "ours"
        }
    }

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
            if (previousLoss is { } lost && _o.LossPolicy == LeaseLossPolicy.Exit) throw new LeadershipLostException(lost);
            _pendingLoss = null;
            previous = _term;
            _role = LeaseRole.Acquiring;
        }

        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
        var ct = linked.Token;
        try
        {
            if (previous is not null) await previous.WorkStopped.WaitAsync(ct).ConfigureAwait(false);
            if (previousLoss is not null) await ParkAsync(_backoff.Next(), ct).ConfigureAwait(false);

            int errors = 0;
            string? announcedHolder = null;
            while (true)
            {
                Heartbeat();
                var sentAt = _time.GetTimestamp();
                AcquireResult result;
                try
                {
                    result = await _store.TryAcquireAsync(_o.InstanceId, _o.LeaseDuration, _watch.MayTakeEmpty(sentAt), ct)
                        .WaitAsync(_o.CallTimeout, _time, ct).ConfigureAwait(false);
                }
                catch (Exception ex) when (!ct.IsCancellationRequested)
                {
                    if (++errors == 1)
                        _log.LogWarning("Leader election: Redis call failing ({Error}); retrying with backoff", Describe(ex));
                    await ParkAsync(_backoff.Next(), ct).ConfigureAwait(false);
                    continue;
                }
                if (errors > 0)
                {
                    _log.LogInformation("Leader election: Redis answering again after {FailedAttempts} failed attempts", errors);
                    errors = 0;
                    _backoff.Reset();
                }

                if (result.FencingToken is { } token)
                {
                    var value = result.Holder ?? $"{_o.InstanceId}|{token}";
                    // Taking a key we never watched (a fresh start, maybe just after Redis lost its data): an earlier
                    // holder may still lead by its own clock for up to one lease. Otherwise we saw its lease end.
                    var takeoverSafeAt = _watch.SawNobody ? sentAt + Ticks(_o.LeaseDuration) : sentAt;
                    var term = StartTerm(token, value, sentAt, takeoverSafeAt);
                    if (term is not null)
                    {
                        _watch.Forget();
                        return term;
                    }
                    await TryReleaseAsync(value, ct).ConfigureAwait(false);
                    continue;
                }

                if (result.WasEmptyAndRefused)
                {
                    if (_watch.FoundEmpty(_time.GetTimestamp()))
                        _log.LogWarning(
                            "Leader election: the lease key vanished while {Holder} may still lead (Redis restarted empty, or the key was deleted); not contending for {HoldOffMs} ms, until that lease has certainly ended",
                            _watch.LastHolder, (long)_watch.HoldOffLeft(_time.GetTimestamp()).TotalMilliseconds);
                    await ParkAsync(Backoff.Jitter(_o.RetryInterval, 0.25, _random()), ct).ConfigureAwait(false);
                    continue;
                }

                var holder = result.Holder!;
                lock (_gate) _holder = holder;
                if (holder.StartsWith(_o.InstanceId + "|", StringComparison.Ordinal))
                {
                    // Our own orphan (an acquire whose reply timed out, or a term we already gave up): clear it.
                    if (await TryReleaseAsync(holder, ct).ConfigureAwait(false)) continue;
                }
                else
                {
                    _watch.Saw(holder, sentAt, result.PttlMs);
                    if (holder != announcedHolder)
                    {
                        // Once per holder, not once per poll: following is the normal state of a replica.
                        announcedHolder = holder;
                        _log.LogInformation("Leader election: following; lease held by {Holder} for {PttlMs} more ms", holder, result.PttlMs);
                    }
                }
                await ParkAsync(Backoff.Jitter(_o.RetryInterval, 0.25, _random()), ct).ConfigureAwait(false);
            }
        }
        catch
        {
            lock (_gate) if (_role == LeaseRole.Acquiring) _role = LeaseRole.Follower;
            throw;
        }
    }

    private LeadershipTerm? StartTerm(long token, string value, long sentAt, long takeoverSafeAt)
    {
        var deadline = sentAt + Ticks(_o.RenewDeadline);
        var now = _time.GetTimestamp();
        if (now >= deadline)
        {
            _log.LogWarning("Leader election: acquire reply arrived after the renew deadline ({ElapsedMs} ms); giving the lease back",
                (long)_time.GetElapsedTime(sentAt, now).TotalMilliseconds);
            return null;
        }
        var term = new LeadershipTerm(this, token, value, sentAt, deadline, takeoverSafeAt);
        lock (_gate)
        {
            _term = term;
            _role = LeaseRole.Leader;
            _holder = value;
            _lastOutcome = RenewalOutcome.None;
            _lastRenewalAt = sentAt;
            _consecutiveFailures = 0;
        }
        _backoff.Reset();
        _log.LogInformation("Became leader: fencingToken={FencingToken} renewDeadlineMs={RenewDeadlineMs} leaseMs={LeaseMs}",
            token, (long)_o.RenewDeadline.TotalMilliseconds, _o.LockTimeoutMs);
        term.DeadlineTimer = _time.CreateTimer(static s => ((LeaseTimerState)s!).Lease.OnDeadlineTimer(((LeaseTimerState)s).Term),
            new LeaseTimerState(this, term), _time.GetElapsedTime(now, deadline), Timeout.InfiniteTimeSpan);
        term.RenewLoop = Task.Run(() => RenewLoopAsync(term));
        return term;
    }

    private sealed record LeaseTimerState(LeaderLease Lease, LeadershipTerm Term);

    private async Task RenewLoopAsync(LeadershipTerm term)
    {
        var ct = term.Lost;
        var nextAt = term.AcquireSentAt + Ticks(_o.ExtendInterval);
        try
        {
            while (true)
            {
                var wait = _time.GetElapsedTime(_time.GetTimestamp(), nextAt);
                if (wait > TimeSpan.Zero) await ParkAsync(wait, ct).ConfigureAwait(false);
                ct.ThrowIfCancellationRequested();
                Heartbeat();

                // Judge the lease locally BEFORE touching Redis (a wake-up after a pause must not renew).
                var sentAt = _time.GetTimestamp();
                long deadline;
                lock (term.Gate)
                {
                    deadline = term.Deadline;
                    term.RenewInFlight = sentAt < deadline;
                }
                if (sentAt >= deadline)
                {
                    Lose(term, Classify(term, sentAt));
                    return;
                }

                RenewResult? result = null;
                Exception? error = null;
                int failures = 0;
                try
                {
                    var timeout = Min(_o.CallTimeout, _time.GetElapsedTime(sentAt, deadline));
                    result = await _store.RenewAsync(term.HolderValue, _o.LeaseDuration, ct)
                        .WaitAsync(timeout, _time, ct).ConfigureAwait(false);
                }
                catch (Exception ex) when (!ct.IsCancellationRequested)
                {
                    error = ex; // a timeout is "unknown": it extends nothing
                    lock (term.Gate) failures = ++term.ConsecutiveFailures; // before clearing in-flight (see Classify)
                }
                finally
                {
                    lock (term.Gate) term.RenewInFlight = false;
                }
                Heartbeat();
                var now = _time.GetTimestamp();

                switch (result)
                {
                    case RenewResult.Renewed:
                        int recoveredAfter;
                        lock (term.Gate)
                        {
                            if (term.LossReason is not null) return;
                            if (now >= term.Deadline) { deadline = -1; recoveredAfter = 0; }
                            else
                            {
                                term.LastRenewSentAt = sentAt;
                                term.Deadline = sentAt + Ticks(_o.RenewDeadline);
                                recoveredAfter = term.ConsecutiveFailures;
                                term.ConsecutiveFailures = 0;
                            }
                        }
                        if (deadline == -1) { Lose(term, Classify(term, now)); return; }
                        Record(RenewalOutcome.Renewed, sentAt, 0);
                        if (recoveredAfter > 0)
                            _log.LogInformation("Leader lease renewal recovered after {FailedRenewals} failed attempts; fencingToken={FencingToken}",
                                recoveredAfter, term.FencingToken);
                        nextAt = sentAt + Ticks(_o.ExtendInterval);
                        break;
                    case RenewResult.Missing:
                        Record(RenewalOutcome.Refused, sentAt, term.ConsecutiveFailures);
                        Lose(term, LeaseLossReason.RenewalRefused);
                        return;
                    case RenewResult.HeldByOther:
                        Record(RenewalOutcome.TakenByOther, sentAt, term.ConsecutiveFailures);
                        Lose(term, LeaseLossReason.TakenByOther);
                        return;
                    default:
                        Record(error is TimeoutException ? RenewalOutcome.TimedOut : RenewalOutcome.Failed, sentAt, failures);
                        if (failures == 1)
                            _log.LogWarning(
                                "Leader lease renewal failing ({Error}); retrying until the renew deadline in {RemainingMs} ms; fencingToken={FencingToken}",
                                Describe(error), Ms(now, deadline), term.FencingToken);
                        nextAt = now + Ticks(Backoff.Jitter(_o.RetryInterval, 0.25, _random()));
                        break;
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            _log.LogError(ex, "Leader lease renewal loop crashed; giving up leadership");
            Lose(term, LeaseLossReason.RedisUnreachable);
        }
    }

    private void OnDeadlineTimer(LeadershipTerm term)
    {
        if (term.LossReason is not null) return;
        var now = _time.GetTimestamp();
        long deadline;
        lock (term.Gate) deadline = term.Deadline;
        if (now < deadline)
        {
            term.DeadlineTimer?.Change(_time.GetElapsedTime(now, deadline), Timeout.InfiniteTimeSpan);
            return;
        }
        Lose(term, Classify(term, now));
    }

    /// <summary>Past the deadline: a late wake-up (or no renewal attempt failing/in flight) means we were paused.</summary>
    private LeaseLossReason Classify(LeadershipTerm term, long now)
    {
        lock (term.Gate)
        {
            var lateBy = _time.GetElapsedTime(term.Deadline, now);
            var tolerance = Min(TimeSpan.FromSeconds(1), _o.StopGrace / 2);
            var paused = lateBy > tolerance || (!term.RenewInFlight && term.ConsecutiveFailures == 0);
            return paused ? LeaseLossReason.ExpiredWhilePaused : LeaseLossReason.RedisUnreachable;
        }
    }

    private void Lose(LeadershipTerm term, LeaseLossReason reason)
    {
        if (!term.TryEnd(reason)) return;
        Interlocked.Exchange(ref term.DeadlineTimer, null)?.Dispose();
        var now = _time.GetTimestamp();
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
            reason, term.FencingToken, Ms(term.AcquireSentAt, now), Ms(lastRenew, now), failures);
        term.Fire(reason);

        if (term.WorkStopped.IsCompleted) return;
        var timer = _time.CreateTimer(static s => ((LeaseTimerState)s!).Lease.OnWatchdog(((LeaseTimerState)s).Term),
            new LeaseTimerState(this, term), _o.WatchdogGrace, Timeout.InfiniteTimeSpan);
        term.WatchdogTimer = timer;
        if (term.WorkStopped.IsCompleted) timer.Dispose();
    }

    private void OnWatchdog(LeadershipTerm term)
    {
        if (term.WorkStopped.IsCompleted) return;
        var reason = term.LossReason ?? LeaseLossReason.RedisUnreachable;
        _log.LogError("Leader work did not stop within {GraceMs} ms after losing the lease (reason={Reason} fencingToken={FencingToken}); invoking watchdog",
            (long)_o.WatchdogGrace.TotalMilliseconds, reason, term.FencingToken);
        try { _onWatchdog?.Invoke(reason); }
        catch (Exception ex) { _log.LogError(ex, "Leader lease watchdog callback threw"); }
    }

    internal async ValueTask ReleaseAsync(LeadershipTerm term, CancellationToken cancellationToken)
    {
        Lose(term, LeaseLossReason.Released);
        if (term.RenewLoop is { } loop)
        {
            try { await loop.ConfigureAwait(false); } catch { /* the loop logs its own failures */ }
        }
        await TryReleaseAsync(term.HolderValue, cancellationToken).ConfigureAwait(false);
    }

    private async Task<bool> TryReleaseAsync(string value, CancellationToken ct)
    {
        try
        {
            var deleted = await _store.ReleaseAsync(value, _o.LeaseDuration, ct).WaitAsync(_o.CallTimeout, _time, ct).ConfigureAwait(false);
            _log.LogDebug("Leader lease release of {Value}: released={Released}", value, deleted);
            return deleted;
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            _log.LogInformation("Could not release the leader lease key ({Error}); it will expire on its own", Describe(ex));
            return false;
        }
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

    private async Task ParkAsync(TimeSpan delay, CancellationToken ct)
    {
        var task = Task.Delay(delay, _time, ct);
        Interlocked.Increment(ref _parks);
        await task.ConfigureAwait(false);
    }

    private void Record(RenewalOutcome outcome, long sentAt, int failures)
    {
        lock (_gate)
        {
            _lastOutcome = outcome;
            _lastRenewalAt = sentAt;
            _consecutiveFailures = failures;
        }
    }

    private void Heartbeat() => Volatile.Write(ref _heartbeat, _time.GetTimestamp());

    private long Ticks(TimeSpan d) => (long)(d.TotalSeconds * _time.TimestampFrequency);
    private long Ms(long from, long to) => (long)_time.GetElapsedTime(from, to).TotalMilliseconds;
    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
    private static string Describe(Exception? ex) => ex is null ? "unknown" : $"{ex.GetType().Name}: {ex.Message}";
}
