using RunsReplication.ClickHouse;
using RunsReplication.Configuration;
using RunsReplication.Leadership;
using RunsReplication.Pipeline;

namespace RunsReplication.Host;

/// <summary>
/// <c>/status</c> (what this instance is doing), <c>/healthz</c> (is the process able to make progress: fails when
/// the lease loop itself is stuck, not merely because we follow) and <c>/readyz</c> (can it serve its role now).
/// </summary>
public static class StatusEndpoints
{
    public static void Map(WebApplication app)
    {
        app.MapGet("/status", (ReplicationSettings settings, ReplicationLeaderService worker, ILeadership leadership,
            ReplicationStatus status, ClickHouseSink sink) =>
        {
            var lease = leadership.Status;
            return Results.Json(new
            {
                instanceId = settings.InstanceId,
                role = worker.Role.ToString().ToLowerInvariant(),
                slotName = settings.SlotName,
                publicationName = settings.PublicationName,
                confirmedLsn = status.ConfirmedLsn == 0 ? null : ReplicationStatus.FormatLsn(status.ConfirmedLsn),
                receivedLsn = status.ReceivedLsn == 0 ? null : ReplicationStatus.FormatLsn(status.ReceivedLsn),
                streaming = status.Streaming,
                walsenderPid = status.BackendProcessId,
                lastStreamError = status.LastStreamError,
                fencingToken = lease.FencingToken,
                leaseExpiresInMs = lease.LeaseExpiresInMs,
                renewDeadlineInMs = lease.RenewDeadlineInMs,
                lastRenewalAt = lease.LastRenewalAt,
                lastRenewalOutcome = lease.LastRenewalOutcome.ToString(),
                lockHolder = lease.Holder,
                consecutiveRenewalFailures = lease.ConsecutiveRenewalFailures,
                lastLossReason = lease.LastLossReason?.ToString(),
                clickHouse = new { state = sink.Health.State.ToString(), lastError = sink.Health.LastError },
                migrated = worker.Migrated,
            });
        });

        app.MapGet("/healthz", (ILeadership leadership, ReplicationSettings settings) =>
        {
            var lease = leadership.Status;
            // The lease loop beats at least every retry/extend interval plus one Redis call; three missed beats
            // mean it is wedged, and a restart is the cure.
            var limit = 3L * (Math.Max(settings.LeaderLease.ExtendIntervalMs, settings.LeaderLease.RetryIntervalMs) + settings.LeaderLease.CallTimeoutMs);
            var stuck = lease.LoopHeartbeatAgeMs is { } age && age > limit;
            return stuck
                ? Results.Json(new { status = "unhealthy", reason = $"lease loop silent for {lease.LoopHeartbeatAgeMs} ms" }, statusCode: 503)
                : Results.Json(new { status = "ok" });
        });

        app.MapGet("/readyz", (ReplicationLeaderService worker, ReplicationStatus status, ClickHouseSink sink) =>
        {
            string? problem = worker.Role switch
            {
                _ when !worker.Migrated => "ClickHouse migrations have not run yet",
                ReplicationRole.Starting => "starting",
                ReplicationRole.Stopping => "stopping",
                ReplicationRole.Leader when !status.Streaming => "leading but not streaming",
                ReplicationRole.Leader when sink.Health.State is SinkState.Unavailable or SinkState.Blocked => $"ClickHouse inserts {sink.Health.State}",
                _ => null,
            };
            return problem is null
                ? Results.Json(new { status = "ready", role = worker.Role.ToString().ToLowerInvariant() })
                : Results.Json(new { status = "not ready", reason = problem }, statusCode: 503);
        });
    }
}
