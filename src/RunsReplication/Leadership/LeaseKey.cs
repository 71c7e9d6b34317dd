using Microsoft.Extensions.Logging;

namespace RunsReplication.Leadership;

/// <summary>
/// The lease key as the lease loops call it: every <see cref="ILeaseStore"/> call is bounded by a timeout, because a
/// hung Redis call must never keep a loop from judging its lease; a timed-out call counts as unknown, not as an answer.
/// </summary>
internal sealed class LeaseKey(ILeaseStore store, LeaderLeaseOptions o, TimeProvider time, ILogger log)
{
    public Task<AcquireResult> TryAcquireAsync(bool mayTakeEmptyKey, CancellationToken ct) =>
        store.TryAcquireAsync(o.InstanceId, o.LeaseDuration, mayTakeEmptyKey, ct).WaitAsync(o.CallTimeout, time, ct);

    /// <param name="timeout">The call timeout, or less when the renew deadline comes sooner.</param>
    public Task<RenewResult> RenewAsync(string value, TimeSpan timeout, CancellationToken ct) =>
        store.RenewAsync(value, o.LeaseDuration, ct).WaitAsync(timeout, time, ct);

    /// <summary>Whether the key holds <paramref name="value"/>; false when Redis does not answer, as unknown is not "ours".</summary>
    public async Task<bool> HoldsAsync(string value, CancellationToken ct)
    {
        try
        {
            var holder = await store.ReadHolderAsync(ct).WaitAsync(o.CallTimeout, time, ct).ConfigureAwait(false);
            return holder.Value == value;
        }
        catch (Exception) when (!ct.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>
    /// Compare-and-release of <paramref name="value"/>; true when it was ours and is released. A failure is only
    /// logged: the key expires on its own, and a release is never worth failing the caller for.
    /// </summary>
    public async Task<bool> TryReleaseAsync(string value, CancellationToken ct)
    {
        try
        {
            var deleted = await store.ReleaseAsync(value, o.LeaseDuration, ct).WaitAsync(o.CallTimeout, time, ct).ConfigureAwait(false);
            log.LogDebug("Leader lease release of {Value}: released={Released}", value, deleted);
            return deleted;
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            log.LogInformation("Could not release the leader lease key ({Error}); it will expire on its own", Describe(ex));
            return false;
        }
    }

    /// <summary>A failed call for a log line: the type and message are enough, a stack trace of a Redis timeout is noise.</summary>
    public static string Describe(Exception? ex) => ex is null ? "unknown" : $"{ex.GetType().Name}: {ex.Message}";
}
