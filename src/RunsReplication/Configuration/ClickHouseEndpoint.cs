namespace RunsReplication.Configuration;

/// <summary>
/// Where ClickHouse's HTTP interface is, parsed from <c>RUN_REPLICATION_CLICKHOUSE_URL</c>
/// (<c>http://user:password@host:8123</c>). Credentials are kept apart from the address so the address can be
/// logged and the password never is.
/// </summary>
public sealed record ClickHouseEndpoint(Uri BaseAddress, string User, string Password)
{
    public static ClickHouseEndpoint Parse(string url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
            throw new FormatException("expected a URL like http://user:password@host:8123");
        var user = "default";
        var password = "";
        if (uri.UserInfo.Length > 0)
        {
            var colon = uri.UserInfo.IndexOf(':');
            user = Uri.UnescapeDataString(colon < 0 ? uri.UserInfo : uri.UserInfo[..colon]);
            if (colon >= 0)
                password = Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]);
            if (user.Length == 0)
                user = "default";
        }
        // The reference strips a `secure` query parameter; we drop the whole query: settings are ours to send.
        var address = new UriBuilder(uri.Scheme, uri.Host, uri.Port, "/").Uri;
        return new ClickHouseEndpoint(address, user, password);
    }

    public override string ToString() => $"{BaseAddress} (user {User})";
}
