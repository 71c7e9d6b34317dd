using System.IO.Compression;
using System.Text;
using RunsReplication.ClickHouse;

namespace RunsReplication.Tests.ClickHouse;

public class SegmentedBufferTests
{
    private static byte[] Pattern(int length) => Enumerable.Range(0, length).Select(i => (byte)(i * 31 % 251)).ToArray();

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(1024)]
    [InlineData(1025)]
    [InlineData(10_000)]
    public async Task Writes_across_segment_boundaries_read_back_in_order(int length)
    {
        var pool = new BufferSegmentPool(segmentSize: 1024, maxRetained: 4);
        var data = Pattern(length);
        using var buffer = new SegmentedBuffer(pool);
        // Mixed writers: stream writes of odd sizes and IBufferWriter spans.
        var at = 0;
        while (at < data.Length)
        {
            var n = Math.Min(data.Length - at, 1 + at % 700);
            if (at % 2 == 0)
            {
                buffer.Write(data.AsSpan(at, n));
            }
            else
            {
                var span = buffer.GetSpan(n);
                data.AsSpan(at, n).CopyTo(span);
                buffer.Advance(n);
            }
            at += n;
        }
        Assert.Equal(length, buffer.Length);
        Assert.Equal(data, buffer.ToArray());
        var copy = new MemoryStream();
        await buffer.CopyToAsync(copy);
        await buffer.CopyToAsync(copy); // a retry sends the same bytes again
        Assert.Equal(data.Concat(data).ToArray(), copy.ToArray());
    }

    [Fact]
    public void A_value_larger_than_a_segment_gets_its_own_array_and_is_not_pooled()
    {
        var pool = new BufferSegmentPool(segmentSize: 1024, maxRetained: 8);
        var buffer = new SegmentedBuffer(pool);
        buffer.Write(Pattern(100));
        var big = buffer.GetSpan(5000);
        Assert.True(big.Length >= 5000);
        buffer.Advance(5000);
        buffer.Write(Pattern(10));
        Assert.Equal(5110, buffer.Length);
        buffer.Dispose();
        Assert.Equal(2, pool.Retained); // the two regular segments, not the 5000-byte one-off
    }

    [Fact]
    public void The_pool_reuses_segments_and_keeps_no_more_than_its_cap()
    {
        var pool = new BufferSegmentPool(segmentSize: 1024, maxRetained: 3);
        var first = new SegmentedBuffer(pool);
        first.Write(Pattern(10 * 1024)); // 10 segments
        first.Dispose();
        Assert.Equal(3, pool.Retained);

        var reused = pool.Rent();
        Assert.Equal(2, pool.Retained);
        pool.Return(reused);
        pool.Return(new byte[1024]);
        Assert.Equal(3, pool.Retained);
        pool.Return(new byte[512]); // not a segment
        Assert.Equal(3, pool.Retained);
    }

    [Fact]
    public async Task A_gzip_insert_body_holds_only_compressed_bytes_and_decompresses_to_the_rows()
    {
        var client = new ClickHouseClient(new HttpClient(), ClickHouseEndpointFor("http://127.0.0.1:1/"), compressRequests: true);
        var text = string.Concat(Enumerable.Range(0, 20_000).Select(i => $"[\"run_{i:D10}\",\"COMPLETED_SUCCESSFULLY\",{i}]\n"));
        using var body = client.CreateBody(stream => stream.Write(Encoding.UTF8.GetBytes(text)));
        Assert.True(body.IsGzip);
        Assert.True(body.Length < text.Length / 4, $"{body.Length} bytes for {text.Length} of text");
        using var gunzip = new GZipStream(new MemoryStream(body.ToArray()), CompressionMode.Decompress);
        Assert.Equal(text, await new StreamReader(gunzip).ReadToEndAsync());

        var plain = new ClickHouseClient(new HttpClient(), ClickHouseEndpointFor("http://127.0.0.1:1/"), compressRequests: false);
        using var raw = plain.CreateBody(stream => stream.Write(Encoding.UTF8.GetBytes(text)));
        Assert.False(raw.IsGzip);
        Assert.Equal(text, Encoding.UTF8.GetString(raw.ToArray()));
    }

    private static RunsReplication.Configuration.ClickHouseEndpoint ClickHouseEndpointFor(string url) =>
        RunsReplication.Configuration.ClickHouseEndpoint.Parse(url);
}
