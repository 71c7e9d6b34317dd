using RunsReplication.Leadership;

namespace RunsReplication.Tests.Leadership;

public class BackoffTests
{
    [Fact]
    public void Values_stay_within_initial_and_cap()
    {
        var rng = new Random(42);
        var b = new Backoff(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(5), rng.NextDouble);
        for (var i = 0; i < 10_000; i++)
        {
            var d = b.Next();
            Assert.InRange(d, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(5));
            if (i % 100 == 0) b.Reset();
        }
    }

    [Fact]
    public void Grows_to_the_cap_and_reset_starts_over()
    {
        var b = new Backoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1), () => 1.0);
        Assert.Equal(TimeSpan.FromMilliseconds(300), b.Next());
        Assert.Equal(TimeSpan.FromMilliseconds(900), b.Next());
        Assert.Equal(TimeSpan.FromSeconds(1), b.Next());
        Assert.Equal(TimeSpan.FromSeconds(1), b.Next());
        Assert.Equal(4, b.Attempts);
        b.Reset();
        Assert.Equal(0, b.Attempts);
        Assert.Equal(TimeSpan.FromMilliseconds(300), b.Next());
        var low = new Backoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1), () => 0.0);
        Assert.Equal(TimeSpan.FromMilliseconds(100), low.Next());
    }

    [Theory]
    [InlineData(0.0, 750)]
    [InlineData(0.5, 1000)]
    [InlineData(1.0, 1250)]
    public void Jitter_is_bounded(double r, int expectedMs) =>
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), Backoff.Jitter(TimeSpan.FromSeconds(1), 0.25, r));

    [Fact]
    public void Rejects_bad_arguments()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Backoff(TimeSpan.Zero, TimeSpan.FromSeconds(1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Backoff(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(1)));
    }
}

public class LeaderLeaseOptionsTests
{
    [Fact]
    public void Defaults_are_valid_and_ordered()
    {
        var o = new LeaderLeaseOptions();
        Assert.Empty(o.Validate());
        Assert.Equal("runs-replication:logical-replication-client:logical-replication-client:task_runs_to_clickhouse_v1", o.Key);
        Assert.Equal(TimeSpan.FromMilliseconds(302), o.SafetyMargin);
        Assert.Equal(TimeSpan.FromMilliseconds(19_849), o.RenewDeadline);
        Assert.Equal(TimeSpan.FromMilliseconds(9_849), o.StopGrace);
        Assert.Equal(o.StopGrace, o.WatchdogGrace);
    }

    [Theory]
    [InlineData(1000, 500, 100)]
    [InlineData(15000, 5000, 500)]
    [InlineData(60000, 20000, 500)]
    [InlineData(30000, 1, 500)]
    public void Valid_combinations_keep_LeaseDuration_above_RenewDeadline_above_ExtendInterval(int ttl, int extend, int retry)
    {
        var o = new LeaderLeaseOptions { LockTimeoutMs = ttl, ExtendIntervalMs = extend, RetryIntervalMs = retry, CallTimeoutMs = Math.Min(2000, ttl / 2) };
        Assert.Empty(o.Validate());
        Assert.True(o.LeaseDuration - o.SafetyMargin > o.RenewDeadline);
        Assert.True(o.RenewDeadline > o.ExtendInterval);
    }

    [Fact]
    public void Unsafe_combinations_are_reported_one_line_each_with_env_name_and_value()
    {
        var errors = new LeaderLeaseOptions { LockTimeoutMs = 30000, ExtendIntervalMs = 20000, RetryIntervalMs = 0 }.Validate();
        Assert.Contains(errors, e => e.StartsWith("RUN_REPLICATION_LEADER_LOCK_EXTEND_INTERVAL_MS=20000: expected at most half of RUN_REPLICATION_LEADER_LOCK_TIMEOUT_MS=30000", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("RUN_REPLICATION_LEADER_LOCK_RETRY_INTERVAL_MS=0: expected > 0", StringComparison.Ordinal));
        Assert.All(errors, e => Assert.DoesNotContain('\n', e));

        Assert.Contains("RUN_REPLICATION_LEADER_LOCK_TIMEOUT_MS=500: expected >= 1000 ms",
            new LeaderLeaseOptions { LockTimeoutMs = 500, ExtendIntervalMs = 100 }.Validate());
        Assert.Contains(new LeaderLeaseOptions { RetryIntervalMs = 15000 }.Validate(),
            e => e.StartsWith("RUN_REPLICATION_LEADER_LOCK_RETRY_INTERVAL_MS=15000: expected <= 9849 ms", StringComparison.Ordinal));
        Assert.Contains(new LeaderLeaseOptions { CallTimeoutMs = 25000 }.Validate(),
            e => e.StartsWith("RUN_REPLICATION_LEADER_LOCK_CALL_TIMEOUT_MS=25000: expected below the renew deadline", StringComparison.Ordinal));
        Assert.Contains(new LeaderLeaseOptions { InstanceId = "a|b" }.Validate(), e => e.StartsWith("InstanceId='a|b'", StringComparison.Ordinal));
    }

    [Fact]
    public void Constructor_rejects_invalid_options()
    {
        var ex = Assert.Throws<ArgumentException>(() => new LeaderLease(new ScriptedLeaseStore(),
            new LeaderLeaseOptions { ExtendIntervalMs = 29000 }, TimeProvider.System, new CapturingLogger()));
        Assert.Contains("RUN_REPLICATION_LEADER_LOCK_EXTEND_INTERVAL_MS=29000", ex.Message);
    }

    [Fact]
    public void FromEnvironment_maps_variables_and_reports_parse_errors()
    {
        var env = new Dictionary<string, string>
        {
            ["RUN_REPLICATION_LEADER_LOCK_TIMEOUT_MS"] = "60000",
            ["RUN_REPLICATION_LEADER_LOCK_EXTEND_INTERVAL_MS"] = "20000",
            ["RUN_REPLICATION_LEADER_LOCK_ADDITIONAL_TIME_MS"] = "30000",
            ["RUN_REPLICATION_LEADER_LOCK_RETRY_INTERVAL_MS"] = "abc",
            ["RUN_REPLICATION_LEADER_LOCK_LOSS_POLICY"] = "Exit",
        };
        var errors = new List<string>();
        var o = LeaderLeaseOptions.FromEnvironment(k => env.GetValueOrDefault(k), errors, "slot_x");
        Assert.Equal(60000, o.LockTimeoutMs);
        Assert.Equal(20000, o.ExtendIntervalMs);
        Assert.Equal(30000, o.AdditionalTimeMs);
        Assert.Equal(500, o.RetryIntervalMs);
        Assert.Equal(LeaseLossPolicy.Exit, o.LossPolicy);
        Assert.EndsWith(":logical-replication-client:slot_x", o.Key);
        Assert.Equal(["RUN_REPLICATION_LEADER_LOCK_RETRY_INTERVAL_MS='abc': expected an integer number of milliseconds"], errors);

        env["RUN_REPLICATION_LEADER_LOCK_LOSS_POLICY"] = "panic";
        errors.Clear();
        LeaderLeaseOptions.FromEnvironment(k => env.GetValueOrDefault(k), errors, "s");
        Assert.Contains("RUN_REPLICATION_LEADER_LOCK_LOSS_POLICY='panic': expected 'reacquire' or 'exit'", errors);
    }
}

public class RedisConnectionFactoryTests
{
    [Fact]
    public void Tls_on_by_default_short_timeouts_and_no_password_in_text()
    {
        var s = new RedisConnectionSettings("redis.internal", 6380, "svc", "s3cret!");
        var o = RedisConnectionFactory.BuildOptions(s);
        Assert.True(o.Ssl);
        Assert.False(o.AbortOnConnectFail);
        Assert.Equal(2000, o.ConnectTimeout);
        Assert.Equal(1000, o.AsyncTimeout);
        Assert.Equal("svc", o.User);
        Assert.DoesNotContain("s3cret", s.ToString());
        Assert.DoesNotContain("s3cret", o.ToString(includePassword: false));
        Assert.False(RedisConnectionFactory.BuildOptions(s with { TlsDisabled = true }).Ssl);
    }
}
