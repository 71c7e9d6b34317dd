using System.Diagnostics.Metrics;

namespace RunsReplication.Observability;

/// <summary>
/// The service's instruments, named as the reference names them (meter <c>runs-replication</c>) so existing
/// dashboards keep working, plus the ones our guarantees add (confirmed LSN, dropped and skipped rows).
/// </summary>
public sealed class ReplicationMetrics : IDisposable
{
    public const string MeterName = "runs-replication";

    private readonly Meter _meter;

    public Counter<long> BatchesFlushed { get; }
    public Counter<long> TaskRunsInserted { get; }
    public Counter<long> PayloadsInserted { get; }
    public Counter<long> InsertRetries { get; }
    public Counter<long> EventsProcessed { get; }
    public Counter<long> RowsDropped { get; }
    public Counter<long> RowsStripped { get; }
    public Counter<long> RunsSkipped { get; }
    public Counter<long> LeaseLosses { get; }
    public Histogram<long> BatchSize { get; }
    public Histogram<double> FlushDurationMs { get; }
    public Histogram<double> ReplicationLagMs { get; }

    private long _confirmedLsn;
    private long _receivedLsn;

    public ReplicationMetrics(IMeterFactory? factory = null)
    {
        _meter = factory?.Create(MeterName) ?? new Meter(MeterName);
        BatchesFlushed = _meter.CreateCounter<long>("runs_replication.batches_flushed", description: "Batches written to ClickHouse, by success");
        TaskRunsInserted = _meter.CreateCounter<long>("runs_replication.task_runs_inserted", "inserts", "task_runs_v2 rows inserted");
        PayloadsInserted = _meter.CreateCounter<long>("runs_replication.payloads_inserted", "inserts", "raw_task_runs_payload_v1 rows inserted");
        InsertRetries = _meter.CreateCounter<long>("runs_replication.insert_retries", description: "Insert attempts retried, by operation");
        EventsProcessed = _meter.CreateCounter<long>("runs_replication.events_processed", description: "Row changes read from the stream, by event_type");
        RowsDropped = _meter.CreateCounter<long>("runs_replication.rows_dropped", description: "Rows ClickHouse refused even with their JSON emptied, by table");
        RowsStripped = _meter.CreateCounter<long>("runs_replication.rows_stripped", description: "Rows stored with their JSON emptied after ClickHouse refused them, by table");
        RunsSkipped = _meter.CreateCounter<long>("runs_replication.runs_skipped", description: "Runs skipped for lack of organizationId or environmentType");
        LeaseLosses = _meter.CreateCounter<long>("runs_replication.lease_losses", description: "Leadership terms that ended by losing the lease, by reason");
        BatchSize = _meter.CreateHistogram<long>("runs_replication.batch_size", "rows");
        FlushDurationMs = _meter.CreateHistogram<double>("runs_replication.flush_duration_ms", "ms");
        ReplicationLagMs = _meter.CreateHistogram<double>("runs_replication.replication_lag_ms", "ms");
        _meter.CreateObservableGauge("runs_replication.confirmed_lsn", () => Interlocked.Read(ref _confirmedLsn), description: "Last LSN confirmed to PostgreSQL");
        _meter.CreateObservableGauge("runs_replication.received_lsn", () => Interlocked.Read(ref _receivedLsn), description: "Last LSN received from PostgreSQL");
    }

    public void SetConfirmedLsn(ulong lsn) => Interlocked.Exchange(ref _confirmedLsn, unchecked((long)lsn));
    public void SetReceivedLsn(ulong lsn) => Interlocked.Exchange(ref _receivedLsn, unchecked((long)lsn));

    public void Dispose() => _meter.Dispose();
}
