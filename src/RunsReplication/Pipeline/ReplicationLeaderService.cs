using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using RunsReplication.ClickHouse;
using RunsReplication.Configuration;
using RunsReplication.Leadership;
using RunsReplication.Observability;
using RunsReplication.Postgres;

namespace RunsReplication.Pipeline;

/// <summary>
/// The long-lived loop of an instance: migrate ClickHouse, contend for the lease, and while leading run the
/// replication pipeline, reconnecting with backoff when the stream drops. Everything the leader does is linked to
/// the term's <see cref="LeadershipTerm.Lost"/> token, so losing the lease stops the stream, the flushes and the
/// acknowledgements at once; the lease itself writes the one log line about the loss.
/// </summary>
public sealed class ReplicationLeaderService(
    ReplicationSettings settings,
    ILeadership leadership,
    ReplicationPipeline pipeline,
    ReplicationSetup setup,
    ClickHouseMigrator migrator,
    ReplicationStatus status,
    ReplicationMetrics metrics,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    ILogger<ReplicationLeaderService> logger) : BackgroundService
{
    /// <summary>How long a graceful stop may spend storing what was read before it gives up (and confirms nothing more).</summary>
    public static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(20);

    private volatile ReplicationRole _role = ReplicationRole.Starting;
    private volatile bool _migrated;

    public ReplicationRole Role => _role;
    public bool Migrated => _migrated || !settings.MigrateOnStart;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            if (settings.MigrateOnStart)
                await MigrateAsync(stoppingToken).ConfigureAwait(false);

            while (!stoppingToken.IsCancellationRequested)
            {
                _role = ReplicationRole.Follower;
                LeadershipTerm term;
                try
                {
                    term = await leadership.AcquireAsync(stoppingToken).ConfigureAwait(false);
                }
                catch (LeadershipLostException e)
                {
                    logger.LogError("Exiting: the lease was lost ({Reason}) and RUN_REPLICATION_LEADER_LOCK_LOSS_POLICY is exit", e.Reason);
                    Environment.ExitCode = 3;
                    lifetime.StopApplication();
                    return;
                }

                _role = ReplicationRole.Leader;
                logger.LogInformation("Leading replication of slot {Slot} with fencing token {FencingToken}", settings.SlotName, term.FencingToken);
                try
                {
                    await LeadAsync(term, stoppingToken).ConfigureAwait(false);
                }
                finally
                {
                    term.ReportWorkStopped();
                }

                if (stoppingToken.IsCancellationRequested)
                {
                    _role = ReplicationRole.Stopping;
                    // The stream is closed; releasing lets another instance take over without waiting a TTL.
                    await term.ReleaseAsync(CancellationToken.None).ConfigureAwait(false);
                    return;
                }
                if (term.LossReason is { } reason)
                    metrics.LeaseLosses.Add(1, new KeyValuePair<string, object?>("reason", reason.ToString()));
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            // A bug, not an outage (those are retried above): stop loudly so the orchestrator restarts us.
            logger.LogCritical(e, "Replication loop crashed; stopping the process");
            Environment.ExitCode = 1;
            lifetime.StopApplication();
        }
        finally
        {
            _role = ReplicationRole.Stopping;
        }
    }

    private async Task MigrateAsync(CancellationToken stoppingToken)
    {
        var backoff = new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));
        while (true)
        {
            try
            {
                await migrator.MigrateAsync(settings.ClickHouseDatabase, stoppingToken).ConfigureAwait(false);
                _migrated = true;
                if (backoff.Attempts > 0)
                    logger.LogInformation("ClickHouse migrations succeeded after {Failures} failed attempts", backoff.Attempts);
                return;
            }
            catch (ClickHouseException e)
            {
                if (backoff.Attempts == 0)
                    logger.LogError("ClickHouse migrations failed; retrying with backoff: {Error}", e.Message);
                await Task.Delay(backoff.Next(), time, stoppingToken).ConfigureAwait(false);
            }
        }
    }

    private async Task LeadAsync(LeadershipTerm term, CancellationToken stoppingToken)
    {
        // Abort on lease loss, or when a graceful stop overruns its drain time.
        using var drainOverrun = new CancellationTokenSource(Timeout.InfiniteTimeSpan, time);
        using var onStop = stoppingToken.Register(() => drainOverrun.CancelAfter(DrainTimeout));
        using var abort = CancellationTokenSource.CreateLinkedTokenSource(term.Lost, drainOverrun.Token);

        var backoff = new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));
        var failures = 0;
        string? lastProblem = null;
        var slotBusyAttempts = 0;
        var terminateRefusedLogged = false;
        var takeoverWaitLogged = false;

        while (!abort.IsCancellationRequested && !stoppingToken.IsCancellationRequested)
        {
            var streamedBefore = status.StreamStarts;
            var failuresBefore = failures;
            try
            {
                await pipeline.RunAsync(stoppingToken, abort.Token, onStreaming: () =>
                {
                    // The other half of "once per change of state": say that the incident is over, with its count.
                    if (failuresBefore > 0)
                        logger.LogInformation("Replication stream resumed after {Failures} failed attempts", failuresBefore);
                }).ConfigureAwait(false);
                return;
            }
            catch (Exception) when (abort.IsCancellationRequested)
            {
                return;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ObjectInUse && settings.TerminateStaleSlotHolder)
            {
                // We won the lease, and (after TakeoverSafeAt) the previous holder's lease is over by its own clock;
                // a well-behaved holder stops before its lease ends. Whoever still holds the slot is a paused or
                // partitioned process that PostgreSQL has not noticed yet: end its walsender rather than wait
                // for wal_sender_timeout.
                slotBusyAttempts++;
                // The local clock is checked first: while the wait lasts, each retry costs one stream attempt and
                // no extra queries, and the holder often stops by itself in the meantime.
                var unsafeFor = time.GetElapsedTime(time.GetTimestamp(), term.TakeoverSafeAt);
                if (unsafeFor > TimeSpan.Zero)
                {
                    // We took a key we never watched: the slot's holder may lead by its own clock until its lease
                    // runs out. It stops by itself before then; end it only if it has not.
                    if (!takeoverWaitLogged)
                    {
                        takeoverWaitLogged = true;
                        var waiting = await setup.ReadSlotAsync(abort.Token).ConfigureAwait(false);
                        logger.LogInformation("Slot {Slot} is held by {Holder}; it may still be a leader that has not yet learned its lease ended, so waiting {WaitMs} ms before ending it",
                            settings.SlotName, waiting?.ActiveApplicationName, (long)unsafeFor.TotalMilliseconds);
                    }
                    await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(unsafeFor.TotalMilliseconds, 200)), time, abort.Token).ConfigureAwait(false);
                    continue;
                }
                var holder = await setup.ReadSlotAsync(abort.Token).ConfigureAwait(false);
                if (!await leadership.IsStillHeldAsync(term, abort.Token).ConfigureAwait(false))
                {
                    // The key is no longer ours (Redis lost it and another instance won it): the slot's holder may be
                    // the rightful leader. Leave it; our renewal will end this term.
                    await Task.Delay(TimeSpan.FromMilliseconds(200), time, abort.Token).ConfigureAwait(false);
                    continue;
                }
                var pid = await setup.TerminateSlotHolderAsync(abort.Token).ConfigureAwait(false);
                if (pid is not null)
                    logger.LogWarning("Ended stale walsender {Pid} ({Holder}) that held slot {Slot}; our lease proves its holder's lease is over",
                        pid, holder?.ActiveApplicationName, settings.SlotName);
                else if (!terminateRefusedLogged && holder?.ActivePid is not null)
                {
                    terminateRefusedLogged = true;
                    logger.LogWarning("Slot {Slot} is held by {Holder} and it could not be ended (no right to pg_terminate_backend?); waiting for wal_sender_timeout",
                        settings.SlotName, holder.ActiveApplicationName);
                }
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(100 * slotBusyAttempts, 2000)), time, abort.Token).ConfigureAwait(false);
                continue;
            }
            catch (Exception e)
            {
                // A run that streamed before failing is a new incident; repeats of one incident log once.
                if (status.StreamStarts != streamedBefore)
                {
                    failures = 0;
                    backoff.Reset();
                    lastProblem = null;
                }
                failures++;
                var problem = $"{e.GetType().Name}: {e.Message}";
                if (problem != lastProblem)
                {
                    lastProblem = problem;
                    var level = e is ReplicationSetupException ? LogLevel.Error : LogLevel.Warning;
                    logger.Log(level, "Replication stream failed (failure {Failures}); reconnecting with backoff: {Error}", failures, problem);
                }
                status.LastStreamError = problem;
                await Task.Delay(backoff.Next(), time, abort.Token).ConfigureAwait(false);
            }
        }
    }
}
