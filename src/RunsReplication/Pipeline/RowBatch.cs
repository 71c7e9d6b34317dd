using RunsReplication.Model;

namespace RunsReplication.Pipeline;

/// <summary>
/// Changes cut from the stream for one ClickHouse flush, already merged (latest change per event kind and run).
/// <see cref="SafeLsn"/> may be confirmed once this batch and every earlier one are stored.
/// </summary>
public sealed record RowBatch(long Sequence, IReadOnlyList<TaskRunChange> Changes, ulong SafeLsn);

/// <summary>
/// Messages to the <see cref="Acknowledger"/>: a batch was cut (registered in stream order), or it was stored.
/// </summary>
public readonly record struct AckSignal(long Sequence, ulong SafeLsn, bool Stored)
{
    public static AckSignal Cut(long sequence, ulong safeLsn) => new(sequence, safeLsn, false);
    public static AckSignal StoredBatch(long sequence) => new(sequence, 0, true);
}
