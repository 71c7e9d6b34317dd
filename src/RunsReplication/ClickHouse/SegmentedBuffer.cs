using System.Buffers;

namespace RunsReplication.ClickHouse;

/// <summary>
/// A write-only buffer made of segments from a <see cref="BufferSegmentPool"/>: an <see cref="IBufferWriter{T}"/>
/// and a <see cref="Stream"/> (for gzip). It never copies what it holds to grow, and its memory goes back to the
/// pool on <see cref="Dispose(bool)"/>. Read it back with <see cref="CopyToAsync(Stream, CancellationToken)"/>, as
/// many times as needed (an insert is re-sent on retry).
/// </summary>
public sealed class SegmentedBuffer(BufferSegmentPool pool) : Stream, IBufferWriter<byte>
{
    private readonly List<(byte[] Array, int Count)> _full = [];
    private byte[]? _current;
    private int _used;
    private long _fullLength;

    public SegmentedBuffer() : this(BufferSegmentPool.Shared) { }

    public override long Length => _fullLength + _used;

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _current.AsSpan(_used);
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _current.AsMemory(_used);
    }

    public void Advance(int count)
    {
        if (count < 0 || _current is null || _used + count > _current.Length)
            throw new ArgumentOutOfRangeException(nameof(count));
        _used += count;
    }

    private void Ensure(int sizeHint)
    {
        sizeHint = Math.Max(sizeHint, 1);
        if (_current is not null && _current.Length - _used >= sizeHint)
            return;
        if (_current is not null && _used > 0)
        {
            _full.Add((_current, _used));
            _fullLength += _used;
        }
        else if (_current is not null)
        {
            pool.Return(_current);
        }
        // A single value larger than a segment (a run with a huge output) gets a one-off array of its own size.
        _current = sizeHint <= pool.SegmentSize ? pool.Rent() : GC.AllocateUninitializedArray<byte>(sizeHint);
        _used = 0;
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            var span = GetSpan();
            var n = Math.Min(span.Length, buffer.Length);
            buffer[..n].CopyTo(span);
            _used += n;
            buffer = buffer[n..];
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
    public override void WriteByte(byte value) => Write([value]);

    /// <summary>Writes everything held, in order, to <paramref name="destination"/>.</summary>
    public override async Task CopyToAsync(Stream destination, int bufferSize, CancellationToken cancellationToken)
    {
        foreach (var (array, count) in _full)
            await destination.WriteAsync(array.AsMemory(0, count), cancellationToken).ConfigureAwait(false);
        if (_current is not null && _used > 0)
            await destination.WriteAsync(_current.AsMemory(0, _used), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Everything held as one array (tests and small bodies only).</summary>
    public byte[] ToArray()
    {
        var result = new byte[Length];
        var at = 0;
        foreach (var (array, count) in _full)
        {
            array.AsSpan(0, count).CopyTo(result.AsSpan(at));
            at += count;
        }
        _current?.AsSpan(0, _used).CopyTo(result.AsSpan(at));
        return result;
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Position { get => Length; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        foreach (var (array, _) in _full)
            pool.Return(array);
        _full.Clear();
        if (_current is not null)
            pool.Return(_current);
        _current = null;
        _used = 0;
        _fullLength = 0;
        base.Dispose(disposing);
    }
}
