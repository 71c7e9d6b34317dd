using StackExchange.Redis;

namespace RunsReplication.Leadership;

/// <summary>
/// The lease's Redis operations as Lua scripts, on the lease key, its fencing counter <c>&lt;key&gt;:fencing</c>
/// (never expires) and its release marker <c>&lt;key&gt;:released</c>. Single Redis node (or all keys in one slot).
/// Cancellation stops waiting, not the command itself; the caller enforces per-call timeouts.
/// </summary>
public sealed class RedisLeaseStore : ILeaseStore
{
    // Returns {token, value, pttl} when acquired, {0, currentValue, pttl} when the key is held, and {0, '', -2} when
    // the key is empty but may not be taken: ARGV[4] is not '1' (the caller cannot yet tell a key Redis lost from a
    // lease that ended; see HolderWatch) and no release marker (KEYS[3]) says the last holder handed it back.
    // ARGV[3] is the highest token this instance has seen: a Redis that restarted empty has lost the counter, and
    // tokens must still only grow.
    internal const string AcquireScript = DrawTokenScript + "\n" + """
        local value = ARGV[1] .. '|' .. token
        redis.call('SET', KEYS[1], value, 'NX', 'PX', ARGV[2])
        redis.call('DEL', KEYS[3])
        return {token, value, tonumber(ARGV[2])}
        """;

    // The first half of an acquire, shared with the quorum store's claim: report a held key, refuse an empty one that
    // may not be taken, otherwise leave a fresh token (above the floor ARGV[3]) in the local 'token'.
    internal const string DrawTokenScript = """
        local current = redis.call('GET', KEYS[1])
        if current then return {0, current, redis.call('PTTL', KEYS[1])} end
        if ARGV[4] ~= '1' and redis.call('EXISTS', KEYS[3]) == 0 then return {0, '', -2} end
        local token = redis.call('INCR', KEYS[2])
        local floor = tonumber(ARGV[3])
        if token <= floor then
          token = floor + 1
          redis.call('SET', KEYS[2], token)
        end
        """;

    // 1 renewed, 0 missing (never re-created), -1 held by someone else.
    internal const string RenewScript = """
        local current = redis.call('GET', KEYS[1])
        if not current then return 0 end
        if current ~= ARGV[1] then return -1 end
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
        return 1
        """;

    // Compare-and-DEL, leaving a release marker (KEYS[2], expiring like a lease) so that contenders see the lease was
    // handed back, not lost, and take it at once. The lease key itself is deleted as the reference does, so its
    // instances in a mixed-version rollout see a free key too.
    internal const string ReleaseScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          redis.call('DEL', KEYS[1])
          redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
          return 1
        end
        return 0
        """;

    internal const string ReadScript = """
        return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}
        """;

    private readonly IConnectionMultiplexer _redis;
    private readonly RedisKey _key;
    private readonly RedisKey _fencingKey;
    private readonly RedisKey _releasedKey;
    private readonly int _database;

    /// <param name="tokens">Shared by the nodes of a quorum; a lone node keeps its own.</param>
    public RedisLeaseStore(IConnectionMultiplexer redis, string key, int database = -1, TokenHighWater? tokens = null)
    {
        _tokens = tokens ?? new TokenHighWater();
        ArgumentException.ThrowIfNullOrWhiteSpace(key);
        _redis = redis;
        _key = key;
        _fencingKey = key + ":fencing";
        _releasedKey = key + ":released";
        _database = database;
    }

    public string Key => _key!;

    private IDatabase Db => _redis.GetDatabase(_database);

    private readonly TokenHighWater _tokens;

    /// <summary>The highest fencing token seen in any holder value, ours or another instance's.</summary>
    public long HighestTokenSeen => _tokens.Value;

    public async Task<AcquireResult> TryAcquireAsync(string instanceId, TimeSpan ttl, bool mayTakeEmptyKey, CancellationToken cancellationToken)
    {
        var result = await Db.ScriptEvaluateAsync(AcquireScript, [_key, _fencingKey, _releasedKey],
            [instanceId, (long)ttl.TotalMilliseconds, HighestTokenSeen, mayTakeEmptyKey ? "1" : "0"]).WaitAsync(cancellationToken).ConfigureAwait(false);
        var parts = (RedisResult[])result!;
        var token = (long)parts[0];
        var value = (string?)parts[1];
        var pttl = (long)parts[2];
        _tokens.Observe(value);
        if (token > 0) return new AcquireResult(token, value, pttl);
        return string.IsNullOrEmpty(value) ? AcquireResult.EmptyKeyRefused : new AcquireResult(null, value, pttl);
    }

    public async Task<RenewResult> RenewAsync(string value, TimeSpan ttl, CancellationToken cancellationToken)
    {
        var result = await Db.ScriptEvaluateAsync(RenewScript, [_key],
            [value, (long)ttl.TotalMilliseconds]).WaitAsync(cancellationToken).ConfigureAwait(false);
        return (long)result switch
        {
            1 => RenewResult.Renewed,
            0 => RenewResult.Missing,
            _ => RenewResult.HeldByOther,
        };
    }

    public async Task<bool> ReleaseAsync(string value, TimeSpan ttl, CancellationToken cancellationToken)
    {
        var result = await Db.ScriptEvaluateAsync(ReleaseScript, [_key, _releasedKey], [value, (long)ttl.TotalMilliseconds])
            .WaitAsync(cancellationToken).ConfigureAwait(false);
        return (long)result == 1;
    }

    public async Task<LeaseHolder> ReadHolderAsync(CancellationToken cancellationToken)
    {
        var result = await Db.ScriptEvaluateAsync(ReadScript, [_key])
            .WaitAsync(cancellationToken).ConfigureAwait(false);
        var parts = (RedisResult[])result!;
        var value = parts[0].IsNull ? null : (string?)parts[0];
        _tokens.Observe(value);
        return new LeaseHolder(value, (long)parts[1]);
    }
}
