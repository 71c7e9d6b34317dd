using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using RunsReplication.Leadership;

namespace RunsReplication.Tests.Leadership;

/// <summary>In-memory Redis stand-in whose answers a test can script. Records every call.</summary>
internal sealed class ScriptedLeaseStore : ILeaseStore
{
    private long _counter;
    public readonly ConcurrentQueue<string> Calls = new();
    /// <summary>For each acquire: whether the caller allowed taking an empty key.</summary>
    public readonly ConcurrentQueue<bool> EmptyAllowed = new();
    public volatile string? Holder;
    /// <summary>The release marker: the value last released, until someone acquires.</summary>
    public volatile string? Released;
    /// <summary>The PTTL reported for another holder's key.</summary>
    public long HolderPttlMs = 20_000;
    public Func<Task<RenewResult>>? OnRenew;
    public Func<Task<AcquireResult>>? OnAcquire;

    public int Count(string prefix) => Calls.Count(c => c.StartsWith(prefix, StringComparison.Ordinal));

    public Task<AcquireResult> TryAcquireAsync(string instanceId, TimeSpan ttl, bool mayTakeEmptyKey, CancellationToken cancellationToken)
    {
        Calls.Enqueue("acquire");
        EmptyAllowed.Enqueue(mayTakeEmptyKey);
        if (OnAcquire is { } f) return f();
        var h = Holder;
        if (h is not null)
            return Task.FromResult(new AcquireResult(null, h, HolderPttlMs));
        if (!mayTakeEmptyKey && Released is null) return Task.FromResult(AcquireResult.EmptyKeyRefused);
        var token = Interlocked.Increment(ref _counter);
        Holder = $"{instanceId}|{token}";
        Released = null;
        return Task.FromResult(new AcquireResult(token, Holder, (long)ttl.TotalMilliseconds));
    }

    public Task<RenewResult> RenewAsync(string value, TimeSpan ttl, CancellationToken cancellationToken)
    {
        Calls.Enqueue("renew:" + value);
        if (OnRenew is { } f) return f();
        // compare-and-pexpire: never assigns Holder
        var h = Holder;
        return Task.FromResult(h is null ? RenewResult.Missing : h == value ? RenewResult.Renewed : RenewResult.HeldByOther);
    }

    public Task<bool> ReleaseAsync(string value, TimeSpan ttl, CancellationToken cancellationToken)
    {
        Calls.Enqueue("release:" + value);
        if (Holder != value) return Task.FromResult(false);
        Holder = null;
        Released = value;
        return Task.FromResult(true);
    }

    public Task<LeaseHolder> ReadHolderAsync(CancellationToken cancellationToken)
    {
        Calls.Enqueue("read");
        return Task.FromResult(new LeaseHolder(Holder, Holder is null ? -2 : 1000));
    }
}

internal sealed record LogLine(LogLevel Level, string Message, IReadOnlyDictionary<string, object?> Fields);

internal sealed class CapturingLogger : ILogger
{
    public readonly ConcurrentQueue<LogLine> Lines = new();
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var fields = new Dictionary<string, object?>();
        if (state is IEnumerable<KeyValuePair<string, object?>> kvs)
            foreach (var kv in kvs) fields[kv.Key] = kv.Value;
        Lines.Enqueue(new LogLine(logLevel, formatter(state, exception), fields));
    }

    public List<LogLine> Matching(string text) => Lines.Where(l => l.Message.Contains(text, StringComparison.Ordinal)).ToList();
}

/// <summary>
/// Delegates to a FakeTimeProvider (monotonic clock and timers) but lets a test skew only the wall clock.
/// (Subclassing FakeTimeProvider does not work: its timers follow the virtual GetUtcNow.)
/// </summary>
internal sealed class WallSkewedClock(FakeTimeProvider inner) : TimeProvider
{
    public TimeSpan WallSkew { get; set; }
    public override DateTimeOffset GetUtcNow() => inner.GetUtcNow() + WallSkew;
    public override long GetTimestamp() => inner.GetTimestamp();
    public override long TimestampFrequency => inner.TimestampFrequency;
    public override TimeZoneInfo LocalTimeZone => inner.LocalTimeZone;
    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        inner.CreateTimer(callback, state, dueTime, period);
}

internal sealed class Harness : IAsyncDisposable
{
    private int _seenParks;
    public readonly FakeTimeProvider Time = new(new DateTimeOffset(2026, 5, 1, 12, 0, 0, TimeSpan.Zero));
    public readonly WallSkewedClock Clock;
    public readonly ScriptedLeaseStore Store = new();
    public readonly CapturingLogger Log = new();
    public readonly ConcurrentQueue<LeaseLossReason> WatchdogCalls = new();
    public readonly LeaderLeaseOptions Options;
    public readonly LeaderLease Lease;

    public Harness(Action<LeaderLeaseOptions>? configure = null)
    {
        Clock = new WallSkewedClock(Time);
        Options = new LeaderLeaseOptions { InstanceId = "me", Key = "k" };
        configure?.Invoke(Options);
        // random = 0.5 → jitter factor exactly 1.0, backoff midpoints: deterministic schedules.
        Lease = new LeaderLease(Store, Options, Clock, Log, r => WatchdogCalls.Enqueue(r), () => 0.5);
    }

    public static readonly TimeSpan RenewDeadline = TimeSpan.FromMilliseconds(19_849); // defaults

    /// <summary>Waits until a lease loop has parked on a (fake) timer since the last call, then advances.</summary>
    public async Task AdvanceParkedAsync(TimeSpan delta)
    {
        await Eventually(() => Lease.Parks > _seenParks, "a lease loop to park");
        _seenParks = Lease.Parks;
        Time.Advance(delta);
    }

    public void SyncParks() => _seenParks = Lease.Parks;

    /// <summary>
    /// Advances fake time in small steps until a lease loop parks again (at most <paramref name="atMost"/> and one
    /// step more). For waits whose timer is created just after a call the test observed, e.g. a call timeout:
    /// advancing once could happen before the timer exists, and then it would never fire.
    /// </summary>
    public async Task AdvanceUntilParkedAsync(TimeSpan atMost)
    {
        var step = TimeSpan.FromMilliseconds(100);
        var advanced = TimeSpan.Zero;
        _seenParks = Lease.Parks;
        while (Lease.Parks == _seenParks)
        {
            if (advanced > atMost + step) throw new TimeoutException($"no lease loop parked within {atMost} of fake time");
            Time.Advance(step);
            advanced += step;
            await Task.Delay(5);
        }
        // The new park stays unseen: the next AdvanceParkedAsync advances past it.
    }

    public static async Task Eventually(Func<bool> condition, string what)
    {
        var until = DateTime.UtcNow.AddSeconds(5);
        while (!condition())
        {
            if (DateTime.UtcNow > until) throw new TimeoutException("Timed out waiting for " + what);
            await Task.Delay(2);
        }
    }

    public static async Task<T> Within<T>(Task<T> task) => await task.WaitAsync(TimeSpan.FromSeconds(5));

    public async ValueTask DisposeAsync() => await Lease.DisposeAsync();
}
