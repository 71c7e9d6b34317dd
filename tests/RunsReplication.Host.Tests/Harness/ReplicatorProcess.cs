using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace RunsReplication.Host.Tests.Harness;

/// <summary>
/// A real <c>runs-replication run</c> process, as production runs it. Tests stop, pause and kill it with real
/// signals and read its JSON log lines, <c>/status</c> and <c>/metrics</c>.
/// </summary>
public sealed partial class ReplicatorProcess : IAsyncDisposable
{
    public const int SIGKILL = 9, SIGTERM = 15, SIGCONT = 18, SIGSTOP = 19;

    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(5) };
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();

    public string InstanceId { get; }
    public int HttpPort { get; }
    public int Pid => _process.Id;
    public IReadOnlyCollection<string> Lines => _lines;

    private ReplicatorProcess(Process process, string instanceId, int httpPort)
    {
        _process = process;
        InstanceId = instanceId;
        HttpPort = httpPort;
    }

    public static ReplicatorProcess Start(ReplicationFixture fixture, string instanceId, IDictionary<string, string>? overrides = null)
    {
        var port = FreePort();
        var start = new ProcessStartInfo(Services.ReplicatorBinary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("run");
        foreach (var (key, value) in fixture.ReplicatorEnvironment(instanceId))
            start.Environment[key] = value;
        start.Environment["RUN_REPLICATION_HTTP_PORT"] = port.ToString();
        if (overrides is not null)
            foreach (var (key, value) in overrides)
                start.Environment[key] = value;

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var replicator = new ReplicatorProcess(process, instanceId, port);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) replicator._lines.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) replicator._lines.Enqueue("stderr: " + e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return replicator;
    }

    /// <summary>Runs a one-shot command (<c>verify</c>, <c>backfill</c>, <c>status</c>, ...) on the fixture and returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> RunCommandAsync(ReplicationFixture fixture, params string[] args)
    {
        var start = new ProcessStartInfo(Services.ReplicatorBinary) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
            start.ArgumentList.Add(a);
        foreach (var (key, value) in fixture.ReplicatorEnvironment("tool"))
            start.Environment[key] = value;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }

    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    public void Signal(int signal)
    {
        if (Kill(_process.Id, signal) != 0)
            throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    /// <summary>kill(2) on any process; 0 on success.</summary>
    public static int SendSignal(int pid, int signal) => Kill(pid, signal);

    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Log lines (parsed JSON) whose message contains <paramref name="text"/>.</summary>
    public IReadOnlyList<JsonElement> LogsContaining(string text) =>
        _lines.Where(l => l.Contains(text, StringComparison.Ordinal))
            .Select(l => { try { return JsonDocument.Parse(l).RootElement.Clone(); } catch (JsonException) { return default; } })
            .Where(e => e.ValueKind == JsonValueKind.Object)
            .ToList();

    public async Task WaitForLogAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_lines.Any(l => l.Contains(text, StringComparison.Ordinal)))
                return;
            if (_process.HasExited)
                break;
            await Task.Delay(100);
        }
        Assert.Fail($"{InstanceId} did not log '{text}' within {timeout}. Last lines:\n{Tail()}");
    }

    public string Tail(int count = 30) => string.Join('\n', _lines.TakeLast(count));

    public async Task<JsonElement?> StatusAsync()
    {
        try
        {
            var text = await Http.GetStringAsync($"http://127.0.0.1:{HttpPort}/status");
            return JsonDocument.Parse(text).RootElement.Clone();
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }

    public async Task<string?> RoleAsync() =>
        await StatusAsync() is { } status ? status.GetProperty("role").GetString() : null;

    public async Task WaitForRoleAsync(string role, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (await RoleAsync() == role)
                return;
            await Task.Delay(100);
        }
        Assert.Fail($"{InstanceId} did not become {role} within {timeout}. Last lines:\n{Tail()}");
    }

    /// <summary>Sum of a Prometheus counter's series, e.g. <c>runs_replication_task_runs_inserted</c>.</summary>
    public async Task<double> MetricAsync(string prefix)
    {
        var text = await Http.GetStringAsync($"http://127.0.0.1:{HttpPort}/metrics");
        return text.Split('\n')
            .Where(l => l.StartsWith(prefix, StringComparison.Ordinal))
            .Select(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture))
            .Sum();
    }

    /// <summary>Peak resident memory of the process so far (VmHWM), in bytes.</summary>
    public long PeakResidentBytes()
    {
        foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        return 0;
    }

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            try
            {
                Kill(_process.Id, SIGCONT);
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
            catch (InvalidOperationException)
            {
            }
        }
        _process.Dispose();
    }
}
