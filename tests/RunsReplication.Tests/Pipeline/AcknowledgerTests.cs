using System.Collections.Concurrent;
using System.Threading.Channels;
using RunsReplication.Pipeline;

namespace RunsReplication.Tests.Pipeline;

public class AcknowledgerTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private sealed class Harness
    {
        public readonly ConcurrentQueue<ulong> Confirmed = new();
        public readonly Channel<AckSignal> Signals = Channel.CreateUnbounded<AckSignal>();
        public readonly Acknowledger Acknowledger;
        public readonly CancellationTokenSource Cts = new();
        public readonly Task Run;

        public Harness(ulong start = 0, Action<ulong>? confirm = null)
        {
            Acknowledger = new Acknowledger(confirm ?? Confirmed.Enqueue, start);
            Run = Acknowledger.RunAsync(Signals.Reader, Cts.Token);
        }

        public void Send(params AckSignal[] signals)
        {
            foreach (var s in signals)
                Assert.True(Signals.Writer.TryWrite(s));
        }

        /// <summary>Completes the channel and waits for every signal to be processed.</summary>
        public async Task DrainAsync()
        {
            Signals.Writer.Complete();
            await Run.WaitAsync(Timeout);
        }
    }

    [Fact]
    public async Task Confirms_only_when_the_watermark_moves_in_order_with_the_right_lsn()
    {
        var h = new Harness(start: 50);
        h.Send(
            AckSignal.Cut(0, 100),
            AckSignal.Cut(1, 200),
            AckSignal.Cut(2, 200),
            AckSignal.Cut(3, 300),
            AckSignal.StoredBatch(1),  // 0 missing: nothing
            AckSignal.StoredBatch(0),  // -> 200
            AckSignal.StoredBatch(3),  // 2 missing: nothing
            AckSignal.StoredBatch(2),  // -> 300
            AckSignal.Cut(4, 250),     // lower than confirmed: storing it must not confirm
            AckSignal.StoredBatch(4));
        await h.DrainAsync();

        Assert.Equal([200UL, 300UL], h.Confirmed.ToArray());
        Assert.Equal(300UL, h.Acknowledger.Confirmed);
    }

    [Fact]
    public async Task Cuts_alone_confirm_nothing()
    {
        var h = new Harness(start: 7);
        h.Send(AckSignal.Cut(0, 100), AckSignal.Cut(1, 200));
        await h.DrainAsync();

        Assert.Empty(h.Confirmed);
        Assert.Equal(7UL, h.Acknowledger.Confirmed);
    }

    [Fact]
    public async Task Confirms_each_step_as_signals_arrive()
    {
        var confirmed = Channel.CreateUnbounded<ulong>();
        var h = new Harness(confirm: lsn => confirmed.Writer.TryWrite(lsn));
        h.Send(AckSignal.Cut(0, 100), AckSignal.Cut(1, 200), AckSignal.StoredBatch(0));
        Assert.Equal(100UL, await confirmed.Reader.ReadAsync().AsTask().WaitAsync(Timeout));

        h.Send(AckSignal.StoredBatch(1));
        Assert.Equal(200UL, await confirmed.Reader.ReadAsync().AsTask().WaitAsync(Timeout));
        await h.DrainAsync();
        Assert.False(confirmed.Reader.TryRead(out _));
    }

    [Fact]
    public async Task Nothing_is_confirmed_after_cancellation()
    {
        var h = new Harness();
        h.Send(AckSignal.Cut(0, 100), AckSignal.Cut(1, 200), AckSignal.StoredBatch(0));
        // Wait until the first confirmation so the stage is running.
        await WaitUntilAsync(() => !h.Confirmed.IsEmpty);
        Assert.Equal([100UL], h.Confirmed.ToArray());

        h.Cts.Cancel();
        h.Send(AckSignal.StoredBatch(1));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => h.Run.WaitAsync(Timeout));

        Assert.Equal([100UL], h.Confirmed.ToArray());
    }

    [Fact]
    public async Task Signals_already_queued_when_cancelled_are_not_confirmed()
    {
        var h = new Harness();
        h.Cts.Cancel();
        h.Send(AckSignal.Cut(0, 100), AckSignal.StoredBatch(0));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => h.Run.WaitAsync(Timeout));
        Assert.Empty(h.Confirmed);
    }

    [Fact]
    public async Task Signals_buffered_behind_a_cancellation_are_not_confirmed()
    {
        // Everything is queued before the stage starts; the token is cancelled inside the first confirmation,
        // while later signals (which would move the watermark) are still buffered.
        var signals = Channel.CreateUnbounded<AckSignal>();
        foreach (var s in new[] { AckSignal.Cut(0, 100), AckSignal.Cut(1, 200), AckSignal.StoredBatch(0), AckSignal.StoredBatch(1) })
            signals.Writer.TryWrite(s);
        using var cts = new CancellationTokenSource();
        var confirmed = new List<ulong>();
        var acknowledger = new Acknowledger(lsn => { confirmed.Add(lsn); cts.Cancel(); });

        try
        {
            await acknowledger.RunAsync(signals.Reader, cts.Token).WaitAsync(Timeout);
        }
        catch (OperationCanceledException)
        {
        }

        Assert.Equal([100UL], confirmed);
    }

    [Fact]
    public async Task Storing_an_unregistered_batch_fails_the_stage()
    {
        var h = new Harness();
        h.Send(AckSignal.StoredBatch(3));
        await Assert.ThrowsAsync<InvalidOperationException>(() => h.Run.WaitAsync(Timeout));
        Assert.Empty(h.Confirmed);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException("condition not met");
            await Task.Delay(5);
        }
    }
}
