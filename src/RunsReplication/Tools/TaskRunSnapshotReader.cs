using System.Runtime.CompilerServices;
using Npgsql;
using RunsReplication.Configuration;
using RunsReplication.Model;

namespace RunsReplication.Tools;

/// <summary>
/// Reads TaskRun rows with plain SQL (not the replication stream) for backfills: pages by id inside one
/// REPEATABLE READ snapshot, converting each row into the same <see cref="TaskRunRecord"/> the stream produces.
/// </summary>
public sealed class TaskRunSnapshotReader(ReplicationSettings settings)
{
    private const string Columns = """
        id, "friendlyId", "organizationId", "projectId", "runtimeEnvironmentId", "environmentType"::text, status::text,
        "statusReason", engine::text, "taskIdentifier", queue, "masterQueue", "scheduleId", "batchId", "rootTaskRunId",
        "parentTaskRunId", depth, "spanId", "traceId", "idempotencyKey", "idempotencyKeyOptions"::text, "attemptNumber",
        "createdAt", "updatedAt", "queueTimestamp", "startedAt", "executedAt", "completedAt", "delayUntil", "queuedAt",
        "expiredAt", ttl, "usageDurationMs", "costInCents", "baseCostInCents", output, "outputType", error::text, payload,
        "payloadType", "runTags", "taskVersion", "sdkVersion", "cliVersion", "machinePreset", "isTest", "concurrencyKey",
        "bulkActionGroupIds", "maxDurationInSeconds", annotations::text, "isWarmStart", region, "planType"
        """;

    /// <summary>
    /// The WAL position to stamp backfilled rows with. Taken before the snapshot: any change committed after it has
    /// a higher commit LSN, so replicated rows always win over backfilled ones; changes committed before it are in
    /// the snapshot, so the backfilled row carries the same data.
    /// </summary>
    public async Task<ulong> CurrentWalPositionAsync(CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(settings.PostgresConnectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand("SELECT pg_current_wal_lsn()", connection);
        return (ulong)(NpgsqlTypes.NpgsqlLogSequenceNumber)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    public async IAsyncEnumerable<IReadOnlyList<TaskRunRecord>> ReadPagesAsync(
        DateTime? createdFrom, DateTime? createdTo, IReadOnlyCollection<string>? ids, int pageSize,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var table = Identifiers.Require(settings.TableName, "table name");
        await using var connection = new NpgsqlConnection(settings.PostgresConnectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken).ConfigureAwait(false);
        var cursor = "";
        while (true)
        {
            await using var command = new NpgsqlCommand(
                $"""
                 SELECT {Columns} FROM public."{table}"
                 WHERE id > $1 AND ($2::timestamp IS NULL OR "createdAt" >= $2) AND ($3::timestamp IS NULL OR "createdAt" < $3)
                   AND ($4::text[] IS NULL OR id = ANY($4))
                 ORDER BY id LIMIT $5
                 """, connection, transaction);
            command.Parameters.Add(new NpgsqlParameter { Value = cursor });
            command.Parameters.Add(new NpgsqlParameter { Value = (object?)createdFrom ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Timestamp });
            command.Parameters.Add(new NpgsqlParameter { Value = (object?)createdTo ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Timestamp });
            command.Parameters.Add(new NpgsqlParameter { Value = (object?)ids?.ToArray() ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text });
            command.Parameters.Add(new NpgsqlParameter { Value = pageSize });
            var page = new List<TaskRunRecord>(pageSize);
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    page.Add(Read(reader));
            }
            if (page.Count == 0)
                yield break;
            cursor = page[^1].Id;
            yield return page;
            if (page.Count < pageSize)
                yield break;
        }
    }

    private static TaskRunRecord Read(NpgsqlDataReader r)
    {
        var i = 0;
        bool Null()
        {
            if (!r.IsDBNull(i))
                return false;
            i++;
            return true;
        }
        string? S() => Null() ? null : r.GetString(i++);
        int? I() => Null() ? null : r.GetInt32(i++);
        double? D() => Null() ? null : r.GetDouble(i++);
        bool? B() => Null() ? null : r.GetBoolean(i++);
        DateTime? T() => Null() ? null : DateTime.SpecifyKind(r.GetDateTime(i++), DateTimeKind.Utc);
        string[]? A() => Null() ? null : r.GetFieldValue<string[]>(i++);
        return new TaskRunRecord
        {
            Id = S()!, FriendlyId = S() ?? "", OrganizationId = S(), ProjectId = S() ?? "", RuntimeEnvironmentId = S() ?? "",
            EnvironmentType = S(), Status = S() ?? "", StatusReason = S(), Engine = S() ?? "", TaskIdentifier = S() ?? "",
            Queue = S() ?? "", WorkerQueue = S(), ScheduleId = S(), BatchId = S(), RootTaskRunId = S(), ParentTaskRunId = S(),
            Depth = I(), SpanId = S(), TraceId = S(), IdempotencyKey = S(), IdempotencyKeyOptions = S(), AttemptNumber = I(),
            CreatedAt = T() ?? default, UpdatedAt = T() ?? default, QueueTimestamp = T(), StartedAt = T(), ExecutedAt = T(),
            CompletedAt = T(), DelayUntil = T(), QueuedAt = T(), ExpiredAt = T(), Ttl = S(), UsageDurationMs = I(),
            CostInCents = D(), BaseCostInCents = D(), Output = S(), OutputType = S(), Error = S(), Payload = S(),
            PayloadType = S(), RunTags = A(), TaskVersion = S(), SdkVersion = S(), CliVersion = S(), MachinePreset = S(),
            IsTest = B() ?? false, ConcurrencyKey = S(), BulkActionGroupIds = A(), MaxDurationInSeconds = I(),
            Annotations = S(), IsWarmStart = B(), Region = S(), PlanType = S(),
        };
    }
}
