using Microsoft.Extensions.Logging;

namespace RunsReplication.Leadership;

/// <summary>
/// The last line of defence after a loss: leader work must stop before another replica can take over, so if a lost
/// term's work has not reported stopped within the watchdog grace, the host's callback is told (it should stop the
/// process).
/// </summary>
internal sealed class LeaseWatchdog(TimeProvider time, TimeSpan grace, ILogger log, Action<LeaseLossReason>? onExpired)
{
    public void Arm(LeadershipTerm term)
    {
        if (term.WorkStopped.IsCompleted) return;
        var timer = time.CreateTimer(
            static s => { var (watchdog, t) = ((LeaseWatchdog, LeadershipTerm))s!; watchdog.OnExpired(t); },
            (this, term), grace, Timeout.InfiniteTimeSpan);
        term.WatchdogTimer = timer;
        // The work may have reported stopped while the timer was made, finding no timer to cancel.
        if (term.WorkStopped.IsCompleted) timer.Dispose();
    }

    private void OnExpired(LeadershipTerm term)
    {
        if (term.WorkStopped.IsCompleted) return;
        var reason = term.LossReason ?? LeaseLossReason.RedisUnreachable;
        log.LogError("Leader work did not stop within {GraceMs} ms after losing the lease (reason={Reason} fencingToken={FencingToken}); invoking watchdog",
            (long)grace.TotalMilliseconds, reason, term.FencingToken);
        try { onExpired?.Invoke(reason); }
        catch (Exception ex) { log.LogError(ex, "Leader lease watchdog callback threw"); }
    }
}
