namespace RunsReplication.Pipeline;

/// <summary>
/// Bytes of decoded changes the pipeline may hold at once. The channels bound the pipeline in rows; this bounds it in
/// bytes, so runs with large payloads or outputs cannot multiply memory. The reader reserves before handing a change
/// on and waits when the budget is spent (backpressure, like a full channel); the batcher releases the changes it
/// merges away and the sink releases what it stored. A change larger than the whole budget still passes when
/// nothing else is held, so the pipeline can never wedge on one big row.
/// </summary>
public sealed class MemoryBudget(long capacityBytes)
{
    private readonly Lock _gate = new();
    private long _used;
    private TaskCompletionSource? _released;

    public long CapacityBytes => capacityBytes;

    public long UsedBytes { get { lock (_gate) return _used; } }

    public bool TryReserve(long bytes)
    {
        lock (_gate)
        {
            if (_used > 0 && _used + bytes > capacityBytes)
                return false;
            _used += bytes;
            return true;
        }
    }

    public async ValueTask ReserveAsync(long bytes, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task released;
            lock (_gate)
            {
                if (_used == 0 || _used + bytes <= capacityBytes)
                {
                    _used += bytes;
                    return;
                }
                _released ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                released = _released.Task;
            }
            await released.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public void Release(long bytes)
    {
        TaskCompletionSource? released;
        lock (_gate)
        {
            _used -= bytes;
            released = _released;
            _released = null;
        }
        released?.TrySetResult();
    }
}
