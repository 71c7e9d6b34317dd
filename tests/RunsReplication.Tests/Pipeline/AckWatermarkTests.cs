using RunsReplication.Pipeline;

namespace RunsReplication.Tests.Pipeline;

public class AckWatermarkTests
{
    [Fact]
    public void Starts_at_the_given_position()
    {
        var w = new AckWatermark(500);
        Assert.Equal(500UL, w.Confirmed);
        Assert.Equal(0, w.Pending);
    }

    [Fact]
    public void In_order_completion_advances_after_each_batch()
    {
        var w = new AckWatermark();
        w.Register(0, 100);
        w.Register(1, 200);
        w.Register(2, 300);
        Assert.Equal(3, w.Pending);

        Assert.True(w.MarkStored(0));
        Assert.Equal(100UL, w.Confirmed);
        Assert.True(w.MarkStored(1));
        Assert.Equal(200UL, w.Confirmed);
        Assert.True(w.MarkStored(2));
        Assert.Equal(300UL, w.Confirmed);
        Assert.Equal(0, w.Pending);
    }

    [Fact]
    public void Out_of_order_completion_waits_for_the_prefix_then_jumps()
    {
        var w = new AckWatermark(10);
        w.Register(1, 100);
        w.Register(2, 200);
        w.Register(3, 300);

        Assert.False(w.MarkStored(3));
        Assert.Equal(10UL, w.Confirmed);
        Assert.False(w.MarkStored(2));
        Assert.Equal(10UL, w.Confirmed);
        Assert.Equal(3, w.Pending);

        Assert.True(w.MarkStored(1));
        Assert.Equal(300UL, w.Confirmed);
        Assert.Equal(0, w.Pending);
    }

    [Fact]
    public void Middle_batch_missing_stops_the_watermark_at_its_predecessor()
    {
        var w = new AckWatermark();
        w.Register(1, 100);
        w.Register(2, 200);
        w.Register(3, 300);

        Assert.True(w.MarkStored(1));
        Assert.False(w.MarkStored(3));
        Assert.Equal(100UL, w.Confirmed);
        Assert.True(w.MarkStored(2));
        Assert.Equal(300UL, w.Confirmed);
    }

    [Fact]
    public void Chunks_of_one_transaction_do_not_advance_until_the_chunk_carrying_the_commit_is_stored()
    {
        // A big transaction cut into chunks 1..3: every chunk carries the previous commit (100); the empty cut
        // after its commit (4) carries the commit's end LSN.
        var w = new AckWatermark();
        w.Register(0, 100);
        w.Register(1, 100);
        w.Register(2, 100);
        w.Register(3, 100);
        w.Register(4, 900);

        Assert.True(w.MarkStored(0));
        Assert.Equal(100UL, w.Confirmed);
        Assert.False(w.MarkStored(4)); // the commit's cut finishes first
        Assert.False(w.MarkStored(3));
        Assert.False(w.MarkStored(1)); // prefix moves, LSN does not
        Assert.Equal(100UL, w.Confirmed);
        Assert.Equal(3, w.Pending);    // 2, 3, 4
        Assert.True(w.MarkStored(2));
        Assert.Equal(900UL, w.Confirmed);
    }

    [Fact]
    public void A_batch_with_a_lower_safe_lsn_never_moves_the_watermark_back()
    {
        var w = new AckWatermark(1_000);
        w.Register(0, 400);
        Assert.False(w.MarkStored(0));
        Assert.Equal(1_000UL, w.Confirmed);

        w.Register(1, 2_000);
        w.Register(2, 1_500);
        Assert.True(w.MarkStored(1));
        Assert.False(w.MarkStored(2));
        Assert.Equal(2_000UL, w.Confirmed);
    }

    [Fact]
    public void Marking_a_batch_stored_twice_before_it_drains_is_harmless()
    {
        var w = new AckWatermark();
        w.Register(0, 100);
        w.Register(1, 200);
        Assert.False(w.MarkStored(1));
        Assert.False(w.MarkStored(1));
        Assert.True(w.MarkStored(0));
        Assert.Equal(200UL, w.Confirmed);
    }

    [Theory]
    [InlineData(5)] // lower
    [InlineData(7)] // same
    public void Registering_out_of_order_throws(long sequence)
    {
        var w = new AckWatermark();
        w.Register(7, 100);
        var e = Assert.Throws<InvalidOperationException>(() => w.Register(sequence, 200));
        Assert.Contains(sequence.ToString(), e.Message);
        Assert.Equal(1, w.Pending);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(4)]
    public void Registering_out_of_order_throws_even_after_everything_drained(long sequence)
    {
        var w = new AckWatermark();
        w.Register(4, 100);
        Assert.True(w.MarkStored(4));
        Assert.Equal(0, w.Pending);
        Assert.Throws<InvalidOperationException>(() => w.Register(sequence, 50));
        Assert.Equal(0, w.Pending);
    }

    [Fact]
    public void Unknown_sequence_throws()
    {
        var w = new AckWatermark();
        w.Register(0, 100);
        Assert.Throws<InvalidOperationException>(() => w.MarkStored(1));
        Assert.Equal(0UL, w.Confirmed);
    }

    [Fact]
    public void A_drained_sequence_is_unknown()
    {
        var w = new AckWatermark();
        w.Register(0, 100);
        w.MarkStored(0);
        Assert.Throws<InvalidOperationException>(() => w.MarkStored(0));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(42)]
    [InlineData(1234)]
    public void Random_completion_orders_confirm_exactly_the_stored_prefix(int seed)
    {
        var random = new Random(seed);
        for (var round = 0; round < 50; round++)
        {
            var n = random.Next(1, 40);
            const ulong start = 5;
            var lsns = new ulong[n];
            ulong lsn = start;
            for (var i = 0; i < n; i++)
            {
                // Non-decreasing, with runs of equal LSNs (chunks of one transaction) and some below the start.
                if (random.Next(3) != 0)
                    lsn += (ulong)random.Next(1, 100);
                lsns[i] = i == 0 && random.Next(4) == 0 ? 1 : lsn;
            }
            var firstSequence = random.Next(0, 1000);
            var w = new AckWatermark(start);
            for (var i = 0; i < n; i++)
                w.Register(firstSequence + i, lsns[i]);

            var order = Enumerable.Range(0, n).OrderBy(_ => random.Next()).ToArray();
            var stored = new bool[n];
            foreach (var index in order)
            {
                var before = w.Confirmed;
                var moved = w.MarkStored(firstSequence + index);
                stored[index] = true;

                var prefix = 0;
                while (prefix < n && stored[prefix])
                    prefix++;
                var expected = start;
                for (var i = 0; i < prefix; i++)
                    expected = Math.Max(expected, lsns[i]);

                Assert.Equal(expected, w.Confirmed);
                Assert.Equal(w.Confirmed > before, moved);
                Assert.True(w.Confirmed >= before);
                // Never beyond what the batch before the first unstored one made safe.
                for (var i = 0; i < n; i++)
                {
                    if (stored[i])
                        continue;
                    var predecessor = i == 0 ? start : Math.Max(start, lsns[..i].Max());
                    Assert.True(w.Confirmed <= predecessor, $"confirmed {w.Confirmed} ran past unstored batch {i} (predecessor safe LSN {predecessor})");
                }
                Assert.Equal(n - prefix, w.Pending);
            }
            Assert.Equal(Math.Max(start, lsns.Max()), w.Confirmed);
        }
    }
}
