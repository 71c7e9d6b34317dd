namespace RunsReplication.Leadership;

/// <summary>
/// Capped exponential backoff with decorrelated jitter: next = min(cap, uniform(initial, previous * 3)).
/// Every value lies in [initial, cap]. Pure apart from the injected random source (returns [0,1)).
/// </summary>
public sealed class Backoff
{
    private readonly TimeSpan _initial;
    private readonly TimeSpan _cap;
    private readonly Func<double> _random;
    private TimeSpan _previous;

    public Backoff(TimeSpan initial, TimeSpan cap, Func<double>? random = null)
    {
        if (initial <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(initial), initial, "must be positive");
        if (cap < initial) throw new ArgumentOutOfRangeException(nameof(cap), cap, "must be >= initial");
        _initial = initial;
        _cap = cap;
        _random = random ?? Random.Shared.NextDouble;
        _previous = initial;
    }

    public int Attempts { get; private set; }

    public TimeSpan Next()
    {
        Attempts++;
        var upper = Math.Min(_cap.Ticks, _previous.Ticks * 3.0);
        var ticks = _initial.Ticks + (upper - _initial.Ticks) * Math.Clamp(_random(), 0.0, 1.0);
        _previous = TimeSpan.FromTicks((long)Math.Clamp(ticks, _initial.Ticks, _cap.Ticks));
        return _previous;
    }

    public void Reset()
    {
        Attempts = 0;
        _previous = _initial;
    }

    /// <summary>A period with ±<paramref name="fraction"/> uniform jitter (e.g. 0.25 → [0.75p, 1.25p]).</summary>
    public static TimeSpan Jitter(TimeSpan period, double fraction, double random01)
    {
        fraction = Math.Clamp(fraction, 0.0, 1.0);
        var factor = 1.0 - fraction + 2.0 * fraction * Math.Clamp(random01, 0.0, 1.0);
        return TimeSpan.FromTicks((long)(period.Ticks * factor));
    }
}
