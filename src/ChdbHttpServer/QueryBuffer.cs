using System.Buffers;
using System.Text;

namespace ChdbHttpServer;

/// <summary>
/// The statement bytes handed to chdb_query_n: the URL query text, a newline, then the request body (inline
/// INSERT data), assembled once in a pooled array so large inserts cost one copy from the socket.
/// </summary>
internal sealed class QueryBuffer : IDisposable
{
    private byte[] _buffer;
    private int _length;

    public QueryBuffer(int initialCapacity) => _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(initialCapacity, 256));

    public int Length => _length;

    /// <summary>The statement; the byte after it is kept zero so the native side also sees a C string.</summary>
    public ReadOnlySpan<byte> Statement => _buffer.AsSpan(0, _length);

    public void Append(string text)
    {
        EnsureCapacity(Encoding.UTF8.GetMaxByteCount(text.Length));
        _length += Encoding.UTF8.GetBytes(text, _buffer.AsSpan(_length));
    }

    public void Append(byte value)
    {
        EnsureCapacity(1);
        _buffer[_length++] = value;
    }

    /// <summary>Reads the whole stream into the buffer, growing it as needed (gzip bodies have no known length).</summary>
    public async Task AppendStreamAsync(Stream stream, CancellationToken cancellationToken)
    {
        while (true)
        {
            EnsureCapacity(16 * 1024);
            var read = await stream.ReadAsync(_buffer.AsMemory(_length, _buffer.Length - _length - 1), cancellationToken);
            if (read == 0)
            {
                return;
            }

            _length += read;
        }
    }

    public void Truncate(int length) => _length = Math.Clamp(length, 0, _length);

    public ReadOnlySpan<byte> TerminatedStatement()
    {
        EnsureCapacity(1);
        _buffer[_length] = 0;
        return Statement;
    }

    private void EnsureCapacity(int extra)
    {
        // +1 keeps room for the trailing zero.
        var needed = (long)_length + extra + 1;
        if (needed <= _buffer.Length)
        {
            return;
        }

        var next = ArrayPool<byte>.Shared.Rent((int)Math.Min(Array.MaxLength, Math.Max(needed, (long)_buffer.Length * 2)));
        _buffer.AsSpan(0, _length).CopyTo(next);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = next;
    }

    public void Dispose()
    {
        var buffer = Interlocked.Exchange(ref _buffer, []);
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
