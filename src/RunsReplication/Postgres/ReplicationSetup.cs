using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;
using RunsReplication.Configuration;

namespace RunsReplication.Postgres;

/// <summary>
/// Prepares and checks what logical replication needs in PostgreSQL: the TaskRun table with REPLICA IDENTITY
/// FULL (never created here), the publication (created, or validated with fix-it SQL), and the permanent
/// pgoutput slot. Also advances and drops the slot and ends a stale holder of it.
/// </summary>
public sealed class ReplicationSetup(ReplicationSettings settings, ILogger<ReplicationSetup> logger)
{
    private static readonly string[] RequiredActions = ["insert", "update", "delete"];

    private string Table => Identifiers.Require(settings.TableName, "table name");
    private string Publication => Identifiers.Require(settings.PublicationName, "publication name");
    private string Slot => Identifiers.IsValidSlotName(settings.SlotName)
        ? settings.SlotName
        : throw new ArgumentException($"slot name '{settings.SlotName}' is not valid");

    public async Task<NpgsqlConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var builder = new NpgsqlConnectionStringBuilder(settings.PostgresConnectionString)
        {
            ApplicationName = $"{settings.InstanceId}-admin",
            Pooling = false,
        };
        var connection = new NpgsqlConnection(builder.ConnectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        return connection;
    }

    /// <summary>Checks the table, creates or validates the publication, creates the slot if missing.</summary>
    public async Task EnsureAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await CheckTableAsync(connection, cancellationToken).ConfigureAwait(false);
        await EnsurePublicationAsync(connection, cancellationToken).ConfigureAwait(false);
        await EnsureSlotAsync(connection, cancellationToken).ConfigureAwait(false);
    }

    private async Task CheckTableAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            "SELECT c.relreplident::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relname = $1",
            connection);
        command.Parameters.Add(new NpgsqlParameter { Value = Table });
        var identity = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as string;
        if (identity is null)
            throw new ReplicationSetupException(
                $"Table public.\"{Table}\" does not exist in database '{connection.Database}'. The service never creates it: apply the engine's migrations (or schema/postgres/task_run.sql) first.");
        if (identity != "f")
            throw new ReplicationSetupException(
                $"Table public.\"{Table}\" has REPLICA IDENTITY {DescribeIdentity(identity)}; replication needs FULL so deletes and unchanged large values carry the whole row.",
                $"ALTER TABLE public.\"{Table}\" REPLICA IDENTITY FULL;");
    }

    private static string DescribeIdentity(string code) => code switch
    {
        "d" => "DEFAULT",
        "n" => "NOTHING",
        "i" => "USING INDEX",
        _ => code,
    };

    private async Task EnsurePublicationAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        bool exists;
        var actions = new List<string>();
        await using (var command = new NpgsqlCommand(
            "SELECT pubinsert, pubupdate, pubdelete FROM pg_publication WHERE pubname = $1", connection))
        {
            command.Parameters.Add(new NpgsqlParameter { Value = Publication });
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            exists = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            if (exists)
            {
                if (reader.GetBoolean(0)) actions.Add("insert");
                if (reader.GetBoolean(1)) actions.Add("update");
                if (reader.GetBoolean(2)) actions.Add("delete");
            }
        }

        if (!exists)
        {
            try
            {
                await using var create = new NpgsqlCommand(
                    $"CREATE PUBLICATION \"{Publication}\" FOR TABLE public.\"{Table}\" WITH (publish = 'insert, update, delete')",
                    connection);
                await create.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                logger.LogInformation("Created publication {Publication} for table {Table}", Publication, Table);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DuplicateObject)
            {
                // Another replica created it a moment ago; validate theirs below on the next start.
            }
            return;
        }

        var tables = new List<string>();
        await using (var command = new NpgsqlCommand(
            "SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1", connection))
        {
            command.Parameters.Add(new NpgsqlParameter { Value = Publication });
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                tables.Add(reader.GetString(0));
        }
        if (!tables.Contains($"public.{Table}"))
        {
            var current = tables.Count == 0 ? "it has NO TABLES" : $"its tables are {string.Join(", ", tables)}";
            throw new ReplicationSetupException(
                $"Publication \"{Publication}\" exists but does not include public.\"{Table}\" ({current}).",
                $"ALTER PUBLICATION \"{Publication}\" ADD TABLE public.\"{Table}\";");
        }
        var missing = RequiredActions.Except(actions).ToArray();
        if (missing.Length > 0)
            throw new ReplicationSetupException(
                $"Publication \"{Publication}\" does not publish {string.Join(", ", missing)} (it publishes {(actions.Count == 0 ? "nothing" : string.Join(", ", actions))}).",
                $"ALTER PUBLICATION \"{Publication}\" SET (publish = 'insert, update, delete');");
    }

    private async Task EnsureSlotAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using (var command = new NpgsqlCommand(
            "SELECT plugin, database FROM pg_replication_slots WHERE slot_name = $1", connection))
        {
            command.Parameters.Add(new NpgsqlParameter { Value = Slot });
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var plugin = reader.IsDBNull(0) ? null : reader.GetString(0);
                var database = reader.IsDBNull(1) ? null : reader.GetString(1);
                if (plugin != "pgoutput")
                    throw new ReplicationSetupException(
                        $"Replication slot \"{Slot}\" exists with plugin '{plugin ?? "(physical)"}', not pgoutput.",
                        $"SELECT pg_drop_replication_slot('{Slot}');");
                if (database != connection.Database)
                    throw new ReplicationSetupException(
                        $"Replication slot \"{Slot}\" belongs to database '{database}', not '{connection.Database}'. Use another RUN_REPLICATION_SLOT_NAME or drop it.");
                return;
            }
        }
        try
        {
            await using var create = new NpgsqlCommand(
                "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", connection);
            create.Parameters.Add(new NpgsqlParameter { Value = Slot });
            await create.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            logger.LogInformation("Created replication slot {Slot}", Slot);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DuplicateObject)
        {
        }
    }

    /// <summary>The slot's confirmed position, or null if the slot does not exist.</summary>
    public async Task<SlotState?> ReadSlotAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand(
            """
            SELECT s.confirmed_flush_lsn, s.active, s.active_pid, a.application_name
            FROM pg_replication_slots s LEFT JOIN pg_stat_activity a ON a.pid = s.active_pid
            WHERE s.slot_name = $1
            """, connection);
        command.Parameters.Add(new NpgsqlParameter { Value = Slot });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            return null;
        return new SlotState(
            reader.IsDBNull(0) ? null : (ulong)reader.GetFieldValue<NpgsqlLogSequenceNumber>(0),
            reader.GetBoolean(1),
            reader.IsDBNull(2) ? null : reader.GetInt32(2),
            reader.IsDBNull(3) ? null : reader.GetString(3));
    }

    /// <summary>
    /// Moves the slot's confirmed position to <paramref name="lsn"/> once our stream is closed. Used on graceful
    /// shutdown, when the final acknowledgement can no longer travel on the stream.
    /// </summary>
    public async Task AdvanceSlotAsync(ulong lsn, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand(
            """
            SELECT pg_replication_slot_advance(slot_name, $2) FROM pg_replication_slots
            WHERE slot_name = $1 AND NOT active AND confirmed_flush_lsn < $2
            """, connection);
        command.Parameters.Add(new NpgsqlParameter { Value = Slot });
        command.Parameters.Add(new NpgsqlParameter { Value = new NpgsqlLogSequenceNumber(lsn), NpgsqlDbType = NpgsqlDbType.PgLsn });
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Ends the walsender that holds our slot. Only called by a leader whose lease proves the previous holder's
    /// lease has ended, so the holder is a stale process (paused, partitioned) that PostgreSQL has not noticed.
    /// Returns the terminated process id, or null if the slot was free or the role lacks the right.
    /// </summary>
    public async Task<int?> TerminateSlotHolderAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand(
            "SELECT active_pid, pg_terminate_backend(active_pid, 5000) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL",
            connection);
        command.Parameters.Add(new NpgsqlParameter { Value = Slot });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            return null;
        return reader.GetBoolean(1) ? reader.GetInt32(0) : null;
    }

    /// <summary>Drops the slot and the publication (the <c>teardown</c> command).</summary>
    public async Task TeardownAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (var drop = new NpgsqlCommand(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", connection))
        {
            drop.Parameters.Add(new NpgsqlParameter { Value = Slot });
            await drop.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        await using (var drop = new NpgsqlCommand($"DROP PUBLICATION IF EXISTS \"{Publication}\"", connection))
            await drop.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}

public sealed record SlotState(ulong? ConfirmedFlushLsn, bool Active, int? ActivePid, string? ActiveApplicationName);
