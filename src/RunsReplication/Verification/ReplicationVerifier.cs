using System.Globalization;
using Npgsql;
using RunsReplication.ClickHouse;
using RunsReplication.Configuration;

namespace RunsReplication.Verification;

/// <summary>What <see cref="ReplicationVerifier"/> found.</summary>
public sealed record VerificationReport(
    int PostgresRuns,
    int ClickHouseRuns,
    IReadOnlyList<string> MissingInClickHouse,
    IReadOnlyList<string> ExtraInClickHouse,
    IReadOnlyList<string> Different)
{
    public bool Equal => MissingInClickHouse.Count == 0 && ExtraInClickHouse.Count == 0 && Different.Count == 0;

    public override string ToString() =>
        $"postgres={PostgresRuns} clickhouse={ClickHouseRuns} missing={MissingInClickHouse.Count} extra={ExtraInClickHouse.Count} different={Different.Count}" +
        (MissingInClickHouse.Count > 0 ? $" firstMissing={string.Join(",", MissingInClickHouse.Take(5))}" : "") +
        (ExtraInClickHouse.Count > 0 ? $" firstExtra={string.Join(",", ExtraInClickHouse.Take(5))}" : "") +
        (Different.Count > 0 ? $" firstDifferent={string.Join("; ", Different.Take(5))}" : "");
}

/// <summary>
/// Compares PostgreSQL's TaskRun table with ClickHouse's current state (<c>FINAL</c>, not deleted): every run
/// that should be replicated is there with the same status, update time and attempt, and nothing else is.
/// Used by the <c>verify</c> command and at the end of every integration test.
/// </summary>
public sealed class ReplicationVerifier(ReplicationSettings settings, ClickHouseClient clickHouse)
{
    private readonly record struct RunState(string Status, long UpdatedAtMs, int Attempt);

    public async Task<VerificationReport> VerifyAsync(CancellationToken cancellationToken)
    {
        var table = Identifiers.Require(settings.TableName, "table name");
        var database = Identifiers.Require(settings.ClickHouseDatabase, "ClickHouse database");

        var postgres = new Dictionary<string, RunState>(StringComparer.Ordinal);
        await using (var connection = new NpgsqlConnection(settings.PostgresConnectionString))
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using var command = new NpgsqlCommand(
                $"""
                 SELECT id, status::text, (extract(epoch from "updatedAt") * 1000)::bigint, coalesce("attemptNumber", 1)
                 FROM public."{table}" WHERE "organizationId" IS NOT NULL AND "environmentType" IS NOT NULL
                 """, connection);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                postgres[reader.GetString(0)] = new RunState(reader.GetString(1), reader.GetInt64(2), reader.GetInt32(3));
        }

        var text = await clickHouse.QueryAsync(
            $"SELECT run_id, status, toUnixTimestamp64Milli(updated_at), attempt FROM {database}.task_runs_v2 FINAL WHERE _is_deleted = 0 FORMAT TabSeparated",
            cancellationToken).ConfigureAwait(false);
        var clickHouseRuns = new Dictionary<string, RunState>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split('\t');
            clickHouseRuns[parts[0]] = new RunState(parts[1], long.Parse(parts[2], CultureInfo.InvariantCulture), int.Parse(parts[3], CultureInfo.InvariantCulture));
        }

        var missing = postgres.Keys.Where(id => !clickHouseRuns.ContainsKey(id)).Order(StringComparer.Ordinal).ToList();
        var extra = clickHouseRuns.Keys.Where(id => !postgres.ContainsKey(id)).Order(StringComparer.Ordinal).ToList();
        var different = postgres
            .Where(p => clickHouseRuns.TryGetValue(p.Key, out var c) && c != p.Value)
            .Select(p => $"{p.Key}: postgres {p.Value} clickhouse {clickHouseRuns[p.Key]}")
            .Order(StringComparer.Ordinal)
            .ToList();
        return new VerificationReport(postgres.Count, clickHouseRuns.Count, missing, extra, different);
    }
}
