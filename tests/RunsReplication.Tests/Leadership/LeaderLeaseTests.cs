using Microsoft.Extensions.Logging;
using RunsReplication.Leadership;
using static RunsReplication.Tests.Leadership.Harness;

namespace RunsReplication.Tests.Leadership;

public class LeaderLeaseTests
{
    private static readonly TimeSpan Extend = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Acquire_free_key_becomes_leader_with_fencing_token()
    {
        await using var h = new Harness();
        Assert.Equal(LeaseRole.Follower, h.Lease.Status.Role);
        var term = await Within(h.Lease.AcquireAsync(CancellationToken.None));

        Assert.Equal(1, term.FencingToken);
        Assert.Equal("me|1", term.HolderValue);
        Assert.Equal("me|1", h.Store.Holder);
        Assert.False(term.Lost.IsCancellationRequested);
        var s = h.Lease.Status;
        Assert.Equal(LeaseRole.Leader, s.Role);
        Assert.Equal(1, s.FencingToken);
        Assert.Equal(30_000 - 302, s.LeaseExpiresInMs);
        Assert.Equal(19_849, s.RenewDeadlineInMs);
        Assert.Equal("me|1", s.Holder);
    }

    [Fact]
    public async Task IsStillHeld_asks_Redis_and_is_false_once_the_key_holds_another_value()
    {
        await using var h = new Harness();
        var term = await Within(h.Lease.AcquireAsync(CancellationToken.None));
        Assert.True(await h.Lease.IsStillHeldAsync(term, CancellationToken.None));

        // Redis restarted empty and another instance won the key: our term is not yet lost locally, but not ours.
        h.Store.Holder = "other|9";
        Assert.False(term.Lost.IsCancellationRequested);
        Assert.False(await h.Lease.IsStillHeldAsync(term, CancellationToken.None));
        h.Store.Holder = null;
        Assert.False(await h.Lease.IsStillHeldAsync(term, CancellationToken.None));
        Assert.Equal(1, h.Store.Count("acquire")); // asking never re-acquires
    }

    [Fact]
    public async Task Acquire_when_held_by_other_polls_until_its_key_expires()
    {
        await using var h = new Harness();
        h.Store.Holder = "other|5";
        h.Store.HolderPttlMs = 400;
        var acquiring = h.Lease.AcquireAsync(CancellationToken.None);
        await h.AdvanceParkedAsync(TimeSpan.FromMilliseconds(500));
        await Eventually(() => h.Store.Count("acquire") == 2, "second attempt");
        Assert.Equal(LeaseRole.Acquiring, h.Lease.Status.Role);
        Assert.Equal("other|5", h.Lease.Status.Holder);
        Assert.False(acquiring.IsCompleted);

        h.Store.Holder = null; // its key expired: our attempt was sent after its PTTL ran out
        await h.AdvanceParkedAsync(TimeSpan.FromMilliseconds(500));
        var term = await Within(acquiring);
        Assert.Equal(LeaseRole.Leader, h.Lease.Status.Role);
        Assert.Equal("me|1", term.HolderValue);
        // The first attempt knew of no holder; the later ones were sent after the holder's PTTL had run out.
        Assert.Equal([true, true, true], h.Store.EmptyAllowed.ToArray());
        // We watched the previous lease end: a stale slot holder may be ended at once.
        Assert.True(term.TakeoverSafeAt <= h.Time.GetTimestamp());
        Assert.Empty(h.Log.Matching("vanished"));
    }

    [Fact]
    public async Task A_key_that_vanishes_before_its_holder_could_expire_is_not_taken_for_a_lease()
    {
        await using var h = new Harness();
        h.Store.Holder = "other|5"; // PTTL 20 s: a live leader
        var acquiring = h.Lease.AcquireAsync(CancellationToken.None);
        await h.AdvanceParkedAsync(TimeSpan.FromMilliseconds(500));
        await Eventually(() => h.Store.Count("acquire") == 2, "second attempt");

        h.Store.Holder = null; // Redis restarted empty: other|5 still leads by its own clock
        var vanishedAt = h.Time.GetTimestamp();
        for (var i = 0; i < 59; i++) await h.AdvanceParkedAsync(TimeSpan.FromMilliseconds(500));
        await Eventually(() => h.Store.Count("acquire") == 61, "attempts through the hold-off");
        Assert.False(acquiring.IsCompleted);
        Assert.Null(h.Store.Holder);
        Assert.DoesNotContain(true, h.Store.EmptyAllowed.Skip(1)); // once it had seen other|5, never took an empty key
        var warning = Assert.Single(h.Log.Matching("vanished")); // once, not once per poll
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Equal("other|5", warning.Fields["Holder"]);

        // One lease (30 s) after the empty key was first seen, the old holder has certainly stopped.
        await h.AdvanceParkedAsync(TimeSpan.FromMilliseconds(1000));
        var term = await Within(acquiring);
        Assert.True(h.Time.GetElapsedTime(vanishedAt) >= h.Options.LeaseDuration);
        Assert.True(term.TakeoverSafeAt <= h.Time.GetTimestamp());
    }

    [Fact]
    public async Task The_holder_coming_back_cancels_the_hold_off()
    {
        await using var h = new Harness();
        h.Store.Holder = "other|5";
        var acquiring = h.Lease.AcquireAsync(CancellationToken.None);
        await h.AdvanceParkedAsync(TimeSpan.FromMilliseconds(500));
        h.Store.Holder = null;
        await h.AdvanceParkedAsync(TimeSpan.FromMilliseconds(500));
        await Eventually(() => h.Log.Matching("vanished").Count == 1, "hold-off");
        h.Store.Holder = "other|6"; // the old leader stepped down and won again
        h.Store.HolderPttlMs = 400;
        await h.AdvanceParkedAsync(TimeSpan.FromMilliseconds(500));
        await Eventually(() => h.Store.Count("acquire") == 4, "fourth attempt");
        h.Store.Holder = null; // and its key now expired normally
        await h.AdvanceParkedAsync(TimeSpan.FromMilliseconds(500));
        var term = await Within(acquiring);
        Assert.Equal("me|1", term.HolderValue);
        Assert.Single(h.Log.Matching("vanished"));
    }

    [Fact]
    public async Task A_released_key_is_taken_at_once()
    {
        await using var h = new Harness();
        h.Store.Holder = "other|5"; // PTTL 20 s
        var acquiring = h.Lease.AcquireAsync(CancellationToken.None);
        await h.AdvanceParkedAsync(TimeSpan.FromMilliseconds(500));
        h.Store.Holder = null; // graceful handover: compare-and-DEL plus the release marker
        h.Store.Released = "other|5";
        await h.AdvanceParkedAsync(TimeSpan.FromMilliseconds(500));
        var term = await Within(acquiring);
        Assert.Equal("me|1", term.HolderValue);
        Assert.True(term.TakeoverSafeAt <= h.Time.GetTimestamp());
        Assert.Empty(h.Log.Matching("vanished"));
    }

    [Fact]
    public async Task An_empty_key_seen_after_a_long_silence_is_not_taken_for_a_lease()
    {
        await using var h = new Harness();
        h.Store.Holder = "other|5";
        h.Store.HolderPttlMs = 400;
        var failing = true;
        var acquiring = h.Lease.AcquireAsync(CancellationToken.None);
        await Eventually(() => h.Store.Count("acquire") == 1, "first attempt");
        // Redis unreachable for longer than LeaseDuration − ExtendInterval (20 s): a live holder may have renewed
        // many times meanwhile, so an empty key afterwards says nothing about whether it expired.
        h.Store.OnAcquire = () => failing
            ? Task.FromException<AcquireResult>(new InvalidOperationException("No connection is available"))
            : Task.FromResult(AcquireResult.EmptyKeyRefused);
        for (var i = 0; i < 5; i++) await h.AdvanceParkedAsync(TimeSpan.FromMilliseconds(h.Options.MaxBackoffMs));
        failing = false;
        h.Store.OnAcquire = null;
        h.Store.Holder = null;
        await h.AdvanceParkedAsync(TimeSpan.FromMilliseconds(h.Options.MaxBackoffMs));
        await Eventually(() => h.Log.Matching("vanished").Count == 1, "hold-off");
        Assert.False(acquiring.IsCompleted);
        Assert.False(h.Store.EmptyAllowed.Last());
        while (!acquiring.IsCompleted) await h.AdvanceParkedAsync(TimeSpan.FromMilliseconds(500));
        Assert.Equal("me|1", (await acquiring).HolderValue);
    }

    [Fact]
    public async Task A_fresh_instance_takes_an_empty_key_but_may_not_end_another_slot_holder_for_a_lease()
    {
        await using var h = new Harness();
        var sentAt = h.Time.GetTimestamp();
        var term = await Within(h.Lease.AcquireAsync(CancellationToken.None));
        // It never watched the key: a leader that Redis forgot may still lead for up to one lease.
        Assert.Equal(h.Options.LeaseDuration, h.Time.GetElapsedTime(sentAt, term.TakeoverSafeAt));
    }

    [Fact]
    public async Task Following_is_logged_once_per_holder_not_per_poll()
    {
        await using var h = new Harness();
        h.Store.Holder = "other|5";
        using var cts = new CancellationTokenSource();
        var acquiring = h.Lease.AcquireAsync(cts.Token);
        for (var i = 0; i < 80; i++) await h.AdvanceParkedAsync(TimeSpan.FromMilliseconds(500)); // 40 s of polling
        h.Store.Holder = "other|6";
        for (var i = 0; i < 4; i++) await h.AdvanceParkedAsync(TimeSpan.FromMilliseconds(500));
        await Eventually(() => h.Log.Matching("following").Count == 2, "the second holder");
        Assert.Equal(["other|5", "other|6"], h.Log.Matching("following").Select(l => (string)l.Fields["Holder"]!));
        Assert.True(h.Store.Count("acquire") >= 84); // followers keep polling: no long backoff while Redis answers
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => acquiring);
        Assert.Equal(LeaseRole.Follower, h.Lease.Status.Role);
    }

    [Fact]
    public async Task Successful_renewals_keep_leading_past_the_first_deadline()
    {
        await using var h = new Harness();
        var term = await Within(h.Lease.AcquireAsync(CancellationToken.None));
        for (var i = 1; i <= 3; i++)
        {
            await h.AdvanceParkedAsync(Extend);
            await Eventually(() => h.Store.Count("renew:me|1") == i, $"renewal {i}");
        }
        await h.AdvanceParkedAsync(TimeSpan.Zero); // let the loop settle after the 3rd renewal
        Assert.False(term.Lost.IsCancellationRequested);
        Assert.Equal(LeaseRole.Leader, h.Lease.Status.Role);
        Assert.Equal(RenewalOutcome.Renewed, h.Lease.Status.LastRenewalOutcome);
        Assert.True(h.Lease.Status.LoopHeartbeatAgeMs < 100);
        Assert.Equal(0, h.Store.Count("acquire") - 1);
    }

    [Fact]
    public async Task Key_gone_loses_with_RenewalRefused_and_never_recreates_the_key()
    {
        await using var h = new Harness();
        var term = await Within(h.Lease.AcquireAsync(CancellationToken.None));
        h.Store.Holder = null; // evicted / Redis restarted empty
        await h.AdvanceParkedAsync(Extend);

        Assert.Equal(LeaseLossReason.RenewalRefused, await Within(term.Ended));
        Assert.True(term.Lost.IsCancellationRequested);
        Assert.Equal(LeaseLossReason.RenewalRefused, term.LossReason);
        Assert.Equal(LeaseRole.Follower, h.Lease.Status.Role);
        h.Time.Advance(TimeSpan.FromMinutes(2));
        await Task.Delay(50);
        Assert.Null(h.Store.Holder);
        Assert.Equal(["acquire", "renew:me|1"], h.Store.Calls.ToArray());
    }

    [Fact]
    public async Task Key_holding_another_value_loses_with_TakenByOther()
    {
        await using var h = new Harness();
        var term = await Within(h.Lease.AcquireAsync(CancellationToken.None));
        h.Store.Holder = "other|2";
        await h.AdvanceParkedAsync(Extend);
        Assert.Equal(LeaseLossReason.TakenByOther, await Within(term.Ended));
        await term.ReleaseAsync();
        Assert.Equal("other|2", h.Store.Holder); // compare-and-DEL leaves theirs alone
        Assert.Equal(LeaseLossReason.TakenByOther, term.LossReason);
    }

    [Fact]
    public async Task Failing_renewals_lose_at_the_renew_deadline_before_server_expiry_and_log_once()
    {
        await using var h = new Harness();
        h.Store.OnRenew = () => Task.FromException<RenewResult>(new InvalidOperationException("connection refused"));
        var t0 = h.Time.GetTimestamp();
        var term = await Within(h.Lease.AcquireAsync(CancellationToken.None));
        TimeSpan? lostAt = null;
        term.Lost.Register(() => lostAt = h.Time.GetElapsedTime(t0));

        await h.AdvanceParkedAsync(Extend); // first renewal fails, then retries every 500 ms
        for (var i = 0; i < 19; i++) await h.AdvanceParkedAsync(TimeSpan.FromMilliseconds(500)); // t = 19.5 s
        await h.AdvanceParkedAsync(TimeSpan.FromMilliseconds(348)); // t = 19.848 s
        Assert.False(term.Lost.IsCancellationRequested);
        Assert.Equal(LeaseRole.Leader, h.Lease.Status.Role);
        Assert.Equal(20, h.Lease.Status.ConsecutiveRenewalFailures);
        h.Time.Advance(TimeSpan.FromMilliseconds(1)); // the deadline timer fires

        Assert.Equal(LeaseLossReason.RedisUnreachable, await Within(term.Ended));
        await Eventually(() => lostAt is not null, "token callback");
        Assert.Equal(RenewDeadline, lostAt);
        Assert.True(lostAt < h.Options.LeaseDuration, "loss must fire before the server-side key can expire");
        Assert.Single(h.Log.Matching("renewal failing"));
        var lost = Assert.Single(h.Log.Matching("Leader lease lost"));
        Assert.Equal(LogLevel.Warning, lost.Level);
        Assert.Equal(2, h.Log.Lines.Count(l => l.Level >= LogLevel.Warning));
        Assert.Equal(20, lost.Fields["FailedRenewals"]);
    }

    [Fact]
    public async Task Renewal_that_never_returns_still_loses_at_the_deadline()
    {
        await using var h = new Harness(o => o.CallTimeoutMs = 15_000);
        var hung = new TaskCompletionSource<RenewResult>();
        h.Store.OnRenew = () => hung.Task; // ignores cancellation, never completes
        var term = await Within(h.Lease.AcquireAsync(CancellationToken.None));
        await h.AdvanceParkedAsync(Extend);
        await Eventually(() => h.Store.Count("renew") == 1, "renewal sent");
        h.Time.Advance(RenewDeadline - Extend - TimeSpan.FromMilliseconds(1));
        await Task.Delay(20);
        Assert.False(term.Lost.IsCancellationRequested);
        h.Time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(term.Lost.IsCancellationRequested); // fired synchronously by the deadline timer
        Assert.Equal(LeaseLossReason.RedisUnreachable, await Within(term.Ended));
        hung.SetResult(RenewResult.Renewed); // a late success changes nothing
        await Task.Delay(20);
        Assert.Equal(LeaseRole.Follower, h.Lease.Status.Role);
        Assert.Equal(1, h.Store.Count("renew"));
    }

    [Fact]
    public async Task Renewal_timeout_is_unknown_then_recovery_logs_one_summary()
    {
        await using var h = new Harness();
        var answers = new Queue<Func<Task<RenewResult>>>();
        answers.Enqueue(() => new TaskCompletionSource<RenewResult>().Task); // times out after 2 s
        answers.Enqueue(() => Task.FromException<RenewResult>(new TimeoutException("redis timeout")));
        h.Store.OnRenew = () => answers.TryDequeue(out var a) ? a() : Task.FromResult(RenewResult.Renewed);
        var term = await Within(h.Lease.AcquireAsync(CancellationToken.None));
        await h.AdvanceParkedAsync(Extend);
        await Eventually(() => h.Store.Count("renew") == 1, "first renewal");
        await h.AdvanceUntilParkedAsync(TimeSpan.FromSeconds(2)); // the call times out, the loop parks for a retry
        await h.AdvanceParkedAsync(TimeSpan.FromMilliseconds(500)); // retry → exception
        await h.AdvanceParkedAsync(TimeSpan.FromMilliseconds(500)); // retry → renewed
        await Eventually(() => h.Log.Matching("recovered").Count == 1, "recovery line");
        Assert.Equal(2, Assert.Single(h.Log.Matching("recovered")).Fields["FailedRenewals"]);
        Assert.Single(h.Log.Matching("renewal failing"));
        Assert.Equal(RenewalOutcome.Renewed, h.Lease.Status.LastRenewalOutcome);
        Assert.Equal(0, h.Lease.Status.ConsecutiveRenewalFailures);
        Assert.False(term.Lost.IsCancellationRequested);
        Assert.Equal(LeaseRole.Leader, h.Lease.Status.Role);
    }

    [Fact]
    public async Task Pause_past_the_ttl_loses_with_ExpiredWhilePaused_before_any_redis_call()
    {
        await using var h = new Harness();
        var term = await Within(h.Lease.AcquireAsync(CancellationToken.None));
        await h.AdvanceParkedAsync(TimeSpan.FromSeconds(40)); // one jump: SIGSTOP/GC pause
        Assert.Equal(LeaseLossReason.ExpiredWhilePaused, await Within(term.Ended));
        await Task.Delay(20);
        Assert.Equal(["acquire"], h.Store.Calls.ToArray());
        var lost = Assert.Single(h.Log.Matching("Leader lease lost"));
        Assert.Equal(LeaseLossReason.ExpiredWhilePaused, lost.Fields["Reason"]);
        Assert.Equal(1L, lost.Fields["FencingToken"]);
        Assert.Equal(40_000L, lost.Fields["HeldForMs"]);
        Assert.Equal(40_000L, lost.Fields["SinceLastRenewalMs"]);
    }

    [Fact]
    public async Task Wall_clock_jumps_have_no_effect()
    {
        await using var h = new Harness();
        var term = await Within(h.Lease.AcquireAsync(CancellationToken.None));
        h.Clock.WallSkew = TimeSpan.FromHours(-3);
        await h.AdvanceParkedAsync(Extend);
        await Eventually(() => h.Store.Count("renew") == 1, "renewal 1");
        h.Clock.WallSkew = TimeSpan.FromDays(2);
        await h.AdvanceParkedAsync(Extend);
        await Eventually(() => h.Store.Count("renew") == 2, "renewal 2");
        await h.AdvanceParkedAsync(TimeSpan.Zero);
        Assert.False(term.Lost.IsCancellationRequested);
        Assert.Equal(19_849, h.Lease.Status.RenewDeadlineInMs);
        Assert.Equal(LeaseRole.Leader, h.Lease.Status.Role);
        Assert.Equal(h.Clock.GetUtcNow(), h.Lease.Status.LastRenewalAt); // display only, on the (skewed) wall clock
    }

    [Fact]
    public async Task Release_fires_Released_deletes_our_key_leaving_a_marker_and_stops_renewing()
    {
        await using var h = new Harness();
        var term = await Within(h.Lease.AcquireAsync(CancellationToken.None));
        await term.ReleaseAsync();
        Assert.Equal(LeaseLossReason.Released, await Within(term.Ended));
        Assert.Null(h.Store.Holder);
        Assert.Equal("me|1", h.Store.Released);
        h.Time.Advance(TimeSpan.FromMinutes(1));
        await Task.Delay(20);
        Assert.Equal(["acquire", "release:me|1"], h.Store.Calls.ToArray());
        var line = Assert.Single(h.Log.Matching("Leader lease lost"));
        Assert.Equal(LogLevel.Information, line.Level);
        await term.ReleaseAsync(); // idempotent: no second loss line
        Assert.Single(h.Log.Matching("Leader lease lost"));
    }

    [Fact]
    public async Task After_loss_reacquires_with_backoff_and_a_new_fencing_token()
    {
        await using var h = new Harness();
        var first = await Within(h.Lease.AcquireAsync(CancellationToken.None));
        h.Store.Holder = null;
        await h.AdvanceParkedAsync(Extend);
        await Within(first.Ended);
        first.ReportWorkStopped();

        var again = h.Lease.AcquireAsync(CancellationToken.None);
        await Eventually(() => h.Lease.Status.Role == LeaseRole.Acquiring, "acquiring");
        Assert.Equal(1, h.Store.Count("acquire")); // backoff first
        await h.AdvanceParkedAsync(TimeSpan.FromMilliseconds(h.Options.MaxBackoffMs));
        var second = await Within(again);
        Assert.Equal(2, second.FencingToken);
        Assert.Equal(LeaseRole.Leader, h.Lease.Status.Role);
        Assert.Equal(LeaseLossReason.RenewalRefused, h.Lease.Status.LastLossReason);
        Assert.Equal(1, h.Store.Count("renew:me|1")); // the lost term made no further calls
    }

    [Fact]
    public async Task Exit_policy_makes_AcquireAsync_throw_after_a_loss()
    {
        await using var h = new Harness(o => o.LossPolicy = LeaseLossPolicy.Exit);
        var term = await Within(h.Lease.AcquireAsync(CancellationToken.None));
        h.Store.Holder = "other|3";
        await h.AdvanceParkedAsync(Extend);
        await Within(term.Ended);
        term.ReportWorkStopped();
        var ex = await Assert.ThrowsAsync<LeadershipLostException>(() => h.Lease.AcquireAsync(CancellationToken.None));
        Assert.Equal(LeaseLossReason.TakenByOther, ex.Reason);
    }

    [Fact]
    public async Task Watchdog_fires_when_leader_work_does_not_report_stopped()
    {
        await using var h = new Harness(o => o.WatchdogGraceMs = 3_000);
        var term = await Within(h.Lease.AcquireAsync(CancellationToken.None));
        h.Store.Holder = null;
        await h.AdvanceParkedAsync(Extend);
        await Within(term.Ended);
        h.Time.Advance(TimeSpan.FromMilliseconds(2_999));
        Assert.Empty(h.WatchdogCalls);
        h.Time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal([LeaseLossReason.RenewalRefused], h.WatchdogCalls.ToArray());
    }

    [Fact]
    public async Task Watchdog_stays_quiet_when_work_stops_in_time()
    {
        await using var h = new Harness(o => o.WatchdogGraceMs = 3_000);
        var term = await Within(h.Lease.AcquireAsync(CancellationToken.None));
        h.Store.Holder = null;
        await h.AdvanceParkedAsync(Extend);
        await Within(term.Ended);
        term.ReportWorkStopped();
        h.Time.Advance(TimeSpan.FromSeconds(10));
        Assert.Empty(h.WatchdogCalls);
    }

    [Fact]
    public async Task Acquire_errors_log_once_and_one_recovery_summary()
    {
        await using var h = new Harness();
        var failures = 3;
        h.Store.OnAcquire = () => Interlocked.Decrement(ref failures) >= 0
            ? Task.FromException<AcquireResult>(new InvalidOperationException("No connection is available"))
            : Task.FromResult(new AcquireResult(9, "me|9"));
        var acquiring = h.Lease.AcquireAsync(CancellationToken.None);
        for (var i = 0; i < 3; i++) await h.AdvanceParkedAsync(TimeSpan.FromMilliseconds(h.Options.MaxBackoffMs));
        var term = await Within(acquiring);
        Assert.Equal(9, term.FencingToken);
        Assert.Single(h.Log.Matching("Redis call failing"));
        Assert.Equal(3, Assert.Single(h.Log.Matching("answering again")).Fields["FailedAttempts"]);
    }

    [Fact]
    public async Task Our_own_orphaned_key_is_cleared_and_reacquired_with_a_new_token()
    {
        await using var h = new Harness();
        h.Store.Holder = "me|7"; // e.g. an acquire whose reply timed out
        var term = await Within(h.Lease.AcquireAsync(CancellationToken.None));
        Assert.Equal(["acquire", "release:me|7", "acquire"], h.Store.Calls.ToArray());
        Assert.Equal(1, term.FencingToken);
    }

    [Fact]
    public async Task Disposing_while_a_winning_acquire_reply_lands_hands_the_key_back()
    {
        var h = new Harness();
        ValueTask disposing = default;
        h.Store.OnAcquire = () =>
        {
            disposing = h.Lease.DisposeAsync(); // the host stops while Redis is answering "yours"
            return Task.FromResult(new AcquireResult(1, "me|1", 30_000));
        };
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => h.Lease.AcquireAsync(CancellationToken.None));
        await disposing;
        Assert.Equal(LeaseRole.Stopped, h.Lease.Status.Role);
        Assert.Contains("release:me|1", h.Store.Calls);
        Assert.Empty(h.Log.Matching("Became leader"));
        h.Time.Advance(TimeSpan.FromMinutes(1));
        await Task.Delay(20);
        Assert.Equal(0, h.Store.Count("renew"));
    }

    [Fact]
    public async Task Acquire_while_leading_is_rejected_and_dispose_releases()
    {
        var h = new Harness();
        var term = await Within(h.Lease.AcquireAsync(CancellationToken.None));
        await Assert.ThrowsAsync<InvalidOperationException>(() => h.Lease.AcquireAsync(CancellationToken.None));
        await h.DisposeAsync();
        Assert.Equal(LeaseLossReason.Released, await Within(term.Ended));
        Assert.Equal(LeaseRole.Stopped, h.Lease.Status.Role);
        Assert.Null(h.Store.Holder);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => h.Lease.AcquireAsync(CancellationToken.None));
    }
}
