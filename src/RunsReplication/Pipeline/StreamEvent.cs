using RunsReplication.Model;

namespace RunsReplication.Pipeline;

public enum StreamEventKind : byte
{
    /// <summary>A TaskRun row changed. Rows of a transaction arrive between its begin and its commit.</summary>
    Change,
    /// <summary>A transaction began. <see cref="StreamEvent.Lsn"/> is its commit LSN, which is also its version.</summary>
    Begin,
    /// <summary>A transaction ended. <see cref="StreamEvent.Lsn"/> is the end of its commit record: safe to confirm once its rows are stored.</summary>
    Commit,
    /// <summary>
    /// The server reported a WAL position while no transaction was open. Confirming it lets an idle TaskRun
    /// table release WAL that other tables wrote.
    /// </summary>
    Keepalive,
}

/// <summary>What the stream reader hands to the batcher. A small struct: millions flow through the channel.</summary>
public readonly record struct StreamEvent(StreamEventKind Kind, ulong Lsn, TaskRunChange? Change)
{
    public static StreamEvent ForChange(TaskRunChange change) => new(StreamEventKind.Change, change.Version, change);
    public static StreamEvent ForBegin(ulong commitLsn) => new(StreamEventKind.Begin, commitLsn, null);
    public static StreamEvent ForCommit(ulong endLsn) => new(StreamEventKind.Commit, endLsn, null);
    public static StreamEvent ForKeepalive(ulong walEnd) => new(StreamEventKind.Keepalive, walEnd, null);
}
