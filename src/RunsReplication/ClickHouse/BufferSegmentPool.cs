using System.Collections.Concurrent;

namespace RunsReplication.ClickHouse;

/// <summary>
/// Fixed-size byte segments for insert bodies, with a cap on how many it keeps between inserts.
/// <para>
/// Why not <see cref="System.Buffers.ArrayPool{T}.Shared"/>: it keeps arrays per thread and per size class, up to
/// 1 GiB each, so a growing buffer that rents 1, 2, 4 … 32 MiB in turn leaves a trail of large arrays on every
/// thread-pool thread that ran an insert, and the process grows with the length of a backlog. Here every segment
/// has one size (they also reuse each other's space on the large object heap), and at most
/// <see cref="MaxRetained"/> are kept; the rest go back to the GC.
/// </para>
/// </summary>
public sealed class BufferSegmentPool(int segmentSize = BufferSegmentPool.DefaultSegmentSize, int maxRetained = BufferSegmentPool.DefaultMaxRetained)
{
    public const int DefaultSegmentSize = 1 << 20;
    public const int DefaultMaxRetained = 32;

    /// <summary>Shared by all inserts of the process: at most 32 MiB kept between inserts.</summary>
    public static BufferSegmentPool Shared { get; } = new();

    private readonly ConcurrentQueue<byte[]> _free = new();
    private int _retained;

    public int SegmentSize => segmentSize;
    public int MaxRetained => maxRetained;

    /// <summary>Segments kept for reuse right now.</summary>
    public int Retained => Volatile.Read(ref _retained);

    public byte[] Rent()
    {
        if (_free.TryDequeue(out var segment))
        {
            Interlocked.Decrement(ref _retained);
            return segment;
        }
        return GC.AllocateUninitializedArray<byte>(segmentSize);
    }

    public void Return(byte[] segment)
    {
        if (segment.Length != segmentSize)
            return; // an oversized one-off: let the GC have it
        if (Interlocked.Increment(ref _retained) > maxRetained)
        {
            Interlocked.Decrement(ref _retained);
            return;
        }
        _free.Enqueue(segment);
    }
}
