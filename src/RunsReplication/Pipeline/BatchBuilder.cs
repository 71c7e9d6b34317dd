using System.Threading.Channels;
using RunsReplication.Model;

namespace RunsReplication.Pipeline;

/// <summary>
/// Merges stream events into batches and cuts one when it reaches the batch size or the oldest pending change has
/// waited the flush interval. Within a batch the latest change per (event kind, run id) wins, as in the reference:
/// an insert and an update of one run are both kept (only the insert carries the payload row), while five updates
/// collapse to the last. A large transaction is cut into batches as it arrives, never held whole. Every cut is
/// announced to the acknowledger before the batch is handed on, so the acknowledgement order is the stream order.
/// </summary>
public sealed class BatchBuilder(int batchSize, TimeSpan flushInterval, TimeProvider time, Action<TaskRunChange>? mergedAway = null)
{
    private readonly Dictionary<(ChangeKind, string), TaskRunChange> _pending = new();
    private long _nextSequence;
    private bool _inTransaction;
    private ulong _safeLsn;
    private ulong _lastCutLsn;
    private long? _oldestPendingAt;

    /// <summary>Changes merged away (replaced by a later change to the same run in the same batch).</summary>
    public long MergedChanges { get; private set; }

    public async Task RunAsync(
        ChannelReader<StreamEvent> input,
        ChannelWriter<RowBatch> output,
        ChannelWriter<AckSignal> acks,
        CancellationToken cancellationToken)
    {
        Task<bool>? waiting = null;
        while (true)
        {
            while (input.TryRead(out var item))
            {
                Accept(item);
                if (_pending.Count >= batchSize)
                    await CutAsync(output, acks, cancellationToken).ConfigureAwait(false);
            }

            if (IntervalElapsed())
                await CutAsync(output, acks, cancellationToken).ConfigureAwait(false);

            // One outstanding wait at a time; while changes are pending, wake up when the interval runs out.
            waiting ??= input.WaitToReadAsync(cancellationToken).AsTask();
            if (!waiting.IsCompleted && _oldestPendingAt is { } since)
            {
                var remaining = flushInterval - time.GetElapsedTime(since);
                if (remaining > TimeSpan.Zero)
                    await Task.WhenAny(waiting, Task.Delay(remaining, time, cancellationToken)).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                if (!waiting.IsCompleted)
                    continue;
            }
            var more = await waiting.ConfigureAwait(false);
            waiting = null;
            if (!more)
                break;
        }

        // The stream ended (graceful stop): hand on what is pending so it is stored and acknowledged.
        await CutAsync(output, acks, cancellationToken).ConfigureAwait(false);
        output.TryComplete();
    }

    private void Accept(in StreamEvent item)
    {
        switch (item.Kind)
        {
            case StreamEventKind.Begin:
                _inTransaction = true;
                break;
            case StreamEventKind.Change:
                var change = item.Change!;
                var key = (change.Kind, change.Run.Id);
                if (_pending.TryGetValue(key, out var existing))
                {
                    MergedChanges++;
                    // Equal versions mean the same transaction: the later change in WAL order wins.
                    if (change.Version >= existing.Version)
                    {
                        _pending.Remove(key); // re-add so enumeration order stays arrival order
                        _pending[key] = change;
                        mergedAway?.Invoke(existing);
                    }
                    else
                    {
                        mergedAway?.Invoke(change);
                    }
                }
                else
                {
                    _pending[key] = change;
                }
                _oldestPendingAt ??= time.GetTimestamp();
                break;
            case StreamEventKind.Commit:
                _inTransaction = false;
                Advance(item.Lsn);
                break;
            case StreamEventKind.Keepalive:
                // Inside a transaction the server's position may be past rows we have not stored yet.
                if (!_inTransaction)
                    Advance(item.Lsn);
                break;
        }
    }

    private void Advance(ulong lsn)
    {
        if (lsn <= _safeLsn)
            return;
        _safeLsn = lsn;
        _oldestPendingAt ??= time.GetTimestamp();
    }

    private bool IntervalElapsed() =>
        _oldestPendingAt is { } since && time.GetElapsedTime(since) >= flushInterval;

    private async ValueTask CutAsync(ChannelWriter<RowBatch> output, ChannelWriter<AckSignal> acks, CancellationToken cancellationToken)
    {
        _oldestPendingAt = null;
        if (_pending.Count == 0 && _safeLsn <= _lastCutLsn)
            return;

        var sequence = _nextSequence++;
        _lastCutLsn = _safeLsn;
        await acks.WriteAsync(AckSignal.Cut(sequence, _safeLsn), cancellationToken).ConfigureAwait(false);
        if (_pending.Count == 0)
        {
            // Only the position moved (a commit whose rows went in earlier batches, or a keepalive).
            await acks.WriteAsync(AckSignal.StoredBatch(sequence), cancellationToken).ConfigureAwait(false);
            return;
        }
        var changes = _pending.Values.ToArray();
        _pending.Clear();
        await output.WriteAsync(new RowBatch(sequence, changes, _safeLsn), cancellationToken).ConfigureAwait(false);
    }
}
