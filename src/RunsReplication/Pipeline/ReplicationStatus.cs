namespace RunsReplication.Pipeline;

/// <summary>
/// What the running pipeline reports for <c>/status</c>. Written by the pipeline's stages, read by the HTTP
/// endpoint; plain volatile fields, since each value has one writer.
/// </summary>
public sealed class ReplicationStatus
{
    private long _confirmedLsn;
    private long _receivedLsn;
    private volatile bool _streaming;
    private volatile int _backendPid;
    private int _streamStarts;

    /// <summary>How many times a stream started; lets the worker tell a new incident from a repeated one.</summary>
    public int StreamStarts => Volatile.Read(ref _streamStarts);

    public ulong ConfirmedLsn => (ulong)Interlocked.Read(ref _confirmedLsn);
    public ulong ReceivedLsn => (ulong)Interlocked.Read(ref _receivedLsn);
    public bool Streaming => _streaming;
    public int? BackendProcessId => _backendPid == 0 ? null : _backendPid;
    public string? LastStreamError { get; set; }

    internal void SetConfirmed(ulong lsn) => Interlocked.Exchange(ref _confirmedLsn, (long)lsn);
    internal void SetReceived(ulong lsn) => Interlocked.Exchange(ref _receivedLsn, (long)lsn);

    internal void SetStreaming(bool streaming, int? pid)
    {
        if (streaming)
            Interlocked.Increment(ref _streamStarts);
        _streaming = streaming;
        _backendPid = pid ?? 0;
    }

    public static string FormatLsn(ulong lsn) => $"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}";
}
