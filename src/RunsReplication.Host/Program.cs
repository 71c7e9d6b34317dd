using System.CommandLine;
using Microsoft.Extensions.Logging.Console;
using OpenTelemetry.Metrics;
using RunsReplication.ClickHouse;
using RunsReplication.Configuration;
using RunsReplication.Hosting;
using RunsReplication.Host;
using RunsReplication.Observability;
using RunsReplication.Postgres;
using RunsReplication.Tools;
using RunsReplication.Verification;

var root = new RootCommand("RunsReplication: streams Trigger.dev's TaskRun table from PostgreSQL to ClickHouse. Configured by environment variables (see README).");

var run = new Command("run", "Run the replicator: contend for the leader lease and, while leading, stream TaskRun changes to ClickHouse.");
run.SetAction((_, cancellationToken) => Guarded(async settings =>
{
    var builder = WebApplication.CreateSlimBuilder();
    builder.WebHost.UseUrls($"http://0.0.0.0:{settings.HttpPort}");
    ConfigureLogging(builder.Logging);
    builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
    builder.Services.AddReplicator(settings);
    builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
        .AddMeter(ReplicationMetrics.MeterName)
        // .NET's own runtime meter: GC heap sizes, collections, working set, thread pool; what an operator checks
        // first when memory or CPU looks wrong.
        .AddMeter("System.Runtime")
        .AddPrometheusExporter());
    var app = builder.Build();
    StatusEndpoints.Map(app);
    app.MapPrometheusScrapingEndpoint("/metrics");
    app.Logger.LogInformation("Starting instance {InstanceId}: slot {Slot}, publication {Publication}, ClickHouse {ClickHouse} database {Database}, Redis {Redis}, HTTP port {HttpPort}",
        settings.InstanceId, settings.SlotName, settings.PublicationName, settings.ClickHouse.ToString(), settings.ClickHouseDatabase, settings.Redis.ToString(), settings.HttpPort);
    await app.RunAsync(cancellationToken);
    return Environment.ExitCode;
}));

var migrate = new Command("migrate", "Create Trigger.dev's ClickHouse tables (task_runs_v2, raw_task_runs_payload_v1) if missing.");
migrate.SetAction((_, cancellationToken) => Guarded(async settings =>
{
    await using var services = BuildTool(settings);
    await services.GetRequiredService<ClickHouseMigrator>().MigrateAsync(settings.ClickHouseDatabase, cancellationToken);
    return 0;
}));

var teardown = new Command("teardown", "Drop the replication slot and the publication (stop every replicator first).");
teardown.SetAction((_, cancellationToken) => Guarded(async settings =>
{
    await using var services = BuildTool(settings);
    await services.GetRequiredService<ReplicationSetup>().TeardownAsync(cancellationToken);
    Console.WriteLine($"Dropped slot {settings.SlotName} and publication {settings.PublicationName}");
    return 0;
}));

var verify = new Command("verify", "Compare PostgreSQL's TaskRun rows with ClickHouse (FINAL, not deleted); exit 1 if they differ.");
verify.SetAction((_, cancellationToken) => Guarded(async settings =>
{
    await using var services = BuildTool(settings);
    var report = await new ReplicationVerifier(settings, services.GetRequiredService<ClickHouseClient>()).VerifyAsync(cancellationToken);
    Console.WriteLine(report.ToString());
    return report.Equal ? 0 : 1;
}));

var status = new Command("status", "Show the slot (PostgreSQL), the leader lease (Redis) and the row count (ClickHouse) as JSON.");
status.SetAction((_, cancellationToken) => Guarded(async settings =>
{
    await using var services = BuildTool(settings);
    var report = await services.GetRequiredService<ClusterStatusReader>().ReadAsync(cancellationToken);
    Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(report, new System.Text.Json.JsonSerializerOptions
    {
        WriteIndented = true,
        PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.CamelCase,
    }));
    return report.Problems.Count == 0 ? 0 : 1;
}));

var fromOption = new Option<DateTime?>("--from") { Description = "Only runs created at or after this UTC time (e.g. 2026-01-01T00:00:00)" };
var toOption = new Option<DateTime?>("--to") { Description = "Only runs created before this UTC time" };
var idsOption = new Option<string[]>("--id") { Description = "Only these run ids (repeatable)", AllowMultipleArgumentsPerToken = true };
var pageOption = new Option<int>("--page-size") { Description = "Rows read and written per step", DefaultValueFactory = _ => 5000 };
var payloadsOption = new Option<bool>("--payloads") { Description = "Also write payload rows (raw_task_runs_payload_v1 never deduplicates: use once per run)" };
var backfill = new Command("backfill", "Copy TaskRun rows from a PostgreSQL snapshot into ClickHouse (safe while replicating: streamed changes win).")
{
    fromOption, toOption, idsOption, pageOption, payloadsOption,
};
backfill.SetAction((parse, cancellationToken) => Guarded(async settings =>
{
    var pageSize = parse.GetValue(pageOption);
    if (pageSize is < 1 or > 1_000_000)
    {
        Console.Error.WriteLine("configuration error: --page-size must be from 1 to 1000000");
        return 2;
    }
    await using var services = BuildTool(settings);
    var ids = parse.GetValue(idsOption);
    var result = await services.GetRequiredService<Backfiller>().RunAsync(
        Utc(parse.GetValue(fromOption)), Utc(parse.GetValue(toOption)), ids is { Length: > 0 } ? ids : null,
        pageSize, parse.GetValue(payloadsOption), cancellationToken);
    Console.WriteLine($"backfilled {result.Runs} runs");
    return 0;
}));

root.Subcommands.Add(run);
root.Subcommands.Add(status);
root.Subcommands.Add(backfill);
root.Subcommands.Add(migrate);
root.Subcommands.Add(teardown);
root.Subcommands.Add(verify);
return await root.Parse(args).InvokeAsync();

static DateTime? Utc(DateTime? value) => value is { } v ? DateTime.SpecifyKind(v, DateTimeKind.Utc) : null;

// Reads the settings; a bad one stops the process with one line per problem, naming the variable.
static async Task<int> Guarded(Func<ReplicationSettings, Task<int>> action)
{
    ReplicationSettings settings;
    try
    {
        settings = EnvironmentSettingsReader.ReadFromProcess();
    }
    catch (SettingsException e)
    {
        foreach (var problem in e.Problems)
            Console.Error.WriteLine($"configuration error: {problem}");
        return 2;
    }
    try
    {
        return await action(settings);
    }
    catch (ReplicationSetupException e)
    {
        Console.Error.WriteLine($"error: {e.Message}");
        return 1;
    }
    catch (ClickHouseException e)
    {
        Console.Error.WriteLine($"error: {e.Message}");
        return 1;
    }
}

// The one-shot commands share the replicator's composition, without the leader loop or HTTP.
static ServiceProvider BuildTool(ReplicationSettings settings)
{
    var services = new ServiceCollection();
    services.AddLogging(logging => ConfigureLogging(logging));
    services.AddReplicationCore(settings);
#pragma warning disable ASP0000 // a console tool's own container, not a second copy of a web app's
    return services.BuildServiceProvider();
#pragma warning restore ASP0000
}

static void ConfigureLogging(ILoggingBuilder logging)
{
    logging.ClearProviders();
    logging.AddConsole(o => o.FormatterName = JsonLineFormatter.FormatterName);
    logging.AddConsoleFormatter<JsonLineFormatter, ConsoleFormatterOptions>();
    logging.SetMinimumLevel(Enum.TryParse<LogLevel>(Environment.GetEnvironmentVariable("RUN_REPLICATION_LOG_LEVEL"), true, out var level) ? level : LogLevel.Information);
    logging.AddFilter("Microsoft", LogLevel.Warning);
    logging.AddFilter("System.Net.Http", LogLevel.Warning);
}
