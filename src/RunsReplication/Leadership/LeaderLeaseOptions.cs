using System.Globalization;

namespace RunsReplication.Leadership;

/// <summary>
/// Lease timing. All durations are judged on the local monotonic clock.
/// <para>
/// Derived values (LeaseDuration &gt; RenewDeadline &gt; ExtendInterval):
/// <c>SafetyMargin = SafetyMarginMs ?? (LockTimeoutMs / 100 + 2)</c> (Redlock's clock-drift allowance);
/// <c>RenewDeadline = ExtendInterval + (LockTimeout − SafetyMargin − ExtendInterval) / 2</c>, i.e. the midpoint
/// between the renew period and the end of the locally valid lease: half of the slack is for renewal retries,
/// the other half (<c>StopGrace = LockTimeout − SafetyMargin − RenewDeadline</c>) is the time leader work has to stop
/// before the server-side key can expire and another replica can take over. Defaults: TTL 30000, extend 10000,
/// margin 302 → RenewDeadline 19849 ms, StopGrace 9849 ms.
/// </para>
/// </summary>
public sealed class LeaderLeaseOptions
{
    public const string LockTimeoutEnv = "RUN_REPLICATION_LEADER_LOCK_TIMEOUT_MS";
    public const string ExtendIntervalEnv = "RUN_REPLICATION_LEADER_LOCK_EXTEND_INTERVAL_MS";
    public const string AdditionalTimeEnv = "RUN_REPLICATION_LEADER_LOCK_ADDITIONAL_TIME_MS";
    public const string RetryIntervalEnv = "RUN_REPLICATION_LEADER_LOCK_RETRY_INTERVAL_MS";
    public const string LossPolicyEnv = "RUN_REPLICATION_LEADER_LOCK_LOSS_POLICY";
    public const string CallTimeoutEnv = "RUN_REPLICATION_LEADER_LOCK_CALL_TIMEOUT_MS";
    public const string SafetyMarginEnv = "RUN_REPLICATION_LEADER_LOCK_SAFETY_MARGIN_MS";
    public const string WatchdogGraceEnv = "RUN_REPLICATION_LEADER_LOCK_WATCHDOG_GRACE_MS";
    public const string MaxBackoffEnv = "RUN_REPLICATION_LEADER_LOCK_MAX_BACKOFF_MS";

    /// <summary>The reference implementation's (double-prefixed) key, so mixed-version rollouts contend on the same key.</summary>
    public static string DefaultKey(string slotName) =>
        $"runs-replication:logical-replication-client:logical-replication-client:{slotName}";

    /// <summary>Redis key of the lease. The fencing counter is <c>Key + ":fencing"</c>.</summary>
    public string Key { get; set; } = DefaultKey("task_runs_to_clickhouse_v1");

    /// <summary>Unique per process; must not contain '|'.</summary>
    public string InstanceId { get; set; } = $"{Environment.MachineName}-{Environment.ProcessId}-{Guid.NewGuid():N}";

    /// <summary>Lease TTL (server-side PX).</summary>
    public int LockTimeoutMs { get; set; } = 30_000;
    /// <summary>Renew period after a successful renewal.</summary>
    public int ExtendIntervalMs { get; set; } = 10_000;
    /// <summary>
    /// The reference's acquisition window (LockTimeout + AdditionalTime). Accepted so its settings still parse; our
    /// followers poll for as long as they run (they must watch the holder to judge an empty key, see HolderWatch).
    /// </summary>
    public int AdditionalTimeMs { get; set; } = 10_000;
    /// <summary>Acquisition poll period (±25 % jitter) and the renewal retry period after a failed renewal.</summary>
    public int RetryIntervalMs { get; set; } = 500;
    public LeaseLossPolicy LossPolicy { get; set; } = LeaseLossPolicy.Reacquire;
    /// <summary>Per Redis call timeout (further capped by the time left before the renew deadline).</summary>
    public int CallTimeoutMs { get; set; } = 2_000;
    /// <summary>Clock-drift allowance; null = LockTimeout/100 + 2 ms.</summary>
    public int? SafetyMarginMs { get; set; }
    /// <summary>How long leader work may take to report "stopped" after loss; null = StopGrace.</summary>
    public int? WatchdogGraceMs { get; set; }
    /// <summary>Cap of the exponential backoff used after errors and after a loss.</summary>
    public int MaxBackoffMs { get; set; } = 5_000;

    public TimeSpan LeaseDuration => TimeSpan.FromMilliseconds(LockTimeoutMs);
    public TimeSpan ExtendInterval => TimeSpan.FromMilliseconds(ExtendIntervalMs);
    public TimeSpan RetryInterval => TimeSpan.FromMilliseconds(RetryIntervalMs);
    public TimeSpan CallTimeout => TimeSpan.FromMilliseconds(CallTimeoutMs);
    public TimeSpan MaxBackoff => TimeSpan.FromMilliseconds(Math.Max(MaxBackoffMs, RetryIntervalMs));
    public TimeSpan SafetyMargin => TimeSpan.FromMilliseconds(SafetyMarginMs ?? LockTimeoutMs / 100 + 2);
    public TimeSpan RenewDeadline =>
        ExtendInterval + (LeaseDuration - SafetyMargin - ExtendInterval) / 2;
    public TimeSpan StopGrace => LeaseDuration - SafetyMargin - RenewDeadline;
    public TimeSpan WatchdogGrace => WatchdogGraceMs is { } ms ? TimeSpan.FromMilliseconds(ms) : StopGrace;

    /// <summary>One line per problem, naming the env var, the value and what is expected. Empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        void Check(bool ok, string message) { if (!ok) errors.Add(message); }

        Check(LockTimeoutMs >= 1000, $"{LockTimeoutEnv}={LockTimeoutMs}: expected >= 1000 ms");
        Check(ExtendIntervalMs > 0, $"{ExtendIntervalEnv}={ExtendIntervalMs}: expected > 0 ms");
        Check((long)ExtendIntervalMs * 2 <= LockTimeoutMs,
            $"{ExtendIntervalEnv}={ExtendIntervalMs}: expected at most half of {LockTimeoutEnv}={LockTimeoutMs} (<= {LockTimeoutMs / 2} ms) so a failed renewal can be retried before the lease expires");
        Check(AdditionalTimeMs >= 0, $"{AdditionalTimeEnv}={AdditionalTimeMs}: expected >= 0 ms");
        Check(RetryIntervalMs > 0, $"{RetryIntervalEnv}={RetryIntervalMs}: expected > 0 ms");
        Check(CallTimeoutMs > 0, $"{CallTimeoutEnv}={CallTimeoutMs}: expected > 0 ms");
        Check(SafetyMarginMs is null or >= 0, $"{SafetyMarginEnv}={SafetyMarginMs}: expected >= 0 ms");
        Check(WatchdogGraceMs is null or > 0, $"{WatchdogGraceEnv}={WatchdogGraceMs}: expected > 0 ms");
        Check(MaxBackoffMs > 0, $"{MaxBackoffEnv}={MaxBackoffMs}: expected > 0 ms");
        Check(string.IsNullOrEmpty(InstanceId) == false && !InstanceId.Contains('|'),
            $"InstanceId='{InstanceId}': expected a non-empty id without '|'");
        Check(!string.IsNullOrWhiteSpace(Key), "Key: expected a non-empty Redis key");
        if (errors.Count > 0) return errors;

        var margin = (long)SafetyMargin.TotalMilliseconds;
        Check(margin * 4 < LockTimeoutMs,
            $"{SafetyMarginEnv}={margin}: expected below a quarter of {LockTimeoutEnv}={LockTimeoutMs}");
        if (errors.Count > 0) return errors;

        var retryWindow = (long)(RenewDeadline - ExtendInterval).TotalMilliseconds;
        Check(RetryIntervalMs <= retryWindow,
            $"{RetryIntervalEnv}={RetryIntervalMs}: expected <= {retryWindow} ms (RenewDeadline − {ExtendIntervalEnv}) so at least one renewal retry fits before the renew deadline");
        Check(CallTimeoutMs < (long)RenewDeadline.TotalMilliseconds,
            $"{CallTimeoutEnv}={CallTimeoutMs}: expected below the renew deadline ({(long)RenewDeadline.TotalMilliseconds} ms)");
        return errors;
    }

    /// <summary>Maps the RUN_REPLICATION_LEADER_LOCK_* variables onto a new options object; parse errors are appended to <paramref name="errors"/>.</summary>
    public static LeaderLeaseOptions FromEnvironment(Func<string, string?> getEnv, ICollection<string> errors, string slotName)
    {
        var o = new LeaderLeaseOptions { Key = DefaultKey(slotName) };
        int? Read(string name)
        {
            var raw = getEnv(name);
            if (string.IsNullOrWhiteSpace(raw)) return null;
            if (int.TryParse(raw.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v)) return v;
            errors.Add($"{name}='{raw}': expected an integer number of milliseconds");
            return null;
        }
        if (Read(LockTimeoutEnv) is { } t) o.LockTimeoutMs = t;
        if (Read(ExtendIntervalEnv) is { } e) o.ExtendIntervalMs = e;
        if (Read(AdditionalTimeEnv) is { } a) o.AdditionalTimeMs = a;
        if (Read(RetryIntervalEnv) is { } r) o.RetryIntervalMs = r;
        if (Read(CallTimeoutEnv) is { } c) o.CallTimeoutMs = c;
        if (Read(SafetyMarginEnv) is { } s) o.SafetyMarginMs = s;
        if (Read(WatchdogGraceEnv) is { } w) o.WatchdogGraceMs = w;
        if (Read(MaxBackoffEnv) is { } b) o.MaxBackoffMs = b;
        var policy = getEnv(LossPolicyEnv);
        if (!string.IsNullOrWhiteSpace(policy))
        {
            switch (policy.Trim().ToLowerInvariant())
            {
                case "reacquire": o.LossPolicy = LeaseLossPolicy.Reacquire; break;
                case "exit": o.LossPolicy = LeaseLossPolicy.Exit; break;
                default: errors.Add($"{LossPolicyEnv}='{policy}': expected 'reacquire' or 'exit'"); break;
            }
        }
        return o;
    }
}
