using System.Runtime.InteropServices;
using System.Text;

namespace ChdbHttpServer;

/// <summary>
/// The process's single chDB session (chdb_connect on one data folder). chDB keeps one engine per process, so
/// there is exactly one of these; callers serialise statements on it (see <see cref="QueryExecutor"/>).
/// </summary>
internal sealed unsafe class ChdbConnection : SafeHandle
{
    private ChdbConnection(IntPtr connectionHandle) : base(IntPtr.Zero, ownsHandle: true) => SetHandle(connectionHandle);

    public override bool IsInvalid => handle == IntPtr.Zero;

    public static ChdbConnection Open(string libraryPath, string dataPath)
    {
        ChdbNative.Load(libraryPath);
        // ClickHouse's own SIGSEGV handler would swallow the signals .NET uses for NullReferenceException and hang
        // the process, so it must be off before the engine starts.
        ChdbNative.SetSignalHandlersEnabled(0);

        var args = new[] { "clickhouse", "--path=" + dataPath };
        var argv = new IntPtr[args.Length];
        try
        {
            for (var i = 0; i < args.Length; i++)
            {
                argv[i] = Marshal.StringToCoTaskMemUTF8(args[i]);
            }

            fixed (IntPtr* argvPtr = argv)
            {
                var connection = ChdbNative.Connect(args.Length, (IntPtr)argvPtr);
                if (connection == IntPtr.Zero || Marshal.ReadIntPtr(connection) == IntPtr.Zero)
                {
                    throw new InvalidOperationException($"chdb_connect failed for data folder '{dataPath}'");
                }

                return new ChdbConnection(connection);
            }
        }
        finally
        {
            foreach (var p in argv)
            {
                Marshal.FreeCoTaskMem(p);
            }
        }
    }

    /// <summary>Runs one statement; <paramref name="statement"/> may carry inline INSERT data after a newline.</summary>
    public ChdbResult Execute(ReadOnlySpan<byte> statement, string format)
    {
        ObjectDisposedException.ThrowIf(IsClosed, this);
        Span<byte> formatBytes = stackalloc byte[Encoding.UTF8.GetMaxByteCount(format.Length) + 1];
        var formatLength = Encoding.UTF8.GetBytes(format, formatBytes);
        formatBytes[formatLength] = 0;

        // chdb_connect hands back a pointer to the connection; the query calls take the connection itself.
        var connection = Marshal.ReadIntPtr(handle);
        IntPtr result;
        fixed (byte* q = statement)
        fixed (byte* f = formatBytes)
        {
            result = ChdbNative.QueryN(connection, q, (nuint)statement.Length, f, (nuint)formatLength);
        }

        if (result == IntPtr.Zero)
        {
            throw new InvalidOperationException("chdb_query_n returned no result");
        }

        return new ChdbResult(result);
    }

    public ChdbResult Execute(string statement, string format = "TabSeparated") => Execute(Encoding.UTF8.GetBytes(statement), format);

    protected override bool ReleaseHandle()
    {
        ChdbNative.CloseConnection(handle);
        return true;
    }
}
