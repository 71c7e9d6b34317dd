using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Npgsql;
using RunsReplication.ClickHouse;
using RunsReplication.Configuration;
using RunsReplication.Observability;
using RunsReplication.Postgres;

namespace RunsReplication.Pipeline;

/// <summary>
/// One run of the leader-only flow: stream → batcher → sink workers → acknowledger, joined by bounded channels
/// so a slow ClickHouse pauses reading instead of growing memory.
/// Two tokens end it. <c>stop</c> is graceful: stop reading, store what was read, confirm it, close.
/// <c>abort</c> is lease loss: everything stops at once, the stream is closed, nothing more is confirmed.
/// </summary>
public sealed class ReplicationPipeline(
    ReplicationSettings settings,
    ReplicationSetup setup,
    ClickHouseSink sink,
    ReplicationStatus status,
    ReplicationMetrics metrics,
    TimeProvider time,
    ILoggerFactory loggers)
{
    private readonly ILogger _logger = loggers.CreateLogger<ReplicationPipeline>();

    /// <param name="onStreaming">Runs once PostgreSQL has accepted the stream.</param>
    public async Task RunAsync(CancellationToken stop, CancellationToken abort, Action? onStreaming = null)
    {
        await setup.EnsureAsync(abort).ConfigureAwait(false);

        await using var stream = new ReplicationStream(settings, time, loggers.CreateLogger<ReplicationStream>(), metrics);
        await stream.OpenAsync(abort).ConfigureAwait(false);

        var events = Channel.CreateBounded<StreamEvent>(new BoundedChannelOptions(settings.StreamBufferSize)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        });
        // Room for a backlog of cut batches, bounded in rows, so that workers can group them into large inserts.
        // Half an insert's worth is enough: while one worker stores a group the next one fills up behind it, and
        // every queued change is a decoded record held in memory (peak memory scales with this bound).
        var batches = Channel.CreateBounded<RowBatch>(new BoundedChannelOptions(Math.Max(2 * settings.MaxFlushConcurrency, settings.MaxRowsPerInsert / 2 / settings.FlushBatchSize))
        {
            FullMode = BoundedChannelFullMode.Wait,
        });
        var acks = Channel.CreateBounded<AckSignal>(new BoundedChannelOptions(4096)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        });

        // A failing stage ends the run: `failed` joins abort so every stage stops together.
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(abort);
        using var reading = CancellationTokenSource.CreateLinkedTokenSource(failed.Token, stop);
        var token = failed.Token;

        var budget = new MemoryBudget(settings.MaxBufferedBytes);
        var acknowledger = new Acknowledger(lsn =>
        {
            stream.Acknowledge(lsn);
            status.SetConfirmed(lsn);
            metrics.SetConfirmedLsn(lsn);
        }, status.ConfirmedLsn);

        var readerTask = Guard(async () =>
        {
            try
            {
                await stream.RunAsync(new CountingWriter(events.Writer, budget, status, metrics), reading.Token,
                    onStarted: () =>
                    {
                        status.SetStreaming(true, stream.BackendProcessId);
                        onStreaming?.Invoke();
                    }).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested && !token.IsCancellationRequested)
            {
                // Graceful: the stream was asked to stop reading.
            }
            finally
            {
                status.SetStreaming(false, null);
                events.Writer.TryComplete();
            }
        }, failed);
        var batcherTask = Guard(() => new BatchBuilder(settings.FlushBatchSize, settings.FlushInterval, time, dropped => budget.Release(dropped.ApproximateBytes))
            .RunAsync(events.Reader, batches.Writer, acks.Writer, token), failed);
        var workers = Enumerable.Range(0, settings.MaxFlushConcurrency).Select(_ => Guard(async () =>
        {
            var group = new List<RowBatch>();
            while (await batches.Reader.WaitToReadAsync(token).ConfigureAwait(false))
            {
                group.Clear();
                var rows = 0;
                while (rows < settings.MaxRowsPerInsert && batches.Reader.TryRead(out var batch))
                {
                    group.Add(batch);
                    rows += batch.Changes.Count;
                }
                if (group.Count == 0)
                    continue;
                await sink.StoreAsync(group, token).ConfigureAwait(false);
                budget.Release(group.Sum(b => b.Changes.Sum(c => c.ApproximateBytes)));
                foreach (var stored in group)
                    await acks.Writer.WriteAsync(AckSignal.StoredBatch(stored.Sequence), token).ConfigureAwait(false);
            }
        }, failed)).ToArray();
        var ackTask = Guard(() => acknowledger.RunAsync(acks.Reader, token), failed);

        try
        {
            await Task.WhenAll(workers.Append(batcherTask)).ConfigureAwait(false);
            acks.Writer.TryComplete();
            await Task.WhenAll(readerTask, ackTask).ConfigureAwait(false);
        }
        catch
        {
            await failed.CancelAsync().ConfigureAwait(false);
            // Cancelling ends the reader at once: Npgsql breaks the replication connection on cancellation
            // (CancellationTimeout=-1, see ReplicationStream), and PostgreSQL frees the slot. The stream is disposed
            // only after the reader has left it: Npgsql does not allow closing a connection that is being enumerated
            // (doing so could leave the reader hanging past the watchdog's grace).
            await Task.WhenAll(workers.Append(batcherTask).Append(readerTask).Append(ackTask))
                .ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
            await stream.DisposeAsync().ConfigureAwait(false);
            throw Unwrap(readerTask, batcherTask, ackTask, workers, abort);
        }

        // Graceful stop: everything read is stored and confirmed. Close the stream (freeing the slot), then make
        // sure the slot's position includes the last confirmation, which may not have travelled on the stream.
        await stream.DisposeAsync().ConfigureAwait(false);
        await AdvanceSlotAsync(acknowledger.Confirmed, abort).ConfigureAwait(false);
        _logger.LogInformation("Replication stopped gracefully at {ConfirmedLsn}", ReplicationStatus.FormatLsn(acknowledger.Confirmed));
    }

    private async Task AdvanceSlotAsync(ulong lsn, CancellationToken cancellationToken)
    {
        if (lsn == 0)
            return;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await setup.AdvanceSlotAsync(lsn, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ObjectInUse && attempt < 20)
            {
                // Our walsender is still exiting.
                await Task.Delay(TimeSpan.FromMilliseconds(100), time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private static Task Guard(Func<Task> stage, CancellationTokenSource failed) => Task.Run(async () =>
    {
        try
        {
            await stage().ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            await failed.CancelAsync().ConfigureAwait(false);
            throw;
        }
    });

    private static Exception Unwrap(Task reader, Task batcher, Task acker, Task[] workers, CancellationToken abort)
    {
        var fault = new[] { reader, batcher, acker }.Concat(workers)
            .Where(t => t.IsFaulted)
            .Select(t => t.Exception!.GetBaseException())
            .FirstOrDefault();
        return fault ?? new OperationCanceledException(abort);
    }

    /// <summary>
    /// Reserves each change's bytes in the <see cref="MemoryBudget"/>, counts events and tracks the received position
    /// on their way into the channel.
    /// </summary>
    private sealed class CountingWriter(ChannelWriter<StreamEvent> inner, MemoryBudget budget, ReplicationStatus status, ReplicationMetrics metrics) : ChannelWriter<StreamEvent>
    {
        private static readonly KeyValuePair<string, object?>[] EventTypes =
        [
            new("event_type", "insert"), new("event_type", "update"), new("event_type", "delete"),
        ];

        public override bool TryWrite(StreamEvent item)
        {
            var bytes = item.Change?.ApproximateBytes ?? 0;
            if (bytes > 0 && !budget.TryReserve(bytes))
                return false;
            if (!inner.TryWrite(item))
            {
                if (bytes > 0)
                    budget.Release(bytes);
                return false;
            }
            Observe(item);
            return true;
        }

        public override async ValueTask WriteAsync(StreamEvent item, CancellationToken cancellationToken = default)
        {
            var bytes = item.Change?.ApproximateBytes ?? 0;
            if (bytes > 0)
                await budget.ReserveAsync(bytes, cancellationToken).ConfigureAwait(false);
            await inner.WriteAsync(item, cancellationToken).ConfigureAwait(false);
            Observe(item);
        }

        public override ValueTask<bool> WaitToWriteAsync(CancellationToken cancellationToken = default) =>
            inner.WaitToWriteAsync(cancellationToken);

        public override bool TryComplete(Exception? error = null) => inner.TryComplete(error);

        private void Observe(in StreamEvent item)
        {
            if (item.Kind == StreamEventKind.Change)
                metrics.EventsProcessed.Add(1, EventTypes[(int)item.Change!.Kind]);
            else if (item.Kind is StreamEventKind.Commit or StreamEventKind.Keepalive)
                status.SetReceived(item.Lsn);
        }
    }
}
