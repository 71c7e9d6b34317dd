using System.Net;
using ChdbHttpServer;

ServerOptions options;
try
{
    options = ServerOptions.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"chdb-http-server: {e.Message}\n{ServerOptions.Usage}");
    return 2;
}

Directory.CreateDirectory(options.DataPath);
var connection = ChdbConnection.Open(options.LibraryPath, options.DataPath);
await using var executor = new QueryExecutor(connection);

var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
// Per-request logging would cost more than the inserts it describes; warnings and errors only.
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.AddServerHeader = false;
    kestrel.Limits.MaxRequestBodySize = null; // inserts of any size, as ClickHouse accepts
    if (options.Host == "localhost")
    {
        kestrel.ListenLocalhost(options.Port);
    }
    else
    {
        kestrel.Listen(IPAddress.Parse(options.Host), options.Port);
    }
});

var app = builder.Build();
var endpoint = new ClickHouseHttpEndpoint(executor, options);
app.Run(endpoint.HandleAsync);

// chDB ships embedded-friendly defaults that a ClickHouse server does not have (lenient best_effort date parsing,
// async inserts, SELECT-less queries). Tests must fail where production would, so the session starts with the
// server defaults; per-request settings are restored to these values afterwards.
using (var serverDefaults = await executor.ExecuteAsync(
           "SET date_time_input_format = 'basic', async_insert = 0, implicit_select = 0", CancellationToken.None))
{
    if (serverDefaults.Error is { } error)
    {
        Console.Error.WriteLine($"chdb-http-server: cannot apply server defaults: {error}");
        return 1;
    }
}

using (var version = await executor.ExecuteAsync("SELECT version()", CancellationToken.None))
{
    Console.WriteLine($"chdb-http-server: ClickHouse {version.ReadAllText().Trim()} (chDB) on http://{options.Host}:{options.Port}, data {options.DataPath}, pid {Environment.ProcessId}");
}

// SIGTERM/SIGINT stop Kestrel (ConsoleLifetime); the executor then closes the engine after the statement in flight.
await app.RunAsync();
Console.WriteLine("chdb-http-server: stopped");
return 0;
