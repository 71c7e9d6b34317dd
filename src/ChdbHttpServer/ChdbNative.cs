using System.Runtime.InteropServices;

namespace ChdbHttpServer;

/// <summary>
/// The few libchdb.so entry points we use, resolved once from an explicit path (the npm package's copy)
/// rather than through the default probing, so the library location is a command-line choice.
/// </summary>
internal static unsafe class ChdbNative
{
    private static IntPtr _library;

    public static delegate* unmanaged<int, void> SetSignalHandlersEnabled;
    public static delegate* unmanaged<int, IntPtr, IntPtr> Connect;                 // chdb_connection* (int argc, char** argv)
    public static delegate* unmanaged<IntPtr, void> CloseConnection;               // (chdb_connection*)
    public static delegate* unmanaged<IntPtr, byte*, nuint, byte*, nuint, IntPtr> QueryN; // chdb_result* (chdb_connection, q, len, fmt, len)
    public static delegate* unmanaged<IntPtr, void> DestroyQueryResult;
    public static delegate* unmanaged<IntPtr, byte*> ResultBuffer;
    public static delegate* unmanaged<IntPtr, nuint> ResultLength;
    public static delegate* unmanaged<IntPtr, byte*> ResultError;
    public static delegate* unmanaged<IntPtr, ulong> ResultRowsRead;
    public static delegate* unmanaged<IntPtr, ulong> ResultBytesRead;
    public static delegate* unmanaged<IntPtr, ulong> ResultRowsWritten;
    public static delegate* unmanaged<IntPtr, ulong> ResultBytesWritten;
    public static delegate* unmanaged<IntPtr, double> ResultElapsed;

    public static void Load(string path)
    {
        if (_library != IntPtr.Zero)
        {
            return;
        }

        _library = NativeLibrary.Load(path);
        SetSignalHandlersEnabled = (delegate* unmanaged<int, void>)Export("chdb_set_signal_handlers_enabled");
        Connect = (delegate* unmanaged<int, IntPtr, IntPtr>)Export("chdb_connect");
        CloseConnection = (delegate* unmanaged<IntPtr, void>)Export("chdb_close_conn");
        QueryN = (delegate* unmanaged<IntPtr, byte*, nuint, byte*, nuint, IntPtr>)Export("chdb_query_n");
        DestroyQueryResult = (delegate* unmanaged<IntPtr, void>)Export("chdb_destroy_query_result");
        ResultBuffer = (delegate* unmanaged<IntPtr, byte*>)Export("chdb_result_buffer");
        ResultLength = (delegate* unmanaged<IntPtr, nuint>)Export("chdb_result_length");
        ResultError = (delegate* unmanaged<IntPtr, byte*>)Export("chdb_result_error");
        ResultRowsRead = (delegate* unmanaged<IntPtr, ulong>)Export("chdb_result_rows_read");
        ResultBytesRead = (delegate* unmanaged<IntPtr, ulong>)Export("chdb_result_bytes_read");
        ResultRowsWritten = (delegate* unmanaged<IntPtr, ulong>)Export("chdb_result_rows_written");
        ResultBytesWritten = (delegate* unmanaged<IntPtr, ulong>)Export("chdb_result_bytes_written");
        ResultElapsed = (delegate* unmanaged<IntPtr, double>)Export("chdb_result_elapsed");
    }

    private static IntPtr Export(string name) => NativeLibrary.GetExport(_library, name);
}
