namespace RunsReplication.Leadership;

/// <summary>
/// The lease's clock: monotonic timestamps of the injected <see cref="TimeProvider"/> (the wall clock may jump, so
/// leadership is never judged on it), the timers the lease loops park on, and the heartbeat that shows they are alive.
/// </summary>
internal sealed class LeaseClock(TimeProvider time)
{
    private long _heartbeat;
    private int _parks;

    public TimeProvider Provider => time;

    public long Now => time.GetTimestamp();

    /// <summary>Number of times a loop has parked on a timer (test hook: fake time may be advanced once it grows).</summary>
    public int Parks => Volatile.Read(ref _parks);

    /// <summary>When a lease loop last woke up; 0 before the first wake-up.</summary>
    public long LastBeat => Volatile.Read(ref _heartbeat);

    public void Beat() => Volatile.Write(ref _heartbeat, time.GetTimestamp());

    public async Task ParkAsync(TimeSpan delay, CancellationToken ct)
    {
        // Counted once the timer exists, so a test that sees the count grow may advance fake time past it.
        var task = Task.Delay(delay, time, ct);
        Interlocked.Increment(ref _parks);
        await task.ConfigureAwait(false);
    }

    public long Ticks(TimeSpan d) => (long)(d.TotalSeconds * time.TimestampFrequency);
    public TimeSpan Elapsed(long from, long to) => time.GetElapsedTime(from, to);
    public long Ms(long from, long to) => (long)time.GetElapsedTime(from, to).TotalMilliseconds;
}
