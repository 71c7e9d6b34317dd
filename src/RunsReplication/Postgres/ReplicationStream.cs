using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;
using NpgsqlTypes;
using RunsReplication.Configuration;
using RunsReplication.Model;
using RunsReplication.Observability;
using RunsReplication.Pipeline;

namespace RunsReplication.Postgres;

/// <summary>
/// The replication connection: streams the slot with pgoutput (protocol 1, binary values) from the slot's
/// confirmed position, turns messages into <see cref="StreamEvent"/>s, and carries acknowledgements back.
/// Transactions are never buffered here: rows go on as they are decoded, stamped with the transaction's commit
/// LSN (known from its Begin message), so a million-row transaction flows through in bounded memory.
/// Disposing the stream closes the connection at once, which frees the slot for another instance.
/// </summary>
public sealed class ReplicationStream(ReplicationSettings settings, TimeProvider time, ILogger<ReplicationStream> logger, ReplicationMetrics? metrics = null) : IAsyncDisposable
{
    private LogicalReplicationConnection? _connection;
    private readonly Dictionary<uint, TaskRunTupleDecoder> _decoders = new();
    private volatile bool _awaitingMessage;
    private volatile bool _inTransaction;
    private ulong _lastKeepalive;
    private bool _truncateWarned;

    /// <summary>PostgreSQL's process id of our walsender, once connected.</summary>
    public int? BackendProcessId => _connection?.ProcessID;

    public ulong LastReceivedLsn => _connection is { } c ? (ulong)c.LastReceivedLsn : 0;

    public async Task OpenAsync(CancellationToken cancellationToken)
    {
        var builder = new NpgsqlConnectionStringBuilder(settings.PostgresConnectionString)
        {
            // pg_stat_replication shows who holds the slot.
            ApplicationName = settings.InstanceId,
            KeepAlive = 5,
            // On cancellation (lease lost, shutdown) Npgsql asks the server to cancel and by default waits up to 2 s
            // for its answer before breaking the connection: that is longer than a lost leader may take to stop
            // (the watchdog's grace at short TTLs). -1 breaks it at once; the walsender then ends and frees the slot.
            CancellationTimeout = -1,
        };
        _connection = new LogicalReplicationConnection(builder.ConnectionString)
        {
            // Frequent feedback: confirmations reach PostgreSQL within a second of the watermark moving.
            WalReceiverStatusInterval = TimeSpan.FromSeconds(1),
        };
        await _connection.Open(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Records that every transaction ending at or before <paramref name="lsn"/> is stored in ClickHouse. Npgsql
    /// sends it with its next status update (at most a second later).
    /// </summary>
    public void Acknowledge(ulong lsn) => _connection?.SetReplicationStatus(new NpgsqlLogSequenceNumber(lsn));

    /// <summary>Sends the acknowledged position now (best effort; used before a graceful close).</summary>
    public async Task FlushAcknowledgementAsync(CancellationToken cancellationToken)
    {
        if (_connection is { } connection)
            await connection.SendStatusUpdate(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads the stream into <paramref name="output"/> until cancelled or the connection fails.
    /// <paramref name="onStarted"/> runs once PostgreSQL has accepted the stream (first message or keepalive):
    /// START_REPLICATION is lazy, and a slot held by another process is only refused at that point.
    /// </summary>
    public async Task RunAsync(ChannelWriter<StreamEvent> output, CancellationToken cancellationToken, Action? onStarted = null)
    {
        _onStarted = onStarted;
        var connection = _connection ?? throw new InvalidOperationException("OpenAsync first");
        var slot = new PgOutputReplicationSlot(settings.SlotName);
        var options = new PgOutputReplicationOptions(settings.PublicationName, PgOutputProtocolVersion.V1, binary: true);

        using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var keepalives = ReportIdlePositionAsync(output, idle.Token);
        try
        {
            ulong version = 0;
            _awaitingMessage = true;
            await foreach (var message in connection.StartReplication(slot, options, cancellationToken).ConfigureAwait(false))
            {
                _awaitingMessage = false;
                ReportStarted();
                switch (message)
                {
                    case BeginMessage begin:
                        _inTransaction = true;
                        version = (ulong)begin.TransactionFinalLsn;
                        await output.WriteAsync(StreamEvent.ForBegin(version), cancellationToken).ConfigureAwait(false);
                        break;
                    case CommitMessage commit:
                        // How long after its commit a transaction reached us (the reference's replication_lag_ms).
                        metrics?.ReplicationLagMs.Record((time.GetUtcNow() - commit.TransactionCommitTimestamp).TotalMilliseconds);
                        await output.WriteAsync(StreamEvent.ForCommit((ulong)commit.TransactionEndLsn), cancellationToken).ConfigureAwait(false);
                        _inTransaction = false;
                        break;
                    case RelationMessage relation:
                        if (relation.Namespace == "public" && relation.RelationName == settings.TableName)
                            _decoders[relation.RelationId] = TaskRunTupleDecoder.For(relation);
                        break;
                    case InsertMessage insert when Decoder(insert.Relation.RelationId) is { } decoder:
                        var inserted = await decoder.DecodeAsync(insert.NewRow, null, cancellationToken).ConfigureAwait(false);
                        await WriteChangeAsync(output, ChangeKind.Insert, inserted, version, cancellationToken).ConfigureAwait(false);
                        break;
                    case FullUpdateMessage update when Decoder(update.Relation.RelationId) is { } decoder:
                        // The old row fills in large values the new row marks as unchanged TOAST.
                        var before = await decoder.DecodeAsync(update.OldRow, null, cancellationToken).ConfigureAwait(false);
                        var after = await decoder.DecodeAsync(update.NewRow, before, cancellationToken).ConfigureAwait(false);
                        await WriteChangeAsync(output, ChangeKind.Update, after, version, cancellationToken).ConfigureAwait(false);
                        break;
                    case IndexUpdateMessage update when Decoder(update.Relation.RelationId) is { } decoder:
                        await decoder.DecodeAsync(update.Key, null, cancellationToken).ConfigureAwait(false);
                        var updatedByKey = await decoder.DecodeAsync(update.NewRow, null, cancellationToken).ConfigureAwait(false);
                        await WriteChangeAsync(output, ChangeKind.Update, updatedByKey, version, cancellationToken).ConfigureAwait(false);
                        break;
                    case UpdateMessage update when Decoder(update.Relation.RelationId) is { } decoder:
                        var updated = await decoder.DecodeAsync(update.NewRow, null, cancellationToken).ConfigureAwait(false);
                        await WriteChangeAsync(output, ChangeKind.Update, updated, version, cancellationToken).ConfigureAwait(false);
                        break;
                    case FullDeleteMessage delete when Decoder(delete.Relation.RelationId) is { } decoder:
                        var deleted = await decoder.DecodeAsync(delete.OldRow, null, cancellationToken).ConfigureAwait(false);
                        await WriteChangeAsync(output, ChangeKind.Delete, deleted, version, cancellationToken).ConfigureAwait(false);
                        break;
                    case KeyDeleteMessage delete when Decoder(delete.Relation.RelationId) is { } decoder:
                        // Only the key: the mapper skips it for lack of organization (REPLICA IDENTITY FULL prevents this).
                        var keyOnly = await decoder.DecodeAsync(delete.Key, null, cancellationToken).ConfigureAwait(false);
                        await WriteChangeAsync(output, ChangeKind.Delete, keyOnly, version, cancellationToken).ConfigureAwait(false);
                        break;
                    case TruncateMessage when !_truncateWarned:
                        _truncateWarned = true;
                        logger.LogWarning("TRUNCATE of {Table} is not replicated: ClickHouse keeps the truncated runs", settings.TableName);
                        break;
                }
                _awaitingMessage = true;
            }
        }
        finally
        {
            _awaitingMessage = false;
            await idle.CancelAsync().ConfigureAwait(false);
            try { await keepalives.ConfigureAwait(false); } catch (OperationCanceledException) { }
        }
    }

    private Action? _onStarted;

    private void ReportStarted() => Interlocked.Exchange(ref _onStarted, null)?.Invoke();

    private TaskRunTupleDecoder? Decoder(uint relationId) => _decoders.GetValueOrDefault(relationId);

    private static ValueTask WriteChangeAsync(ChannelWriter<StreamEvent> output, ChangeKind kind, TaskRunRecord run, ulong version, CancellationToken cancellationToken)
    {
        var item = StreamEvent.ForChange(new TaskRunChange(kind, run, version));
        return output.TryWrite(item) ? ValueTask.CompletedTask : output.WriteAsync(item, cancellationToken);
    }

    /// <summary>
    /// While the reader waits between transactions, the server's keepalives move <see cref="LastReceivedLsn"/>
    /// past WAL that other tables wrote. Passing that position on (in stream order, through the same channel)
    /// lets the acknowledgement advance so an idle TaskRun table never holds WAL.
    /// </summary>
    private async Task ReportIdlePositionAsync(ChannelWriter<StreamEvent> output, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(500), time);
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
        {
            if (!_awaitingMessage || _inTransaction)
                continue;
            var position = LastReceivedLsn;
            if (position > 0)
                ReportStarted();
            if (position > _lastKeepalive && output.TryWrite(StreamEvent.ForKeepalive(position)))
                _lastKeepalive = position;
        }
    }

    public async ValueTask DisposeAsync()
    {
        var connection = _connection;
        _connection = null;
        if (connection is null)
            return;
        try
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            logger.LogDebug(e, "Closing the replication connection failed");
        }
    }
}
