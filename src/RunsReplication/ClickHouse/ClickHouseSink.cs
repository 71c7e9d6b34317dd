using System.Diagnostics;
using Microsoft.Extensions.Logging;
using RunsReplication.Configuration;
using RunsReplication.Leadership;
using RunsReplication.Mapping;
using RunsReplication.Model;
using RunsReplication.Observability;
using RunsReplication.Pipeline;

namespace RunsReplication.ClickHouse;

/// <summary>
/// Writes one <see cref="RowBatch"/> to ClickHouse and returns only when every row is stored (or, for a row
/// ClickHouse cannot take even with its JSON emptied, reported as dropped). Transient failures are retried
/// with capped, jittered backoff and never give up: an outage pauses replication instead of losing rows.
/// Permanent failures (auth, missing table, syntax) are reported and retried slowly, waiting for an operator.
/// A row whose data ClickHouse refuses is isolated by halving the batch, so it cannot sink its batch-mates.
/// </summary>
public sealed class ClickHouseSink
{
    private static readonly TimeSpan PermanentErrorRetry = TimeSpan.FromSeconds(30);

    private readonly ClickHouseClient _client;
    private readonly TaskRunMapper _mapper;
    private readonly ReplicationSettings _settings;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ReplicationMetrics _metrics;
    private readonly string _taskRunsInsert;
    private readonly string _payloadsInsert;
    private long _skippedSinceLog;
    private long _lastSkipLog;

    public SinkHealth Health { get; }

    public ClickHouseSink(ClickHouseClient client, TaskRunMapper mapper, ReplicationSettings settings, ReplicationMetrics metrics, TimeProvider time, ILogger<ClickHouseSink> logger)
    {
        _client = client;
        _mapper = mapper;
        _settings = settings;
        _metrics = metrics;
        _time = time;
        _logger = logger;
        _taskRunsInsert = TaskRunRowWriter.BuildTaskRunsInsert(settings.ClickHouseDatabase);
        _payloadsInsert = TaskRunRowWriter.BuildPayloadsInsert(settings.ClickHouseDatabase);
        Health = new SinkHealth(logger, time);
    }

    // Trigger.dev's insert settings, minus the array-inference one that ClickHouse 25.5 rejects (their #4325).
    private static readonly Dictionary<string, string> InsertSettings = new()
    {
        ["enable_json_type"] = "1",
        ["type_json_skip_duplicated_paths"] = "1",
        ["input_format_parallel_parsing"] = "0",
    };

    /// <summary>
    /// Stores a group of consecutive batches as one insert per table. Under a backlog the workers find several
    /// batches waiting and write them together, so ClickHouse sees few large inserts (few parts) instead of many
    /// small ones, while an idle stream still flushes each small batch on its interval.
    /// </summary>
    public async Task StoreAsync(IReadOnlyList<RowBatch> group, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        // Latest change per (event kind, run) across the group; batches are in stream order, so on equal versions
        // the later one wins, as within a batch.
        var latest = new Dictionary<(ChangeKind, string), int>();
        var merged = new List<TaskRunChange>(group.Sum(b => b.Changes.Count));
        foreach (var batch in group)
        {
            foreach (var change in batch.Changes)
            {
                var key = (change.Kind, change.Run.Id);
                if (latest.TryGetValue(key, out var index))
                {
                    if (change.Version >= merged[index].Version)
                        merged[index] = change;
                }
                else
                {
                    latest[key] = merged.Count;
                    merged.Add(change);
                }
            }
        }
        var changes = merged.ToArray();
        // The table's ORDER BY, then arrival order so that within a transaction the later change is written last.
        var arrival = new Dictionary<TaskRunChange, int>(changes.Length, ReferenceEqualityComparer.Instance);
        for (var i = 0; i < changes.Length; i++)
            arrival[changes[i]] = i;
        Array.Sort(changes, (a, b) => CompareBySortKey(a, b, arrival));

        var runs = new List<TaskRunRow>(changes.Length);
        var payloads = new List<PayloadRow>();
        var skipped = 0;
        foreach (var change in changes)
        {
            if (!_mapper.TryMap(change, out var row, out var payload))
            {
                skipped++;
                continue;
            }
            runs.Add(row);
            if (payload is not null)
                payloads.Add(payload);
        }
        if (skipped > 0)
            ReportSkipped(skipped);
        payloads.Sort((a, b) => string.CompareOrdinal(a.RunId, b.RunId));

        var storedRuns = runs.Count == 0 ? 0 : await StoreRowsAsync(Table.TaskRuns, runs, cancellationToken).ConfigureAwait(false);
        var storedPayloads = payloads.Count == 0 || _settings.DisablePayloadInsert
            ? 0
            : await StoreRowsAsync(Table.Payloads, payloads, cancellationToken).ConfigureAwait(false);

        _metrics.TaskRunsInserted.Add(storedRuns);
        _metrics.PayloadsInserted.Add(storedPayloads);
        _metrics.BatchSize.Record(changes.Length);
        _metrics.BatchesFlushed.Add(1, new KeyValuePair<string, object?>("success", true));
        _metrics.FlushDurationMs.Record(_time.GetElapsedTime(started).TotalMilliseconds);
    }

    private static int CompareBySortKey(TaskRunChange a, TaskRunChange b, Dictionary<TaskRunChange, int> arrival)
    {
        var x = a.Run;
        var y = b.Run;
        var c = string.CompareOrdinal(x.OrganizationId, y.OrganizationId);
        if (c == 0) c = string.CompareOrdinal(x.ProjectId, y.ProjectId);
        if (c == 0) c = string.CompareOrdinal(x.RuntimeEnvironmentId, y.RuntimeEnvironmentId);
        if (c == 0) c = x.CreatedAt.CompareTo(y.CreatedAt);
        if (c == 0) c = string.CompareOrdinal(x.Id, y.Id);
        return c != 0 ? c : arrival[a].CompareTo(arrival[b]);
    }

    private void ReportSkipped(int count)
    {
        _metrics.RunsSkipped.Add(count);
        var total = Interlocked.Add(ref _skippedSinceLog, count);
        var last = Interlocked.Read(ref _lastSkipLog);
        // At most one line a minute, carrying the count since the last line.
        if ((last == 0 || _time.GetElapsedTime(last) >= TimeSpan.FromMinutes(1)) && Interlocked.CompareExchange(ref _lastSkipLog, _time.GetTimestamp(), last) == last)
        {
            Interlocked.Add(ref _skippedSinceLog, -total);
            _logger.LogWarning("Skipped {Count} TaskRun changes without organizationId or environmentType", total);
        }
    }

    private enum Table { TaskRuns, Payloads }

    /// <summary>Stores rows; returns how many were stored (the rest were reported as dropped).</summary>
    private async Task<int> StoreRowsAsync<T>(Table table, List<T> rows, CancellationToken cancellationToken) where T : class
    {
        try
        {
            await InsertWithRetryAsync(table, rows, cancellationToken).ConfigureAwait(false);
            return rows.Count;
        }
        catch (ClickHouseException e) when (e.IsDataError)
        {
            _logger.LogWarning("ClickHouse refused the data of a {Table} batch of {Rows} rows; isolating the bad rows: {Error}", TableName(table), rows.Count, e.Message);
            return await IsolateAsync(table, rows, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<int> IsolateAsync<T>(Table table, List<T> rows, CancellationToken cancellationToken) where T : class
    {
        if (rows.Count == 1)
            return await StoreStrippedAsync(table, rows[0], cancellationToken).ConfigureAwait(false) ? 1 : 0;

        var stored = 0;
        var half = rows.Count / 2;
        foreach (var part in new[] { rows.GetRange(0, half), rows.GetRange(half, rows.Count - half) })
        {
            try
            {
                await InsertWithRetryAsync(table, part, cancellationToken).ConfigureAwait(false);
                stored += part.Count;
            }
            catch (ClickHouseException e) when (e.IsDataError)
            {
                stored += await IsolateAsync(table, part, cancellationToken).ConfigureAwait(false);
            }
        }
        return stored;
    }

    /// <summary>
    /// The one row ClickHouse refuses: keep its status and timestamps by emptying its JSON, as the reference
    /// does; if even that is refused, report it as dropped with its run id so it can be backfilled.
    /// </summary>
    private async Task<bool> StoreStrippedAsync<T>(Table table, T row, CancellationToken cancellationToken) where T : class
    {
        string runId;
        switch (row)
        {
            case TaskRunRow run:
                run.Output = "{}";
                run.Error = "{}";
                runId = run.RunId;
                break;
            case PayloadRow payload:
                payload.Payload = "{}";
                runId = payload.RunId;
                break;
            default:
                throw new UnreachableException();
        }
        var tag = new KeyValuePair<string, object?>("table", TableName(table));
        try
        {
            await InsertWithRetryAsync(table, new List<T> { row }, cancellationToken).ConfigureAwait(false);
            _metrics.RowsStripped.Add(1, tag);
            _logger.LogWarning("Stored run {RunId} in {Table} with its JSON emptied: ClickHouse refused its data", runId, TableName(table));
            return true;
        }
        catch (ClickHouseException e) when (e.IsDataError)
        {
            _metrics.RowsDropped.Add(1, tag);
            _logger.LogError("Dropped run {RunId} from {Table}: ClickHouse refuses it even with its JSON emptied; backfill it after fixing the cause: {Error}", runId, TableName(table), e.Message);
            return false;
        }
    }

    private async Task InsertWithRetryAsync<T>(Table table, List<T> rows, CancellationToken cancellationToken) where T : class
    {
        using var body = Serialize(table, rows);
        var statement = table == Table.TaskRuns ? _taskRunsInsert : _payloadsInsert;
        var backoff = new Backoff(_settings.InsertBaseDelay, _settings.InsertMaxDelay);
        var operation = new KeyValuePair<string, object?>("operation", table == Table.TaskRuns ? "task_runs" : "payloads");
        while (true)
        {
            try
            {
                await _client.InsertAsync(statement, body, InsertSettings, cancellationToken).ConfigureAwait(false);
                Health.Succeeded();
                return;
            }
            catch (ClickHouseException e) when (!e.IsDataError)
            {
                TimeSpan delay;
                if (e.IsPermanent)
                {
                    Health.Failed(e, SinkState.Blocked);
                    delay = PermanentErrorRetry;
                }
                else
                {
                    Health.Failed(e, backoff.Attempts + 1 >= _settings.InsertMaxRetries ? SinkState.Unavailable : SinkState.Retrying);
                    delay = backoff.Next();
                }
                _metrics.InsertRetries.Add(1, operation);
                await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private InsertBody Serialize<T>(Table table, List<T> rows) => _client.CreateBody(stream =>
    {
        if (table == Table.TaskRuns)
            TaskRunRowWriter.WriteTaskRuns(stream, (List<TaskRunRow>)(object)rows);
        else
            TaskRunRowWriter.WritePayloads(stream, (List<PayloadRow>)(object)rows);
    });

    private static string TableName(Table table) => table == Table.TaskRuns ? "task_runs_v2" : "raw_task_runs_payload_v1";
}
