using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using RunsReplication.ClickHouse;

namespace RunsReplication.Tests.ClickHouse;

public sealed class SinkHealthTests
{
    private sealed class CountingLogger : ILogger
    {
        public readonly List<string> Lines = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel level, EventId id, TState state, Exception? e, Func<TState, Exception?, string> format) =>
            Lines.Add($"{level}: {format(state, e)}");
    }

    private static readonly ClickHouseException Down = new("ClickHouse at http://x/ is unreachable", null, null);

    [Fact]
    public void An_outage_seen_by_two_workers_is_logged_once_per_change_of_state_with_a_count()
    {
        var log = new CountingLogger();
        var time = new FakeTimeProvider();
        var health = new SinkHealth(log, time);

        // Two workers, out of step: one escalates to Unavailable while the other is still on its first retries.
        for (var round = 0; round < 50; round++)
        {
            health.Failed(Down, round < 2 ? SinkState.Retrying : SinkState.Unavailable); // worker A
            health.Failed(Down, SinkState.Retrying);                                      // worker B, still early
            time.Advance(TimeSpan.FromSeconds(1));
        }
        Assert.Equal(SinkState.Unavailable, health.State);
        health.Succeeded();
        health.Succeeded();

        Assert.Equal(3, log.Lines.Count);
        Assert.StartsWith("Warning: ClickHouse inserts Retrying", log.Lines[0]);
        Assert.StartsWith("Error: ClickHouse inserts Unavailable", log.Lines[1]);
        Assert.Contains("recovered after 100 failed attempts over 50.0s", log.Lines[2]);
        Assert.Equal(SinkState.Healthy, health.State);
    }

    [Fact]
    public void A_permanent_error_is_reported_as_blocked()
    {
        var log = new CountingLogger();
        var health = new SinkHealth(log, new FakeTimeProvider());
        health.Failed(new ClickHouseException("Code: 516. DB::Exception: Authentication failed", 516, 401), SinkState.Blocked);
        health.Failed(new ClickHouseException("Code: 516. DB::Exception: Authentication failed", 516, 401), SinkState.Blocked);
        Assert.Equal(SinkState.Blocked, health.State);
        Assert.Single(log.Lines);
        Assert.Contains("Authentication failed", health.LastError);
    }
}
