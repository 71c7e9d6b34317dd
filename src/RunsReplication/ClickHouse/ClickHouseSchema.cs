using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;

namespace RunsReplication.ClickHouse;

/// <summary>
/// The ClickHouse DDL the service needs (database, <c>task_runs_v2</c>, <c>raw_task_runs_payload_v1</c>), shipped as
/// embedded <c>ClickHouse/Migrations/*.sql</c> resources with a <c>{database}</c> placeholder. Every statement is
/// idempotent (<c>IF NOT EXISTS</c>), so there is no bookkeeping table: run them all, in order, on every start.
/// Run each statement as its own query (ClickHouse HTTP takes one statement per request), ideally with the query
/// setting <c>enable_json_type=1</c> for servers older than 25.3.
/// </summary>
public static partial class ClickHouseSchema
{
    public const string DefaultDatabase = "trigger_dev";
    public const string DatabasePlaceholder = "{database}";
    private const string ResourcePrefix = "RunsReplication.ClickHouse.Migrations.";

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex IdentifierRegex();

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="database"/> is a plain identifier.</summary>
    public static string ValidateIdentifier(string database, string paramName = "database")
    {
        if (database is null || !IdentifierRegex().IsMatch(database))
            throw new ArgumentException($"'{database}' is not a valid ClickHouse identifier (expected ^[A-Za-z_][A-Za-z0-9_]*$).", paramName);
        return database;
    }

    /// <summary>The migration script names, in the order they run.</summary>
    public static IReadOnlyList<string> MigrationNames =>
        typeof(ClickHouseSchema).Assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal) && n.EndsWith(".sql", StringComparison.Ordinal))
            .Select(n => n[ResourcePrefix.Length..])
            .Order(StringComparer.Ordinal)
            .ToArray();

    /// <summary>The ordered, individual DDL statements (without trailing semicolons) for <paramref name="database"/>.</summary>
    public static IReadOnlyList<string> GetMigrationStatements(string database = DefaultDatabase)
    {
        ValidateIdentifier(database);
        var statements = new List<string>();
        var assembly = typeof(ClickHouseSchema).Assembly;
        foreach (var name in MigrationNames)
        {
            using var stream = assembly.GetManifestResourceStream(ResourcePrefix + name)
                ?? throw new InvalidOperationException($"Missing embedded migration {name}.");
            using var reader = new StreamReader(stream, Encoding.UTF8);
            statements.AddRange(SplitStatements(reader.ReadToEnd().Replace(DatabasePlaceholder, database, StringComparison.Ordinal)));
        }
        return statements;
    }

    /// <summary>
    /// Splits a script into statements: drops full-line and trailing <c>--</c> comments, then splits on ';'.
    /// The shipped scripts contain no ';' or "--" inside string literals, which keeps this simple.
    /// </summary>
    internal static IEnumerable<string> SplitStatements(string script)
    {
        var sb = new StringBuilder();
        foreach (var rawLine in script.Split('\n'))
        {
            var line = rawLine.TrimEnd('\r');
            var comment = line.IndexOf("--", StringComparison.Ordinal);
            if (comment >= 0) line = line[..comment];
            if (line.Trim().Length == 0) continue;
            sb.Append(line.TrimEnd()).Append('\n');
        }
        foreach (var part in sb.ToString().Split(';'))
        {
            var statement = part.Trim();
            if (statement.Length > 0) yield return statement;
        }
    }
}
