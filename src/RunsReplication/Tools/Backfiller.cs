using Microsoft.Extensions.Logging;
using RunsReplication.ClickHouse;
using RunsReplication.Model;
using RunsReplication.Pipeline;

namespace RunsReplication.Tools;

/// <summary>
/// Copies TaskRun rows from a PostgreSQL snapshot into ClickHouse, to repair or seed it (e.g. after a slot was
/// recreated, or for runs reported as dropped). Safe while a replicator runs: rows carry the WAL position taken
/// before the snapshot as their version, so any change the stream delivers is newer and wins under FINAL.
/// </summary>
public sealed class Backfiller(TaskRunSnapshotReader reader, ClickHouseSink sink, ILogger<Backfiller> logger)
{
    public sealed record Result(long Runs, ulong Version);

    public async Task<Result> RunAsync(DateTime? createdFrom, DateTime? createdTo, IReadOnlyCollection<string>? ids,
        int pageSize, bool includePayloads, CancellationToken cancellationToken)
    {
        var version = await reader.CurrentWalPositionAsync(cancellationToken).ConfigureAwait(false);
        // Payload rows go to a plain MergeTree that never deduplicates: only write them when asked.
        var kind = includePayloads ? ChangeKind.Insert : ChangeKind.Update;
        long total = 0;
        long sequence = 0;
        await foreach (var page in reader.ReadPagesAsync(createdFrom, createdTo, ids, pageSize, cancellationToken).ConfigureAwait(false))
        {
            var changes = page.Select(run => new TaskRunChange(kind, run, version)).ToArray();
            await sink.StoreAsync([new RowBatch(sequence++, changes, 0)], cancellationToken).ConfigureAwait(false);
            total += page.Count;
            logger.LogInformation("Backfilled {Runs} runs so far (up to id {LastId})", total, page[^1].Id);
        }
        logger.LogInformation("Backfill done: {Runs} runs written with version {Version}", total, ReplicationStatus.FormatLsn(version));
        return new Result(total, version);
    }
}
