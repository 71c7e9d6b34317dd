using System.Diagnostics;
using StackExchange.Redis;

namespace RunsReplication.Host.Tests.Harness;

/// <summary>
/// An extra redis-server process (the binary scripts/services installed) on a free loopback port, for the quorum
/// lease: tests pause it, kill it and start it again empty, as production loses a node. No persistence, so a restart
/// is always empty.
/// </summary>
public sealed class RedisNode : IAsyncDisposable
{
    private Process _process;

    public int Port { get; }
    public int Pid => _process.Id;
    public string Endpoint => $"127.0.0.1:{Port}";

    private RedisNode(int port, Process process)
    {
        Port = port;
        _process = process;
    }

    public static async Task<RedisNode> StartAsync()
    {
        var port = ReplicatorProcess.FreePort();
        return new RedisNode(port, await LaunchAsync(port));
    }

    /// <summary>Starts <paramref name="count"/> nodes and the comma-separated list the replicator takes.</summary>
    public static async Task<(IReadOnlyList<RedisNode> Nodes, string List)> StartManyAsync(int count)
    {
        var nodes = await Task.WhenAll(Enumerable.Range(0, count).Select(_ => StartAsync()));
        return (nodes, string.Join(",", nodes.Select(n => n.Endpoint)));
    }

    private static async Task<Process> LaunchAsync(int port)
    {
        var start = new ProcessStartInfo("redis-server") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "--bind", "127.0.0.1", "--port", port.ToString(), "--save", "", "--appendonly", "no", "--protected-mode", "yes", "--dir", Path.GetTempPath() })
            start.ArgumentList.Add(arg);
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await using var probe = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{port},connectTimeout=500,abortConnect=true");
                await probe.GetDatabase().PingAsync();
                return process;
            }
            catch (RedisConnectionException) when (deadline.Elapsed < TimeSpan.FromSeconds(15) && !process.HasExited)
            {
                await Task.Delay(100);
            }
        }
    }

    public void Pause() => Signal(ReplicatorProcess.SIGSTOP);
    public void Resume() => Signal(ReplicatorProcess.SIGCONT);

    /// <summary>SIGKILL, then a new process on the same port: every key, the fencing counter included, is gone.</summary>
    public async Task RestartEmptyAsync()
    {
        Signal(ReplicatorProcess.SIGKILL);
        await _process.WaitForExitAsync();
        _process.Dispose();
        _process = await LaunchAsync(Port);
    }

    private void Signal(int signal)
    {
        if (ReplicatorProcess.SendSignal(_process.Id, signal) != 0)
            throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            ReplicatorProcess.SendSignal(_process.Id, ReplicatorProcess.SIGCONT);
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
