using System.Buffers;

namespace RunsReplication.ClickHouse;

/// <summary>
/// A growable byte buffer on <see cref="ArrayPool{T}.Shared"/>: both an <see cref="IBufferWriter{T}"/> (for the
/// JSON writer) and a write-only <see cref="Stream"/> (for gzip). Insert bodies of several MiB reuse pooled arrays
/// instead of allocating fresh large-object-heap arrays (zeroed by the kernel) for every insert. Dispose returns
/// the array; <see cref="WrittenMemory"/> must not be used after that.
/// </summary>
public sealed class PooledBuffer(int initialCapacity = 64 * 1024) : Stream, IBufferWriter<byte>
{
    private byte[] _array = ArrayPool<byte>.Shared.Rent(Math.Max(initialCapacity, 256));
    private int _written;

    public ReadOnlyMemory<byte> WrittenMemory => _array.AsMemory(0, _written);
    public ReadOnlySpan<byte> WrittenSpan => _array.AsSpan(0, _written);
    public int WrittenCount => _written;

    public void Advance(int count)
    {
        if (count < 0 || _written + count > _array.Length)
            throw new ArgumentOutOfRangeException(nameof(count));
        _written += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Grow(sizeHint);
        return _array.AsMemory(_written);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Grow(sizeHint);
        return _array.AsSpan(_written);
    }

    private void Grow(int sizeHint)
    {
        sizeHint = Math.Max(sizeHint, 1);
        if (_array.Length - _written >= sizeHint)
            return;
        var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_array.Length * 2, _written + sizeHint));
        _array.AsSpan(0, _written).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(_array);
        _array = larger;
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        buffer.CopyTo(GetSpan(buffer.Length));
        _written += buffer.Length;
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
    public override void WriteByte(byte value) => Write([value]);
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => _written;
    public override long Position { get => _written; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        var array = _array;
        _array = [];
        _written = 0;
        if (array.Length > 0)
            ArrayPool<byte>.Shared.Return(array);
        base.Dispose(disposing);
    }
}
