namespace ChdbHttpServer;

/// <summary>Command line: --port N [--host 127.0.0.1] --data DIR --lib PATH [--user U [--password P]].</summary>
internal sealed record ServerOptions(int Port, string Host, string DataPath, string LibraryPath, string? User, string Password)
{
    public const string Usage =
        "usage: chdb-http-server --port N --data <folder> --lib <libchdb.so> [--host 127.0.0.1] [--user U] [--password P]";

    public bool RequiresAuthentication => User is not null;

    public static ServerOptions Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                throw new ArgumentException($"unexpected argument '{arg}'");
            }

            var eq = arg.IndexOf('=');
            if (eq > 0)
            {
                values[arg[2..eq]] = arg[(eq + 1)..];
            }
            else if (i + 1 < args.Length)
            {
                values[arg[2..]] = args[++i];
            }
            else
            {
                throw new ArgumentException($"missing value for '{arg}'");
            }
        }

        foreach (var key in values.Keys)
        {
            if (key is not ("port" or "host" or "data" or "lib" or "user" or "password"))
            {
                throw new ArgumentException($"unknown option '--{key}'");
            }
        }

        if (!values.TryGetValue("port", out var portText) || !int.TryParse(portText, out var port) || port is <= 0 or > 65535)
        {
            throw new ArgumentException("--port must be a TCP port number");
        }

        var data = values.GetValueOrDefault("data") ?? throw new ArgumentException("--data is required");
        var lib = values.GetValueOrDefault("lib") ?? throw new ArgumentException("--lib is required");
        if (!File.Exists(lib))
        {
            throw new ArgumentException($"--lib '{lib}' does not exist");
        }

        return new ServerOptions(
            port,
            values.GetValueOrDefault("host") ?? "127.0.0.1",
            Path.GetFullPath(data),
            Path.GetFullPath(lib),
            values.GetValueOrDefault("user"),
            values.GetValueOrDefault("password") ?? string.Empty);
    }
}
