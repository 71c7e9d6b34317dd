using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;

namespace ChdbHttpServer;

/// <summary>
/// What one HTTP request asks for besides the statement: ClickHouse treats every URL parameter that is not part of
/// the HTTP protocol itself as a setting for that query only, plus query parameters (param_*) and a database.
/// </summary>
internal sealed partial class QuerySettings
{
    // Parameters the HTTP interface consumes itself; everything else is a setting (as in ClickHouse's HTTPHandler).
    private static readonly HashSet<string> ProtocolParameters = new(StringComparer.Ordinal)
    {
        "query", "database", "default_format", "user", "password", "query_id", "session_id", "session_timeout",
        "session_check", "wait_end_of_query", "compress", "decompress", "enable_http_compression", "buffer_size",
    };

    public static readonly QuerySettings None = new([], [], null, null);

    private QuerySettings(
        IReadOnlyList<KeyValuePair<string, string>> settings,
        IReadOnlyList<KeyValuePair<string, string>> parameters,
        string? database,
        string? defaultFormat)
    {
        Settings = settings;
        Parameters = parameters;
        Database = database;
        DefaultFormat = defaultFormat;
    }

    public IReadOnlyList<KeyValuePair<string, string>> Settings { get; }

    /// <summary>Query parameters for {name:Type} placeholders, without the param_ prefix.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Parameters { get; }

    public string? Database { get; }

    public string? DefaultFormat { get; }

    public bool IsEmpty => Settings.Count == 0 && Parameters.Count == 0 && Database is null;

    public static QuerySettings FromQueryString(IQueryCollection query)
    {
        List<KeyValuePair<string, string>>? settings = null;
        List<KeyValuePair<string, string>>? parameters = null;
        string? database = null;
        string? format = null;
        foreach (var (name, values) in query)
        {
            var value = values.Count > 0 ? values[^1] ?? string.Empty : string.Empty;
            if (name == "database")
            {
                database = value.Length > 0 ? value : null;
            }
            else if (name == "default_format")
            {
                format = value.Length > 0 ? value : null;
            }
            else if (name.StartsWith("param_", StringComparison.Ordinal))
            {
                (parameters ??= []).Add(new(name["param_".Length..], value));
            }
            else if (!ProtocolParameters.Contains(name))
            {
                (settings ??= []).Add(new(name, value));
            }
        }

        return settings is null && parameters is null && database is null && format is null
            ? None
            : new QuerySettings(settings ?? [], parameters ?? [], database, format);
    }

    /// <summary>Setting names go into SQL unquoted, so only plain identifiers are accepted.</summary>
    public static bool IsValidName(string name) => IdentifierPattern().IsMatch(name);

    /// <summary>A ClickHouse string literal; the engine converts it to the setting's own type.</summary>
    public static string Quote(string value) => "'" + value.Replace("\\", "\\\\").Replace("'", "\\'") + "'";

    public static string QuoteIdentifier(string name) => "`" + name.Replace("\\", "\\\\").Replace("`", "\\`") + "`";

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex IdentifierPattern();
}
