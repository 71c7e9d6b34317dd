using System.Net;

namespace RunsReplication.ClickHouse;

/// <summary>
/// The rows of one insert, ready to send and to re-send on retry. Built by <see cref="ClickHouseClient.CreateBody"/>:
/// rows are gzip-compressed as they are written (when the client compresses), into pooled segments, so an insert
/// of 20,000 runs holds only its compressed bytes, never the whole uncompressed text or a copy of it.
/// </summary>
public sealed class InsertBody : IDisposable
{
    private readonly SegmentedBuffer _buffer;

    internal InsertBody(SegmentedBuffer buffer, bool gzip)
    {
        _buffer = buffer;
        IsGzip = gzip;
    }

    public bool IsGzip { get; }

    /// <summary>Bytes on the wire.</summary>
    public long Length => _buffer.Length;

    /// <summary>The bytes on the wire as one array (for tests).</summary>
    public byte[] ToArray() => _buffer.ToArray();

    internal HttpContent ToContent()
    {
        var content = new SegmentsContent(_buffer);
        if (IsGzip)
            content.Headers.ContentEncoding.Add("gzip");
        return content;
    }

    public void Dispose() => _buffer.Dispose();

    /// <summary>Streams the segments to the socket; disposing the request leaves the buffer to its owner.</summary>
    private sealed class SegmentsContent(SegmentedBuffer buffer) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            buffer.CopyToAsync(stream, CancellationToken.None);

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken) =>
            buffer.CopyToAsync(stream, cancellationToken);

        protected override bool TryComputeLength(out long length)
        {
            length = buffer.Length;
            return true;
        }
    }
}
