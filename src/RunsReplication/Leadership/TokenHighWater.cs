namespace RunsReplication.Leadership;

/// <summary>
/// The highest fencing token this instance has seen in any holder value ("&lt;instanceId&gt;|&lt;token&gt;"), ours or
/// another's. Passed to Redis as the floor of the next token, so tokens keep growing after a node loses its counter.
/// One instance serves every node of a quorum.
/// </summary>
public sealed class TokenHighWater
{
    private long _value;

    public long Value => Interlocked.Read(ref _value);

    public void Observe(string? holderValue)
    {
        var bar = holderValue?.LastIndexOf('|') ?? -1;
        if (bar >= 0 && long.TryParse(holderValue.AsSpan(bar + 1), out var token))
            Observe(token);
    }

    public void Observe(long token)
    {
        long seen;
        while (token > (seen = Interlocked.Read(ref _value)))
            if (Interlocked.CompareExchange(ref _value, token, seen) == seen)
                return;
    }
}
