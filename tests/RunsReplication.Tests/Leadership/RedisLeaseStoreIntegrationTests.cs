using Microsoft.Extensions.Logging.Abstractions;
using RunsReplication.Leadership;
using StackExchange.Redis;

namespace RunsReplication.Tests.Leadership;

/// <summary>
/// Against a real redis-server at RUN_REPLICATION_REDIS_HOST / RUN_REPLICATION_REDIS_PORT (default 127.0.0.1:6379).
/// Exclude with <c>--filter Category!=Integration</c> when no Redis is available.
/// </summary>
[Trait("Category", "Integration")]
public sealed class RedisLeaseStoreIntegrationTests : IAsyncLifetime
{
    private IConnectionMultiplexer _redis = null!;
    private readonly string _key = "it:lease:" + Guid.NewGuid().ToString("N");
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(30);

    public async Task InitializeAsync()
    {
        var host = Environment.GetEnvironmentVariable("RUN_REPLICATION_REDIS_HOST") ?? "127.0.0.1";
        var port = int.Parse(Environment.GetEnvironmentVariable("RUN_REPLICATION_REDIS_PORT") ?? "6379");
        _redis = await RedisConnectionFactory.ConnectAsync(new RedisConnectionSettings(host, port, TlsDisabled: true), NullLogger.Instance);
        Assert.True(_redis.IsConnected, $"no Redis at {host}:{port}");
    }

    public async Task DisposeAsync()
    {
        await _redis.GetDatabase().KeyDeleteAsync([_key, _key + ":fencing", _key + ":released"]);
        await _redis.DisposeAsync();
    }

    private IDatabase Db => _redis.GetDatabase();

    [Fact]
    public async Task Acquire_is_NX_and_the_fencing_token_increments()
    {
        var store = new RedisLeaseStore(_redis, _key);
        var a = await store.TryAcquireAsync("a", Ttl, true, default);
        Assert.Equal(new AcquireResult(1, "a|1", 30_000), a);
        Assert.Equal("a|1", (string?)await Db.StringGetAsync(_key));
        Assert.InRange((long)(await Db.KeyTimeToLiveAsync(_key))!.Value.TotalMilliseconds, 1, 30_000);

        var held = await store.TryAcquireAsync("b", Ttl, true, default);
        Assert.Equal("a|1", held.Holder);
        Assert.Null(held.FencingToken);
        Assert.InRange(held.PttlMs, 1, 30_000);
        Assert.Equal(1, (long)await Db.StringGetAsync(_key + ":fencing")); // no INCR on a failed acquire

        await Db.KeyDeleteAsync(_key);
        // An empty key is taken only when the caller allows it (see HolderWatch); nothing is written otherwise.
        Assert.Equal(AcquireResult.EmptyKeyRefused, await store.TryAcquireAsync("b", Ttl, false, default));
        Assert.False(await Db.KeyExistsAsync(_key));
        Assert.Equal(1, (long)await Db.StringGetAsync(_key + ":fencing"));
        Assert.Equal(new AcquireResult(2, "b|2", 30_000), await store.TryAcquireAsync("b", Ttl, true, default));
    }

    [Fact]
    public async Task Tokens_keep_growing_after_Redis_loses_the_counter()
    {
        var store = new RedisLeaseStore(_redis, _key);
        Assert.Equal(1, (await store.TryAcquireAsync("a", Ttl, true, default)).FencingToken);
        await Db.KeyDeleteAsync(_key);
        Assert.Equal(2, (await store.TryAcquireAsync("a", Ttl, true, default)).FencingToken);

        // Redis restarted empty: key and counter are gone. The store remembers token 2, so the next is 3, not 1.
        await Db.KeyDeleteAsync([_key, _key + ":fencing"]);
        Assert.Equal(3, (await store.TryAcquireAsync("b", Ttl, true, default)).FencingToken);

        // Another instance that only saw the holder's value learns the floor from it too.
        await Db.KeyDeleteAsync(_key + ":fencing");
        var other = new RedisLeaseStore(_redis, _key);
        Assert.Null((await other.TryAcquireAsync("c", Ttl, true, default)).FencingToken);
        await Db.KeyDeleteAsync(_key);
        Assert.Equal(4, (await other.TryAcquireAsync("c", Ttl, true, default)).FencingToken);
    }

    [Fact]
    public async Task Renew_extends_only_our_key_and_never_recreates_a_deleted_one()
    {
        var store = new RedisLeaseStore(_redis, _key);
        var a = await store.TryAcquireAsync("a", TimeSpan.FromSeconds(5), true, default);
        Assert.Equal(RenewResult.Renewed, await store.RenewAsync(a.Holder!, Ttl, default));
        Assert.True((await Db.KeyTimeToLiveAsync(_key))!.Value > TimeSpan.FromSeconds(20));

        Assert.Equal(RenewResult.HeldByOther, await store.RenewAsync("b|9", Ttl, default));
        Assert.Equal(a.Holder, (string?)await Db.StringGetAsync(_key));

        await Db.KeyDeleteAsync(_key);
        Assert.Equal(RenewResult.Missing, await store.RenewAsync(a.Holder!, Ttl, default));
        Assert.False(await Db.KeyExistsAsync(_key));
    }

    [Fact]
    public async Task Release_deletes_only_our_value_and_its_marker_lets_anyone_take_the_key()
    {
        var store = new RedisLeaseStore(_redis, _key);
        var a = await store.TryAcquireAsync("a", Ttl, true, default);
        Assert.False(await store.ReleaseAsync("b|1", TimeSpan.FromSeconds(5), default));
        var read = await store.ReadHolderAsync(default);
        Assert.Equal(a.Holder, read.Value);
        Assert.InRange(read.PttlMs, 1, 30_000);

        Assert.True(await store.ReleaseAsync(a.Holder!, TimeSpan.FromSeconds(5), default));
        Assert.Equal(new LeaseHolder(null, -2), await store.ReadHolderAsync(default)); // compare-and-DEL
        Assert.Equal("a|1", (string?)await Db.StringGetAsync(_key + ":released"));
        Assert.InRange((long)(await Db.KeyTimeToLiveAsync(_key + ":released"))!.Value.TotalMilliseconds, 1, 5_000); // it expires like a lease
        Assert.False(await store.ReleaseAsync(a.Holder!, TimeSpan.FromSeconds(5), default));
        Assert.Equal(RenewResult.Missing, await store.RenewAsync(a.Holder!, Ttl, default)); // a released term cannot renew
        Assert.False(await Db.KeyExistsAsync(_key));

        // A released key is free even to a contender that may not take an empty key: the handover was deliberate.
        Assert.Equal(new AcquireResult(2, "b|2", 30_000), await store.TryAcquireAsync("b", Ttl, false, default));
        Assert.False(await Db.KeyExistsAsync(_key + ":released")); // consumed: a later loss is judged afresh
    }

    [Fact]
    public async Task RedisLeadership_renews_on_real_time_and_steps_down_when_the_key_is_deleted()
    {
        var options = new LeaderLeaseOptions { Key = _key, InstanceId = "it", LockTimeoutMs = 3000, ExtendIntervalMs = 500, RetryIntervalMs = 100, CallTimeoutMs = 500 };
        await using var leadership = new RedisLeadership(_redis, options, NullLogger<RedisLeadership>.Instance);
        var term = await leadership.AcquireAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal("it|1", term.HolderValue);

        await Task.Delay(3500); // longer than the TTL: only renewals keep it
        Assert.False(term.Lost.IsCancellationRequested);
        Assert.Equal(LeaseRole.Leader, leadership.Status.Role);
        Assert.Equal("it|1", (string?)await Db.StringGetAsync(_key));

        await Db.KeyDeleteAsync(_key);
        Assert.Equal(LeaseLossReason.RenewalRefused, await term.Ended.WaitAsync(TimeSpan.FromSeconds(2)));
        await Task.Delay(300);
        Assert.False(await Db.KeyExistsAsync(_key)); // not re-created
        term.ReportWorkStopped();

        var second = await leadership.AcquireAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(2, second.FencingToken);
        await second.ReleaseAsync();
        Assert.False(await Db.KeyExistsAsync(_key));
    }
}
