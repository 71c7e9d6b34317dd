namespace RunsReplication.Pipeline;

/// <summary>
/// The highest LSN that may be confirmed to PostgreSQL. Batches are registered in stream order, each with the
/// LSN that becomes safe once it and every earlier batch are stored in ClickHouse; they may finish in any order.
/// The watermark only moves over a contiguous prefix of finished batches, so a confirmed LSN never runs ahead of
/// what ClickHouse holds. Not thread-safe: one stage (the <see cref="Acknowledger"/>) owns it.
/// </summary>
public sealed class AckWatermark
{
    private readonly Queue<long> _order = new();
    private readonly Dictionary<long, (ulong Lsn, bool Stored)> _batches = new();

    public ulong Confirmed { get; private set; }

    public int Pending => _batches.Count;

    public AckWatermark(ulong start = 0) => Confirmed = start;

    /// <summary>Registers batch <paramref name="sequence"/>; sequences must be registered in increasing order.</summary>
    public void Register(long sequence, ulong safeLsn)
    {
        if (_anyRegistered && sequence <= _lastRegistered)
            throw new InvalidOperationException($"batch {sequence} registered after batch {_lastRegistered}");
        _lastRegistered = sequence;
        _anyRegistered = true;
        _order.Enqueue(sequence);
        _batches[sequence] = (safeLsn, false);
    }

    private long _lastRegistered;
    private bool _anyRegistered;

    /// <summary>Marks a batch stored. Returns true when <see cref="Confirmed"/> moved forward.</summary>
    public bool MarkStored(long sequence)
    {
        if (!_batches.TryGetValue(sequence, out var batch))
            throw new InvalidOperationException($"batch {sequence} was never registered");
        _batches[sequence] = batch with { Stored = true };

        var before = Confirmed;
        while (_order.TryPeek(out var head) && _batches[head].Stored)
        {
            _order.Dequeue();
            var lsn = _batches[head].Lsn;
            _batches.Remove(head);
            if (lsn > Confirmed)
                Confirmed = lsn;
        }
        return Confirmed > before;
    }
}
