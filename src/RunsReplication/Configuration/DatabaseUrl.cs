using System.Text.RegularExpressions;
using Npgsql;

namespace RunsReplication.Configuration;

/// <summary>
/// Turns the <c>postgresql://user:password@host:port/db?schema=public</c> URI that Trigger.dev uses into an
/// Npgsql connection string. Prisma-only query parameters (<c>schema</c>, <c>connection_limit</c>, ...) are
/// accepted and ignored; <c>sslmode</c> is honoured.
/// </summary>
public static partial class DatabaseUrl
{
    private static readonly HashSet<string> IgnoredParameters = new(StringComparer.OrdinalIgnoreCase)
    {
        "schema", "connection_limit", "pool_timeout", "pgbouncer", "statement_cache_size", "socket_timeout",
        "connect_timeout", "application_name",
    };

    public static NpgsqlConnectionStringBuilder Parse(string url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != "postgresql" && uri.Scheme != "postgres"))
            throw new FormatException("expected a URI like postgresql://user:password@host:5432/database");
        if (string.IsNullOrEmpty(uri.Host))
            throw new FormatException("the URI has no host");

        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = uri.Host,
            Port = uri.IsDefaultPort || uri.Port <= 0 ? 5432 : uri.Port,
        };
        var userInfo = uri.UserInfo;
        if (userInfo.Length > 0)
        {
            var colon = userInfo.IndexOf(':');
            builder.Username = Uri.UnescapeDataString(colon < 0 ? userInfo : userInfo[..colon]);
            if (colon >= 0)
                builder.Password = Uri.UnescapeDataString(userInfo[(colon + 1)..]);
        }
        var database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        builder.Database = database.Length > 0 ? database : builder.Username;

        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=');
            var key = Uri.UnescapeDataString(eq < 0 ? pair : pair[..eq]);
            var value = eq < 0 ? "" : Uri.UnescapeDataString(pair[(eq + 1)..]);
            if (key.Equals("sslmode", StringComparison.OrdinalIgnoreCase))
            {
                builder.SslMode = value.ToLowerInvariant() switch
                {
                    "disable" => SslMode.Disable,
                    "allow" => SslMode.Allow,
                    "prefer" => SslMode.Prefer,
                    "require" => SslMode.Require,
                    "verify-ca" => SslMode.VerifyCA,
                    "verify-full" => SslMode.VerifyFull,
                    _ => throw new FormatException($"sslmode '{value}' is not one of disable, allow, prefer, require, verify-ca, verify-full"),
                };
            }
            else if (!IgnoredParameters.Contains(key))
            {
                throw new FormatException($"query parameter '{key}' is not supported (supported: sslmode; ignored: schema and other Prisma parameters)");
            }
        }
        return builder;
    }

    /// <summary>The URL with its password replaced, for messages and logs.</summary>
    public static string Redact(string url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri))
            // Unparseable (a bad port, a space in the host...) but it may still carry a password.
            return UnparsedPassword().Replace(url, "${prefix}:***@", 1);
        if (!uri.UserInfo.Contains(':'))
            return url;
        var user = uri.UserInfo[..uri.UserInfo.IndexOf(':')];
        return new UriBuilder(uri) { UserName = user, Password = "***" }.Uri.ToString();
    }

    // scheme://user:password@ — the password runs to the last '@' before the path.
    [GeneratedRegex(@"^(?<prefix>[^:/?#]*://[^:/?#@]*):[^/?#]*@")]
    private static partial Regex UnparsedPassword();
}
