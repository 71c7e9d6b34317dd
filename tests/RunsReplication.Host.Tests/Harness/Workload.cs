using Npgsql;

namespace RunsReplication.Host.Tests.Harness;

/// <summary>SQL that creates and changes TaskRun rows the way the engine does.</summary>
public static class Workload
{
    /// <summary>An INSERT of <paramref name="count"/> runs with ids <c>{prefix}_{n}</c> in one statement.</summary>
    public static string InsertRuns(string prefix, int count, int start = 1) => $$"""
        INSERT INTO public."TaskRun" (id, "friendlyId", "taskIdentifier", payload, "traceId", "spanId",
            "runtimeEnvironmentId", "projectId", "organizationId", "environmentType", queue, "updatedAt", status,
            "runTags", output, "outputType", "createdAt", engine)
        SELECT '{{prefix}}_' || g, 'friendly_{{prefix}}_' || g, 'my-task', '{"n":' || g || '}', 'trace' || g, 'span' || g,
            'env_' || (g % 3), 'proj_1', 'org_1', 'PRODUCTION', 'task/my-task', now(), 'PENDING',
            ARRAY['tag_a', 'tag_b'], '{"result":' || g || '}', 'application/json', now() - (g || ' milliseconds')::interval, 'V2'
        FROM generate_series({{start}}, {{start + count - 1}}) g
        """;

    /// <summary>Writes runs continuously (inserts, then updates of earlier runs) until cancelled; survives a PostgreSQL restart.</summary>
    public static async Task<int> RunContinuouslyAsync(ReplicationFixture fixture, string prefix, TimeSpan pause, CancellationToken cancellationToken)
    {
        var next = 1;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await fixture.ExecuteAsync(InsertRuns(prefix, 20, next));
                next += 20;
                await fixture.ExecuteAsync(
                    $"""UPDATE public."TaskRun" SET status = 'EXECUTING', "updatedAt" = now(), "attemptNumber" = coalesce("attemptNumber", 1) + 1 WHERE id IN (SELECT id FROM public."TaskRun" WHERE id LIKE '{prefix}_%' ORDER BY random() LIMIT 10)""");
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
            {
                // PostgreSQL restarting under the workload: keep going once it is back.
            }
            try
            {
                await Task.Delay(pause, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        return next - 1;
    }
}
