using System.Threading.Channels;
using Microsoft.Extensions.Time.Testing;
using RunsReplication.Model;
using RunsReplication.Pipeline;

namespace RunsReplication.Tests.Pipeline;

public class BatchBuilderTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(1000);

    // ---- harness ------------------------------------------------------------------------------------------

    /// <summary>Orders what the builder does: reader idling, timers created, writes to either channel.</summary>
    private sealed class Steps
    {
        private long _step;
        public long Next() => Interlocked.Increment(ref _step);
    }

    /// <summary>A reader the test fills atomically; records when the builder finds it empty (the builder is idle).</summary>
    private sealed class ScriptedReader(Steps steps) : ChannelReader<StreamEvent>
    {
        private readonly object _gate = new();
        private readonly Queue<StreamEvent> _queue = new();
        private TaskCompletionSource<bool>? _waiter;
        private bool _completed;
        public long IdleStep;
        public long WriteStep;

        public override bool TryRead(out StreamEvent item)
        {
            lock (_gate)
                return _queue.TryDequeue(out item);
        }

        public override ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default)
        {
            lock (_gate)
            {
                if (_queue.Count > 0)
                    return new(true);
                if (_completed)
                    return new(false);
                Volatile.Write(ref IdleStep, steps.Next());
                var waiter = _waiter = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
                if (cancellationToken.CanBeCanceled)
                    cancellationToken.Register(() => waiter.TrySetCanceled(cancellationToken));
                return new(waiter.Task);
            }
        }

        public void Write(IEnumerable<StreamEvent> events)
        {
            TaskCompletionSource<bool>? waiter;
            lock (_gate)
            {
                Volatile.Write(ref WriteStep, steps.Next());
                foreach (var e in events)
                    _queue.Enqueue(e);
                waiter = _waiter;
                _waiter = null;
            }
            waiter?.TrySetResult(true);
        }

        public void Complete()
        {
            TaskCompletionSource<bool>? waiter;
            lock (_gate)
            {
                Volatile.Write(ref WriteStep, steps.Next());
                _completed = true;
                waiter = _waiter;
                _waiter = null;
            }
            waiter?.TrySetResult(false);
        }
    }

    private sealed class StepTimeProvider(Steps steps) : FakeTimeProvider(new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero))
    {
        public long TimerStep;

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = base.CreateTimer(callback, state, dueTime, period);
            Volatile.Write(ref TimerStep, steps.Next());
            return timer;
        }
    }

    /// <summary>Records every write, in order across both channels, and lets the test await items.</summary>
    private sealed class RecordingWriter<T>(List<object> log) : ChannelWriter<T>
    {
        private readonly Channel<T> _items = Channel.CreateUnbounded<T>();

        public override bool TryWrite(T item)
        {
            lock (log)
                log.Add(item!);
            return _items.Writer.TryWrite(item);
        }

        public override ValueTask<bool> WaitToWriteAsync(CancellationToken cancellationToken = default) => new(true);

        public bool Completed { get; private set; }

        public override bool TryComplete(Exception? error = null)
        {
            Completed = true;
            return _items.Writer.TryComplete(error);
        }

        public bool TryTake(out T item) => _items.Reader.TryRead(out item!);

        public async Task<T> TakeAsync() => await _items.Reader.ReadAsync().AsTask().WaitAsync(Timeout);
    }

    private sealed class Harness
    {
        public readonly Steps Steps = new();
        public readonly ScriptedReader Input;
        public readonly StepTimeProvider Time;
        public readonly List<object> Log = [];
        public readonly RecordingWriter<RowBatch> Output;
        public readonly RecordingWriter<AckSignal> Acks;
        public readonly BatchBuilder Builder;
        public readonly CancellationTokenSource Cts = new(TimeSpan.FromSeconds(60));
        public readonly Task Run;
        public readonly List<TaskRunChange> MergedAway = [];

        public Harness(int batchSize = 100, TimeSpan? interval = null)
        {
            Input = new ScriptedReader(Steps);
            Time = new StepTimeProvider(Steps);
            Output = new RecordingWriter<RowBatch>(Log);
            Acks = new RecordingWriter<AckSignal>(Log);
            Builder = new BatchBuilder(batchSize, interval ?? Interval, Time, dropped => { lock (MergedAway) MergedAway.Add(dropped); });
            Run = Builder.RunAsync(Input, Output, Acks, Cts.Token);
        }

        public void Write(params StreamEvent[] events) => Input.Write(events);

        /// <summary>
        /// Waits until the builder has consumed everything written and is waiting for input; with
        /// <paramref name="timer"/>, also until it armed its flush timer (it has pending changes or a moved LSN).
        /// </summary>
        public async Task SettleAsync(bool timer)
        {
            var deadline = DateTime.UtcNow + Timeout;
            while (true)
            {
                var idle = Volatile.Read(ref Input.IdleStep);
                if (idle > Volatile.Read(ref Input.WriteStep) && (!timer || Volatile.Read(ref Time.TimerStep) > idle))
                    return;
                if (Run.IsCompleted)
                    await Run;
                if (DateTime.UtcNow > deadline)
                    throw new TimeoutException("the builder did not settle");
                await Task.Delay(1);
            }
        }

        public async Task<RowBatch[]> CompleteAsync()
        {
            Input.Complete();
            await Run.WaitAsync(Timeout);
            Assert.True(Output.Completed, "the output was not completed");
            var batches = new List<RowBatch>();
            while (Output.TryTake(out var b))
                batches.Add(b);
            return [.. batches];
        }

        public List<AckSignal> DrainAcks()
        {
            var acks = new List<AckSignal>();
            while (Acks.TryTake(out var a))
                acks.Add(a);
            return acks;
        }

        public object[] LogSnapshot()
        {
            lock (Log)
                return [.. Log];
        }
    }

    private static TaskRunChange Change(ChangeKind kind, string id, ulong version, string status = "PENDING") =>
        new(kind, new TaskRunRecord { Id = id, Status = status }, version);

    private static StreamEvent Ev(TaskRunChange change) => StreamEvent.ForChange(change);

    private static StreamEvent[] Transaction(ulong commitLsn, ulong endLsn, params TaskRunChange[] changes) =>
        [StreamEvent.ForBegin(commitLsn), .. changes.Select(Ev), StreamEvent.ForCommit(endLsn)];

    /// <summary>Every batch written to the output was announced as a cut, with the same LSN, just before.</summary>
    private static void AssertEachBatchAnnouncedFirst(object[] log)
    {
        var announced = new Dictionary<long, ulong>();
        foreach (var entry in log)
        {
            switch (entry)
            {
                case AckSignal { Stored: false } cut:
                    announced.Add(cut.Sequence, cut.SafeLsn);
                    break;
                case RowBatch batch:
                    Assert.True(announced.TryGetValue(batch.Sequence, out var lsn), $"batch {batch.Sequence} written before its cut was announced");
                    Assert.Equal(lsn, batch.SafeLsn);
                    break;
            }
        }
    }

    // ---- merge rules ----------------------------------------------------------------------------------------

    [Fact]
    public async Task Create_and_four_updates_of_one_run_yield_the_insert_and_the_last_update()
    {
        var h = new Harness();
        var insert = Change(ChangeKind.Insert, "run_1", 10);
        var updates = new[] { "QUEUED", "EXECUTING", "EXECUTING", "COMPLETED_SUCCESSFULLY" }
            .Select((status, i) => Change(ChangeKind.Update, "run_1", 20 + (ulong)i * 10, status)).ToArray();
        h.Write(Transaction(10, 11, insert));
        for (var i = 0; i < updates.Length; i++)
            h.Write(Transaction(updates[i].Version, updates[i].Version + 1, updates[i]));

        var batches = await h.CompleteAsync();

        var batch = Assert.Single(batches);
        Assert.Equal(2, batch.Changes.Count);
        Assert.Same(insert, batch.Changes[0]);
        Assert.Same(updates[^1], batch.Changes[1]);
        Assert.Equal(3, h.Builder.MergedChanges);
        // Every change merged away is handed back (its memory released), exactly once.
        Assert.Equal(updates[..^1], h.MergedAway);
        Assert.Equal(51UL, batch.SafeLsn);
    }

    [Fact]
    public async Task A_later_version_replaces_an_earlier_one_and_a_stale_one_is_ignored()
    {
        var h = new Harness();
        var v20 = Change(ChangeKind.Update, "run_1", 20, "QUEUED");
        var v30 = Change(ChangeKind.Update, "run_1", 30, "EXECUTING");
        var stale = Change(ChangeKind.Update, "run_1", 25, "STALE");
        h.Write(Ev(v20), Ev(v30), Ev(stale));

        var batch = Assert.Single(await h.CompleteAsync());
        Assert.Same(v30, Assert.Single(batch.Changes));
        Assert.Equal(2, h.Builder.MergedChanges);
    }

    [Fact]
    public async Task Equal_versions_the_later_change_in_the_transaction_wins()
    {
        var h = new Harness();
        var first = Change(ChangeKind.Update, "run_1", 40, "EXECUTING");
        var second = Change(ChangeKind.Update, "run_1", 40, "COMPLETED_SUCCESSFULLY");
        h.Write(Transaction(40, 41, first, second));

        var batch = Assert.Single(await h.CompleteAsync());
        Assert.Same(second, Assert.Single(batch.Changes));
    }

    [Fact]
    public async Task Changes_of_different_runs_and_kinds_are_all_kept_in_arrival_order()
    {
        var h = new Harness();
        TaskRunChange[] changes =
        [
            Change(ChangeKind.Insert, "run_a", 10),
            Change(ChangeKind.Update, "run_b", 10),
            Change(ChangeKind.Delete, "run_c", 10),
            Change(ChangeKind.Insert, "run_d", 10),
            Change(ChangeKind.Delete, "run_d", 10),
        ];
        h.Write(Transaction(10, 11, changes));

        var batch = Assert.Single(await h.CompleteAsync());
        Assert.Equal(changes, batch.Changes);
        Assert.Equal(0, h.Builder.MergedChanges);
    }

    // ---- cuts ----------------------------------------------------------------------------------------------

    [Fact]
    public async Task Cuts_exactly_when_batch_size_distinct_keys_are_pending()
    {
        var h = new Harness(batchSize: 3);
        // Five changes but only two distinct keys: no cut.
        h.Write(
            Ev(Change(ChangeKind.Update, "run_1", 10)),
            Ev(Change(ChangeKind.Update, "run_2", 10)),
            Ev(Change(ChangeKind.Update, "run_1", 11)),
            Ev(Change(ChangeKind.Update, "run_2", 12)),
            Ev(Change(ChangeKind.Update, "run_1", 13)));
        await h.SettleAsync(timer: true);
        Assert.Empty(h.LogSnapshot());

        var third = Change(ChangeKind.Insert, "run_1", 14); // same run, other kind: a third key
        h.Write(Ev(third));
        var batch = await h.Output.TakeAsync();
        Assert.Equal(3, batch.Changes.Count);
        Assert.Same(third, batch.Changes[2]);
        Assert.Equal(0, batch.Sequence);

        // Nothing remains pending.
        Assert.Empty(await h.CompleteAsync());
        Assert.Equal([AckSignal.Cut(0, 0)], h.DrainAcks());
    }

    [Fact]
    public async Task Size_cuts_split_a_stream_into_consecutive_batches()
    {
        var h = new Harness(batchSize: 4);
        h.Write(Enumerable.Range(0, 10).Select(i => Ev(Change(ChangeKind.Insert, $"run_{i}", 10))).ToArray());
        var batches = await h.CompleteAsync();

        Assert.Equal([4, 4, 2], batches.Select(b => b.Changes.Count));
        Assert.Equal([0L, 1L, 2L], batches.Select(b => b.Sequence));
        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"run_{i}"), batches.SelectMany(b => b.Changes).Select(c => c.Run.Id));
    }

    [Fact]
    public async Task Cuts_on_the_interval_and_not_before()
    {
        var h = new Harness(batchSize: 100);
        h.Write(Transaction(10, 11, Change(ChangeKind.Insert, "run_1", 10)));
        await h.SettleAsync(timer: true);

        h.Time.Advance(Interval - TimeSpan.FromMilliseconds(1));
        await h.SettleAsync(timer: true);
        Assert.Empty(h.LogSnapshot());

        h.Time.Advance(TimeSpan.FromMilliseconds(1));
        var batch = await h.Output.TakeAsync();
        Assert.Equal("run_1", Assert.Single(batch.Changes).Run.Id);
        Assert.Equal(11UL, batch.SafeLsn);
        Assert.Equal([AckSignal.Cut(0, 11)], h.DrainAcks());
        AssertEachBatchAnnouncedFirst(h.LogSnapshot());
    }

    [Fact]
    public async Task The_interval_counts_from_the_oldest_pending_change()
    {
        var h = new Harness(batchSize: 100);
        h.Write(Ev(Change(ChangeKind.Insert, "run_1", 10)));
        await h.SettleAsync(timer: true);
        h.Time.Advance(TimeSpan.FromMilliseconds(600));
        await h.SettleAsync(timer: true);

        // A second change does not restart the clock.
        h.Write(Ev(Change(ChangeKind.Insert, "run_2", 20)));
        await h.SettleAsync(timer: true);
        h.Time.Advance(TimeSpan.FromMilliseconds(400));

        var batch = await h.Output.TakeAsync();
        Assert.Equal(2, batch.Changes.Count);
    }

    [Fact]
    public async Task Every_cut_is_announced_before_its_batch_is_written()
    {
        var h = new Harness(batchSize: 2);
        var events = new List<StreamEvent>();
        for (var tx = 0; tx < 5; tx++)
        {
            var lsn = 100 + (ulong)tx * 10;
            events.AddRange(Transaction(lsn, lsn + 1,
                Change(ChangeKind.Insert, $"run_{tx}_a", lsn),
                Change(ChangeKind.Insert, $"run_{tx}_b", lsn),
                Change(ChangeKind.Insert, $"run_{tx}_c", lsn)));
        }
        h.Write([.. events]);
        var batches = await h.CompleteAsync();

        Assert.Equal(8, batches.Length); // 15 changes by 2
        var log = h.LogSnapshot();
        AssertEachBatchAnnouncedFirst(log);
        var cuts = log.OfType<AckSignal>().Where(a => !a.Stored).Select(a => a.Sequence).ToArray();
        Assert.Equal(Enumerable.Range(0, cuts.Length).Select(i => (long)i), cuts);
    }

    // ---- safe LSN ------------------------------------------------------------------------------------------

    [Fact]
    public async Task Rows_of_an_open_transaction_cut_by_size_carry_the_previous_commit()
    {
        var h = new Harness(batchSize: 3);
        h.Write(Transaction(100, 150, Change(ChangeKind.Insert, "run_1", 100)));
        h.Write(
            StreamEvent.ForBegin(200),
            Ev(Change(ChangeKind.Insert, "run_2", 200)),
            Ev(Change(ChangeKind.Insert, "run_3", 200)));
        var first = await h.Output.TakeAsync();
        Assert.Equal(150UL, first.SafeLsn);
        Assert.Equal(["run_1", "run_2", "run_3"], first.Changes.Select(c => c.Run.Id));

        h.Write(Ev(Change(ChangeKind.Insert, "run_4", 200)), StreamEvent.ForCommit(250));
        var rest = await h.CompleteAsync();
        Assert.Equal(250UL, Assert.Single(rest).SafeLsn);
        Assert.Equal([AckSignal.Cut(0, 150), AckSignal.Cut(1, 250)], h.DrainAcks());
    }

    [Fact]
    public async Task A_keepalive_with_nothing_pending_makes_an_empty_cut_that_is_stored_at_once()
    {
        var h = new Harness();
        h.Write(StreamEvent.ForKeepalive(5_000));
        await h.SettleAsync(timer: true);
        Assert.Empty(h.LogSnapshot());

        h.Time.Advance(Interval);
        Assert.Equal(AckSignal.Cut(0, 5_000), await h.Acks.TakeAsync());
        Assert.Equal(AckSignal.StoredBatch(0), await h.Acks.TakeAsync());
        await h.SettleAsync(timer: false);
        Assert.False(h.Output.TryTake(out _));

        // The same position again moves nothing: no further cut, not even on completion.
        h.Write(StreamEvent.ForKeepalive(5_000), StreamEvent.ForKeepalive(4_000));
        await h.SettleAsync(timer: false);
        h.Time.Advance(Interval * 2);
        Assert.Empty(await h.CompleteAsync());
        Assert.Empty(h.DrainAcks());
    }

    [Fact]
    public async Task A_keepalive_inside_a_transaction_does_not_advance_the_safe_lsn()
    {
        var h = new Harness();
        h.Write(Transaction(100, 150, Change(ChangeKind.Insert, "run_1", 100)));
        h.Write(StreamEvent.ForBegin(200), Ev(Change(ChangeKind.Insert, "run_2", 200)), StreamEvent.ForKeepalive(9_000));
        await h.SettleAsync(timer: true);
        h.Time.Advance(Interval);

        var batch = await h.Output.TakeAsync();
        Assert.Equal(150UL, batch.SafeLsn);
        Assert.Equal(2, batch.Changes.Count);
        Assert.Equal([AckSignal.Cut(0, 150)], h.DrainAcks());

        // After the commit a keepalive counts again.
        h.Write(StreamEvent.ForCommit(250), StreamEvent.ForKeepalive(9_000));
        await h.SettleAsync(timer: true);
        h.Time.Advance(Interval);
        Assert.Equal(AckSignal.Cut(1, 9_000), await h.Acks.TakeAsync());
        Assert.Equal(AckSignal.StoredBatch(1), await h.Acks.TakeAsync());
    }

    [Fact]
    public async Task A_keepalive_outside_a_transaction_advances_the_lsn_of_pending_rows()
    {
        var h = new Harness();
        h.Write(Transaction(100, 150, Change(ChangeKind.Insert, "run_1", 100)));
        h.Write(StreamEvent.ForKeepalive(700));
        var batch = Assert.Single(await h.CompleteAsync());
        Assert.Equal(700UL, batch.SafeLsn);
    }

    // ---- end of stream and large transactions ---------------------------------------------------------------

    [Fact]
    public async Task Completing_the_input_flushes_what_is_pending_and_completes_the_output()
    {
        var h = new Harness(batchSize: 100);
        h.Write(Transaction(100, 150, Change(ChangeKind.Insert, "run_1", 100), Change(ChangeKind.Insert, "run_2", 100)));
        await h.SettleAsync(timer: true);
        Assert.Empty(h.LogSnapshot()); // no time passed: nothing cut yet

        var batches = await h.CompleteAsync();
        var batch = Assert.Single(batches);
        Assert.Equal(2, batch.Changes.Count);
        Assert.Equal(150UL, batch.SafeLsn);
        Assert.Equal([AckSignal.Cut(0, 150)], h.DrainAcks());
    }

    [Fact]
    public async Task Completing_an_idle_input_completes_the_output_without_a_batch()
    {
        var h = new Harness();
        Assert.Empty(await h.CompleteAsync());
        Assert.Empty(h.DrainAcks());
    }

    [Fact]
    public async Task A_large_transaction_is_emitted_in_chunks_before_its_commit_arrives()
    {
        const int changes = 10_000;
        const int batchSize = 100;
        var h = new Harness(batchSize);
        h.Write(Transaction(100, 150, Change(ChangeKind.Insert, "run_before", 100)));
        h.Write([StreamEvent.ForBegin(1_000), .. Enumerable.Range(0, changes).Select(i => Ev(Change(ChangeKind.Insert, $"run_{i}", 1_000)))]);

        // All chunks arrive while the transaction is still open.
        var chunks = new List<RowBatch>();
        for (var i = 0; i < (changes + 1) / batchSize; i++)
            chunks.Add(await h.Output.TakeAsync());
        await h.SettleAsync(timer: true); // one change left pending
        Assert.All(chunks, c => Assert.Equal(batchSize, c.Changes.Count));
        Assert.All(chunks, c => Assert.Equal(150UL, c.SafeLsn));
        Assert.Equal(Enumerable.Range(0, chunks.Count).Select(i => (long)i), chunks.Select(c => c.Sequence));

        h.Write(StreamEvent.ForCommit(1_050));
        var last = Assert.Single(await h.CompleteAsync());
        Assert.Equal(1_050UL, last.SafeLsn);
        Assert.Equal("run_9999", Assert.Single(last.Changes).Run.Id);
        Assert.Equal(changes + 1, chunks.Sum(c => c.Changes.Count) + last.Changes.Count);

        var acks = h.DrainAcks();
        Assert.Equal(chunks.Count + 1, acks.Count);
        Assert.All(acks, a => Assert.False(a.Stored));
        Assert.Equal(1_050UL, acks[^1].SafeLsn);
        Assert.All(acks.SkipLast(1), a => Assert.Equal(150UL, a.SafeLsn));
        AssertEachBatchAnnouncedFirst(h.LogSnapshot());
    }

    [Fact]
    public async Task A_commit_after_its_rows_were_all_cut_yields_an_empty_cut_with_the_commit_lsn()
    {
        var h = new Harness(batchSize: 2);
        h.Write(StreamEvent.ForBegin(100), Ev(Change(ChangeKind.Insert, "run_1", 100)), Ev(Change(ChangeKind.Insert, "run_2", 100)));
        var batch = await h.Output.TakeAsync();
        Assert.Equal(0UL, batch.SafeLsn);

        h.Write(StreamEvent.ForCommit(150));
        await h.SettleAsync(timer: true);
        h.Time.Advance(Interval);
        Assert.Equal(AckSignal.Cut(0, 0), await h.Acks.TakeAsync());
        Assert.Equal(AckSignal.Cut(1, 150), await h.Acks.TakeAsync());
        Assert.Equal(AckSignal.StoredBatch(1), await h.Acks.TakeAsync());
        Assert.Empty(await h.CompleteAsync());
    }
}
