using Microsoft.Extensions.Logging;

namespace RunsReplication.Leadership;

/// <summary>
/// A won acquisition, everything a term starts from: the request went out at <see cref="SentAt"/>, so the term leads
/// until <see cref="Deadline"/>; <see cref="RepliedAt"/> is when the reply was judged to have come before it.
/// </summary>
internal readonly record struct LeaseWin(
    long FencingToken, string HolderValue, long SentAt, long Deadline, long TakeoverSafeAt, long RepliedAt);

/// <summary>
/// The acquire loop of a follower: polls Redis for the key until this instance wins it, watching the current holder
/// meanwhile (see <see cref="HolderWatch"/>) so that a key Redis lost is never taken for a lease that ended.
/// Backs off while Redis fails, and logs a failure, a recovery and each new holder once rather than per poll.
/// </summary>
/// <param name="sawHolder">Told every holder a poll finds, for the status snapshot.</param>
internal sealed class LeaseContender(LeaseKey key, LeaseClock clock, LeaderLeaseOptions o, ILogger log, Func<double> random,
    Action<string> sawHolder)
{
    private readonly Backoff _backoff = new(o.RetryInterval, o.MaxBackoff, random);
    private readonly HolderWatch _watch = new(clock.Provider, o.LeaseDuration, o.LeaseDuration - o.ExtendInterval);

    /// <param name="afterLoss">
    /// Start with a backoff: whatever ended the last term (a flapping Redis, a pause) may well happen again at once.
    /// </param>
    public async Task<LeaseWin> ContendAsync(bool afterLoss, CancellationToken ct)
    {
        if (afterLoss) await clock.ParkAsync(_backoff.Next(), ct).ConfigureAwait(false);

        int errors = 0;
        string? announcedHolder = null;
        while (true)
        {
            clock.Beat();
            var sentAt = clock.Now;
            AcquireResult result;
            try
            {
                result = await key.TryAcquireAsync(_watch.MayTakeEmpty(sentAt), ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (!ct.IsCancellationRequested)
            {
                if (++errors == 1)
                    log.LogWarning("Leader election: Redis call failing ({Error}); retrying with backoff", LeaseKey.Describe(ex));
                await clock.ParkAsync(_backoff.Next(), ct).ConfigureAwait(false);
                continue;
            }
            if (errors > 0)
            {
                log.LogInformation("Leader election: Redis answering again after {FailedAttempts} failed attempts", errors);
                errors = 0;
                _backoff.Reset();
            }

            if (result.FencingToken is { } token)
            {
                var value = result.Holder ?? $"{o.InstanceId}|{token}";
                if (InTime(token, value, sentAt) is { } win) return win;
                await key.TryReleaseAsync(value, ct).ConfigureAwait(false);
                continue;
            }

            if (result.WasEmptyAndRefused)
            {
                if (_watch.FoundEmpty(clock.Now))
                    log.LogWarning(
                        "Leader election: the lease key vanished while {Holder} may still lead (Redis restarted empty, or the key was deleted); not contending for {HoldOffMs} ms, until that lease has certainly ended",
                        _watch.LastHolder, (long)_watch.HoldOffLeft(clock.Now).TotalMilliseconds);
                await clock.ParkAsync(PollInterval(), ct).ConfigureAwait(false);
                continue;
            }

            var holder = result.Holder!;
            sawHolder(holder);
            if (holder.StartsWith(o.InstanceId + "|", StringComparison.Ordinal))
            {
                // Our own orphan (an acquire whose reply timed out, or a term we already gave up): clear it.
                if (await key.TryReleaseAsync(holder, ct).ConfigureAwait(false)) continue;
            }
            else
            {
                _watch.Saw(holder, sentAt, result.PttlMs);
                if (holder != announcedHolder)
                {
                    // Once per holder, not once per poll: following is the normal state of a replica.
                    announcedHolder = holder;
                    log.LogInformation("Leader election: following; lease held by {Holder} for {PttlMs} more ms", holder, result.PttlMs);
                }
            }
            await clock.ParkAsync(PollInterval(), ct).ConfigureAwait(false);
        }
    }

    /// <summary>The win, unless its reply came so late that the lease it granted may already be past its deadline.</summary>
    private LeaseWin? InTime(long token, string value, long sentAt)
    {
        var deadline = sentAt + clock.Ticks(o.RenewDeadline);
        var now = clock.Now;
        if (now >= deadline)
        {
            log.LogWarning("Leader election: acquire reply arrived after the renew deadline ({ElapsedMs} ms); giving the lease back",
                clock.Ms(sentAt, now));
            return null;
        }
        // Taking a key we never watched (a fresh start, maybe just after Redis lost its data): an earlier
        // holder may still lead by its own clock for up to one lease. Otherwise we saw its lease end.
        var takeoverSafeAt = _watch.SawNobody ? sentAt + clock.Ticks(o.LeaseDuration) : sentAt;
        _watch.Forget();
        _backoff.Reset();
        return new LeaseWin(token, value, sentAt, deadline, takeoverSafeAt, now);
    }

    private TimeSpan PollInterval() => Backoff.Jitter(o.RetryInterval, 0.25, random());
}
