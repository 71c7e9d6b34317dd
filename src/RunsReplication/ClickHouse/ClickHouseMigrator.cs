using Microsoft.Extensions.Logging;

namespace RunsReplication.ClickHouse;

/// <summary>
/// Creates Trigger.dev's ClickHouse tables if they are missing. Every statement is idempotent
/// (<c>IF NOT EXISTS</c>), so any replica may run it at start-up and the <c>migrate</c> command may run it again.
/// </summary>
public sealed class ClickHouseMigrator(ClickHouseClient client, ILogger<ClickHouseMigrator> logger)
{
    public async Task MigrateAsync(string database, CancellationToken cancellationToken)
    {
        var statements = ClickHouseSchema.GetMigrationStatements(database);
        foreach (var statement in statements)
            await client.QueryAsync(statement, cancellationToken).ConfigureAwait(false);
        logger.LogInformation("ClickHouse schema is up to date in {Database} ({Statements} statements)", database, statements.Count);
    }
}
