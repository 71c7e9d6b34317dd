namespace RunsReplication.Postgres;

/// <summary>
/// PostgreSQL is not set up the way replication needs, and the service will not guess: the message says what is
/// wrong and carries the SQL an operator can run to fix it.
/// </summary>
public sealed class ReplicationSetupException(string message, string? fixSql = null)
    : Exception(fixSql is null ? message : $"{message} Fix: {fixSql}")
{
    public string? FixSql { get; } = fixSql;
}
