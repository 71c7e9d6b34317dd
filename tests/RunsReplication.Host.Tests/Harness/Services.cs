using System.Diagnostics;

namespace RunsReplication.Host.Tests.Harness;

/// <summary>
/// The local PostgreSQL, Redis and ClickHouse engine started by <c>scripts/services</c>. Their addresses come from
/// the environment that <c>scripts/test</c> exports, or from <c>scripts/services env</c> when run directly.
/// </summary>
public static class Services
{
    private static readonly Lazy<IReadOnlyDictionary<string, string>> Env = new(Load);

    public static string RepoRoot { get; } = FindRepoRoot();

    public static string AdminDatabaseUrl => Get("DATABASE_URL");
    public static string ClickHouseUrl => Get("RUN_REPLICATION_CLICKHOUSE_URL");
    public static string RedisHost => Get("RUN_REPLICATION_REDIS_HOST");
    public static int RedisPort => int.Parse(Get("RUN_REPLICATION_REDIS_PORT"));
    public static string PgBin => Get("PGBIN");

    public static string ReplicatorBinary =>
        Environment.GetEnvironmentVariable("RUNS_REPLICATION_BIN") is { Length: > 0 } bin
            ? bin
            : Path.Combine(RepoRoot, "src/RunsReplication.Host/bin/Release/net10.0/runs-replication");

    public static string Get(string name) =>
        Env.Value.TryGetValue(name, out var value)
            ? value
            : throw new InvalidOperationException($"{name} is not set: start the services with scripts/services up and run the tests with scripts/test");

    /// <summary>Runs <c>scripts/services ARGS</c> (stop/start/restart a server) and fails the test if it fails.</summary>
    public static async Task RunScriptAsync(params string[] args)
    {
        var result = await Shell.RunAsync(Path.Combine(RepoRoot, "scripts/services"), args);
        if (result.ExitCode != 0)
            throw new InvalidOperationException($"scripts/services {string.Join(' ', args)} failed ({result.ExitCode}): {result.Output}");
    }

    /// <summary>Appends a measured figure to <c>artifacts/NAME</c> (kept by CI runs for the closing notes).</summary>
    public static async Task RecordAsync(string file, string line)
    {
        var folder = Path.Combine(RepoRoot, "artifacts");
        Directory.CreateDirectory(folder);
        await File.AppendAllTextAsync(Path.Combine(folder, file), $"{DateTime.UtcNow:O} {line}\n");
    }

    public static async Task<int> PidAsync(string service)
    {
        var result = await Shell.RunAsync(Path.Combine(RepoRoot, "scripts/services"), "pid", service);
        return int.Parse(result.Output.Trim());
    }

    private static IReadOnlyDictionary<string, string> Load()
    {
        var values = new Dictionary<string, string>();
        var names = new[] { "DATABASE_URL", "RUN_REPLICATION_CLICKHOUSE_URL", "RUN_REPLICATION_REDIS_HOST", "RUN_REPLICATION_REDIS_PORT", "PGBIN" };
        if (names.All(n => !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(n))))
        {
            foreach (var n in names)
                values[n] = Environment.GetEnvironmentVariable(n)!;
            return values;
        }
        var result = Shell.RunAsync(Path.Combine(RepoRoot, "scripts/services"), "env").GetAwaiter().GetResult();
        foreach (var line in result.Output.Split('\n'))
        {
            var text = line.Trim();
            if (!text.StartsWith("export ", StringComparison.Ordinal))
                continue;
            var eq = text.IndexOf('=');
            if (eq < 0)
                continue;
            values[text[7..eq]] = text[(eq + 1)..].Trim('"', '\'');
        }
        return values;
    }

    private static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "RunsReplication.slnx")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root");
    }
}

public static class Shell
{
    public sealed record Result(int ExitCode, string Output);

    public static async Task<Result> RunAsync(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
            start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return new Result(process.ExitCode, await stdout + await stderr);
    }
}
