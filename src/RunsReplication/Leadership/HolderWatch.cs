namespace RunsReplication.Leadership;

/// <summary>
/// A contender's memory of the last holder it saw, so that it never mistakes a key Redis lost for a lease that ended.
/// <para>
/// When Redis restarts empty (or someone deletes the key), the key vanishes while its holder still leads by its own
/// clock, for up to one renew deadline after its last renewal; SET NX alone would elect a second leader beside it.
/// The rule: an empty key may be taken when its absence is explained by the holder's own expiry (we saw it recently
/// enough that a live holder's renewal could not have slipped past us), or when a full lease has passed since we
/// found it empty. A release leaves a marker and the key is then always free, so graceful handovers stay immediate.
/// </para>
/// <para>
/// Why "recently enough": a live holder renews every ExtendInterval, so its key always shows at least
/// LeaseDuration − ExtendInterval of PTTL. If our observations are closer together than that, an empty key seen
/// before the last PTTL ran out can only mean the key was lost, never that it expired.
/// </para>
/// </summary>
internal sealed class HolderWatch(TimeProvider time, TimeSpan leaseDuration, TimeSpan maxObservationGap)
{
    private string? _holder;
    private long _seenSentAt;          // when we sent the request that saw _holder
    private long _cannotExpireBefore;  // _seenSentAt + its PTTL: the key cannot expire by itself earlier
    private long? _holdOffUntil;       // set when we found the key empty without an explanation

    /// <summary>The last other holder we saw, if any.</summary>
    public string? LastHolder => _holder;

    /// <summary>True when we took the lease without having watched anyone hold it (fresh start).</summary>
    public bool SawNobody => _holder is null && _holdOffUntil is null;

    public void Saw(string holder, long sentAt, long pttlMs)
    {
        _holder = holder;
        _seenSentAt = sentAt;
        _cannotExpireBefore = pttlMs < 0 ? long.MaxValue : sentAt + Ticks(TimeSpan.FromMilliseconds(pttlMs));
        _holdOffUntil = null;
    }

    /// <summary>May a request sent at <paramref name="sentAt"/> take an empty key?</summary>
    public bool MayTakeEmpty(long sentAt)
    {
        if (_holdOffUntil is { } until) return sentAt >= until;
        if (_holder is null) return true;
        return sentAt >= _cannotExpireBefore && time.GetElapsedTime(_seenSentAt, sentAt) < maxObservationGap;
    }

    /// <summary>
    /// A request found the key empty and did not take it. Any holder renewed before our reply, so it stops leading
    /// within a lease duration of <paramref name="replyAt"/>. Returns true the first time (log it once).
    /// </summary>
    public bool FoundEmpty(long replyAt)
    {
        if (_holdOffUntil is not null) return false;
        _holdOffUntil = replyAt + Ticks(leaseDuration);
        return true;
    }

    public TimeSpan HoldOffLeft(long now) =>
        _holdOffUntil is { } until && until > now ? time.GetElapsedTime(now, until) : TimeSpan.Zero;

    public void Forget()
    {
        _holder = null;
        _holdOffUntil = null;
    }

    private long Ticks(TimeSpan d) => (long)(d.TotalSeconds * time.TimestampFrequency);
}
