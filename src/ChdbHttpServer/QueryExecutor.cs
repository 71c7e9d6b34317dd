using System.Text;

namespace ChdbHttpServer;

/// <summary>
/// Runs statements on the single chDB session one at a time and scopes per-request settings and database to one
/// statement: the session is shared by every request, so whatever a request changes is put back before the next.
/// </summary>
internal sealed class QueryExecutor : IAsyncDisposable
{
    private const string DefaultDatabase = "default";

    private readonly ChdbConnection _connection;
    private readonly SemaphoreSlim _gate = new(1, 1);

    // How to restore each setting a request has touched: "DEFAULT" when the session never changed it, otherwise the
    // session's own value as a literal. Only read or written while holding _gate.
    private readonly Dictionary<string, string> _restoreValues = new(StringComparer.Ordinal);

    public QueryExecutor(ChdbConnection connection) => _connection = connection;

    /// <summary>
    /// Executes <paramref name="statement"/> with <paramref name="settings"/> applied to it alone. The returned
    /// result (data or the engine's error) belongs to the caller; it stays valid after the gate is released.
    /// </summary>
    public async Task<ChdbResult> ExecuteAsync(QueryBuffer statement, QuerySettings settings, string format, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (settings.IsEmpty)
            {
                return _connection.Execute(statement.TerminatedStatement(), format);
            }

            var setup = Apply(settings);
            if (setup is not null)
            {
                Restore(settings);
                return setup;
            }

            try
            {
                return _connection.Execute(statement.TerminatedStatement(), format);
            }
            finally
            {
                Restore(settings);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>A statement with no caller-supplied data, e.g. for health checks.</summary>
    public async Task<ChdbResult> ExecuteAsync(string statement, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            return _connection.Execute(statement);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Returns the failing result if a setting, parameter or database cannot be applied, else null.</summary>
    private ChdbResult? Apply(QuerySettings settings)
    {
        if (settings.Settings.Count > 0 || settings.Parameters.Count > 0)
        {
            foreach (var (name, _) in settings.Settings)
            {
                if (!QuerySettings.IsValidName(name))
                {
                    // Let the engine produce its own "Unknown setting" error text.
                    return _connection.Execute($"SET {QuerySettings.QuoteIdentifier(name)} = 1");
                }
            }

            var lookup = LoadRestoreValues(settings.Settings);
            if (lookup is not null)
            {
                return lookup;
            }

            var set = new StringBuilder("SET ");
            foreach (var (name, value) in settings.Settings)
            {
                set.Append(name).Append(" = ").Append(QuerySettings.Quote(value)).Append(", ");
            }

            foreach (var (name, value) in settings.Parameters)
            {
                // Query parameters are session state in ClickHouse too; their values are always given as strings.
                set.Append(QuerySettings.QuoteIdentifier("param_" + name)).Append(" = ").Append(QuerySettings.Quote(value)).Append(", ");
            }

            set.Length -= 2;
            var result = _connection.Execute(set.ToString());
            if (result.Error is not null)
            {
                return result;
            }

            result.Dispose();
        }

        if (settings.Database is not null)
        {
            var use = _connection.Execute("USE " + QuerySettings.QuoteIdentifier(settings.Database));
            if (use.Error is not null)
            {
                return use;
            }

            use.Dispose();
        }

        return null;
    }

    private ChdbResult? LoadRestoreValues(IReadOnlyList<KeyValuePair<string, string>> settings)
    {
        var missing = settings.Select(s => s.Key).Where(n => !_restoreValues.ContainsKey(n)).Distinct().ToList();
        if (missing.Count == 0)
        {
            return null;
        }

        var names = string.Join(", ", missing.Select(QuerySettings.Quote));
        using var result = _connection.Execute($"SELECT name, changed, value FROM system.settings WHERE name IN ({names})", "TSVRaw");
        if (result.Error is not null)
        {
            return null;
        }

        foreach (var line in result.ReadAllText().Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = line.Split('\t', 3);
            if (fields.Length == 3)
            {
                _restoreValues[fields[0]] = fields[1] == "0" ? "DEFAULT" : QuerySettings.Quote(fields[2]);
            }
        }

        // Names system.settings does not list (aliases, or unknown ones the SET will reject) fall back to DEFAULT.
        foreach (var name in missing)
        {
            _restoreValues.TryAdd(name, "DEFAULT");
        }

        return null;
    }

    private void Restore(QuerySettings settings)
    {
        if (settings.Settings.Count > 0)
        {
            var set = new StringBuilder("SET ");
            foreach (var (name, _) in settings.Settings)
            {
                if (_restoreValues.TryGetValue(name, out var value))
                {
                    set.Append(name).Append(" = ").Append(value).Append(", ");
                }
            }

            if (set.Length > 4)
            {
                set.Length -= 2;
                using var result = _connection.Execute(set.ToString());
                if (result.Error is not null)
                {
                    // Restoring one by one keeps a single bad name (rejected by the SET that failed) from blocking the rest.
                    foreach (var (name, _) in settings.Settings)
                    {
                        if (_restoreValues.TryGetValue(name, out var value))
                        {
                            using var single = _connection.Execute($"SET {name} = {value}");
                        }
                    }
                }
            }
        }

        if (settings.Database is not null)
        {
            using var use = _connection.Execute("USE " + DefaultDatabase);
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Wait for the statement in flight, then close the engine so its data folder is left consistent.
        await _gate.WaitAsync();
        _connection.Dispose();
    }
}
