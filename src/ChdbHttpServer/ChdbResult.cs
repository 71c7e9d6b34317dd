using System.Runtime.InteropServices;
using System.Text;

namespace ChdbHttpServer;

/// <summary>
/// One chdb_result*. The output bytes stay in native memory until disposal, so the HTTP layer can copy
/// them straight into the response pipe without an intermediate managed array.
/// </summary>
internal sealed unsafe class ChdbResult : SafeHandle
{
    public ChdbResult(IntPtr result) : base(IntPtr.Zero, ownsHandle: true) => SetHandle(result);

    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary>The engine's error text ("Code: N. DB::Exception: ..."), or null on success.</summary>
    public string? Error
    {
        get
        {
            var text = ChdbNative.ResultError(handle);
            return text == null ? null : Marshal.PtrToStringUTF8((IntPtr)text);
        }
    }

    /// <summary>Output length; statements without output (CREATE, INSERT) have a null buffer, read as empty.</summary>
    public long Length => ChdbNative.ResultBuffer(handle) == null ? 0 : (long)ChdbNative.ResultLength(handle);

    public ulong RowsRead => ChdbNative.ResultRowsRead(handle);
    public ulong BytesRead => ChdbNative.ResultBytesRead(handle);
    public ulong RowsWritten => ChdbNative.ResultRowsWritten(handle);
    public ulong BytesWritten => ChdbNative.ResultBytesWritten(handle);
    public double ElapsedSeconds => ChdbNative.ResultElapsed(handle);

    /// <summary>A window of the output; only valid until this result is disposed, and never across an await.</summary>
    public ReadOnlySpan<byte> Slice(long offset, int count)
    {
        var buffer = ChdbNative.ResultBuffer(handle);
        return buffer == null ? default : new ReadOnlySpan<byte>(buffer + offset, count);
    }

    public string ReadAllText() => Length == 0 ? string.Empty : Encoding.UTF8.GetString(Slice(0, checked((int)Length)));

    protected override bool ReleaseHandle()
    {
        ChdbNative.DestroyQueryResult(handle);
        return true;
    }
}
