using Microsoft.Extensions.Logging;

namespace RunsReplication.Leadership;

/// <summary>
/// Keeps a term alive: renews it every ExtendInterval, retries failed renewals until the renew deadline, and ends the
/// term through the lease when Redis refuses it or the deadline passes. A deadline timer enforces the deadline even
/// while a renewal hangs; a loop that wakes up past it ends the term before touching Redis.
/// </summary>
internal sealed class LeaseRenewer(LeaderLease lease, LeaseKey key, LeaseClock clock, LeaderLeaseOptions o, ILogger log,
    Func<double> random)
{
    /// <param name="now">A moment before the term's deadline, so the deadline timer's due time is positive.</param>
    public void Start(LeadershipTerm term, long now)
    {
        term.DeadlineTimer = clock.Provider.CreateTimer(
            static s => { var (renewer, t) = ((LeaseRenewer, LeadershipTerm))s!; renewer.OnDeadlineTimer(t); },
            (this, term), clock.Elapsed(now, term.Deadline), Timeout.InfiniteTimeSpan);
        term.RenewLoop = Task.Run(() => RenewLoopAsync(term));
    }

    private async Task RenewLoopAsync(LeadershipTerm term)
    {
        var ct = term.Lost;
        var nextAt = term.AcquireSentAt + clock.Ticks(o.ExtendInterval);
        try
        {
            while (true)
            {
                var wait = clock.Elapsed(clock.Now, nextAt);
                if (wait > TimeSpan.Zero) await clock.ParkAsync(wait, ct).ConfigureAwait(false);
                ct.ThrowIfCancellationRequested();
                clock.Beat();

                // Judge the lease locally BEFORE touching Redis (a wake-up after a pause must not renew).
                var sentAt = clock.Now;
                long deadline;
                lock (term.Gate)
                {
                    deadline = term.Deadline;
                    term.RenewInFlight = sentAt < deadline;
                }
                if (sentAt >= deadline)
                {
                    lease.Lose(term, Classify(term, sentAt));
                    return;
                }

                RenewResult? result = null;
                Exception? error = null;
                int failures = 0;
                try
                {
                    result = await key.RenewAsync(term.HolderValue, Min(o.CallTimeout, clock.Elapsed(sentAt, deadline)), ct)
                        .ConfigureAwait(false);
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
                clock.Beat();
                var now = clock.Now;

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
                                term.Deadline = sentAt + clock.Ticks(o.RenewDeadline);
                                recoveredAfter = term.ConsecutiveFailures;
                                term.ConsecutiveFailures = 0;
                            }
                        }
                        if (deadline == -1) { lease.Lose(term, Classify(term, now)); return; }
                        lease.RecordRenewal(RenewalOutcome.Renewed, sentAt, 0);
                        if (recoveredAfter > 0)
                            log.LogInformation("Leader lease renewal recovered after {FailedRenewals} failed attempts; fencingToken={FencingToken}",
                                recoveredAfter, term.FencingToken);
                        nextAt = sentAt + clock.Ticks(o.ExtendInterval);
                        break;
                    case RenewResult.Missing:
                        lease.RecordRenewal(RenewalOutcome.Refused, sentAt, term.ConsecutiveFailures);
                        lease.Lose(term, LeaseLossReason.RenewalRefused);
                        return;
                    case RenewResult.HeldByOther:
                        lease.RecordRenewal(RenewalOutcome.TakenByOther, sentAt, term.ConsecutiveFailures);
                        lease.Lose(term, LeaseLossReason.TakenByOther);
                        return;
                    default:
                        lease.RecordRenewal(error is TimeoutException ? RenewalOutcome.TimedOut : RenewalOutcome.Failed, sentAt, failures);
                        if (failures == 1)
                            log.LogWarning(
                                "Leader lease renewal failing ({Error}); retrying until the renew deadline in {RemainingMs} ms; fencingToken={FencingToken}",
                                LeaseKey.Describe(error), clock.Ms(now, deadline), term.FencingToken);
                        nextAt = now + clock.Ticks(Backoff.Jitter(o.RetryInterval, 0.25, random()));
                        break;
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            log.LogError(ex, "Leader lease renewal loop crashed; giving up leadership");
            lease.Lose(term, LeaseLossReason.RedisUnreachable);
        }
    }

    private void OnDeadlineTimer(LeadershipTerm term)
    {
        if (term.LossReason is not null) return;
        var now = clock.Now;
        long deadline;
        lock (term.Gate) deadline = term.Deadline;
        if (now < deadline)
        {
            // Renewals moved the deadline since the timer was set: wait for the new one.
            term.DeadlineTimer?.Change(clock.Elapsed(now, deadline), Timeout.InfiniteTimeSpan);
            return;
        }
        lease.Lose(term, Classify(term, now));
    }

    /// <summary>Past the deadline: a late wake-up (or no renewal attempt failing/in flight) means we were paused.</summary>
    private LeaseLossReason Classify(LeadershipTerm term, long now)
    {
        lock (term.Gate)
        {
            var lateBy = clock.Elapsed(term.Deadline, now);
            var tolerance = Min(TimeSpan.FromSeconds(1), o.StopGrace / 2);
            var paused = lateBy > tolerance || (!term.RenewInFlight && term.ConsecutiveFailures == 0);
            return paused ? LeaseLossReason.ExpiredWhilePaused : LeaseLossReason.RedisUnreachable;
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
