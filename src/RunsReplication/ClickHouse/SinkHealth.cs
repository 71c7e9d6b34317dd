using Microsoft.Extensions.Logging;

namespace RunsReplication.ClickHouse;

public enum SinkState
{
    Healthy,
    /// <summary>Inserts are failing and being retried with backoff.</summary>
    Retrying,
    /// <summary>Retries are exhausted: replication is paused and inserts are retried at the capped delay.</summary>
    Unavailable,
    /// <summary>ClickHouse refused for a reason retrying cannot fix (auth, missing table, syntax) until an operator acts.</summary>
    Blocked,
}

/// <summary>
/// Tracks whether inserts succeed and logs only when that changes: the first failure, the escalation, and the
/// recovery with how many attempts failed in between. A ClickHouse outage of ten minutes writes a handful of
/// lines, not one per retry. Shared by the sink's workers, hence the lock.
/// </summary>
public sealed class SinkHealth(ILogger logger, TimeProvider time)
{
    private readonly Lock _gate = new();
    private long _failures;
    private long _since;
    private string? _lastError;

    public SinkState State { get; private set; } = SinkState.Healthy;

    public string? LastError { get { lock (_gate) return _lastError; } }

    public void Failed(ClickHouseException error, SinkState state)
    {
        lock (_gate)
        {
            _failures++;
            _lastError = error.Message;
            // Workers fail on their own schedules: one still retrying must not turn an outage back into "retrying".
            if (state == State || (state == SinkState.Retrying && State == SinkState.Unavailable))
                return;
            if (State == SinkState.Healthy)
                _since = time.GetTimestamp();
            var previous = State;
            State = state;
            var level = state == SinkState.Retrying ? LogLevel.Warning : LogLevel.Error;
            logger.Log(level, "ClickHouse inserts {State} (was {Previous}) after {Failures} failed attempts: {Error}",
                state, previous, _failures, error.Message);
        }
    }

    public void Succeeded()
    {
        lock (_gate)
        {
            if (State == SinkState.Healthy)
                return;
            logger.LogInformation("ClickHouse inserts recovered after {Failures} failed attempts over {Seconds:F1}s",
                _failures, time.GetElapsedTime(_since).TotalSeconds);
            State = SinkState.Healthy;
            _failures = 0;
            _lastError = null;
        }
    }
}
