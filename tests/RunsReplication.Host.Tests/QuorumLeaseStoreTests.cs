using System.Diagnostics;
using RunsReplication.Host.Tests.Harness;
using RunsReplication.Leadership;
using StackExchange.Redis;

namespace RunsReplication.Host.Tests;

/// <summary>
/// The quorum lease store against three real redis-server processes, which the tests pause, and kill and start
/// again empty. A lease is what a majority holds: one node lost changes nothing, two lost end the term.
/// </summary>
[Trait("Category", "Integration")]
public sealed class QuorumLeaseStoreTests : IAsyncLifetime
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(30);
    private readonly string _key = "it:quorum:" + Guid.NewGuid().ToString("N");
    private IReadOnlyList<RedisNode> _nodes = [];
    private readonly List<LeaseStoreConnection> _connections = [];

    public async Task InitializeAsync() => _nodes = (await RedisNode.StartManyAsync(3)).Nodes;

    public async Task DisposeAsync()
    {
        foreach (var connection in _connections) await connection.DisposeAsync();
        foreach (var node in _nodes) await node.DisposeAsync();
    }

    /// <summary>A replica's view, connected as the service connects: its own connection to every node, 1 s client timeout.</summary>
    private QuorumLeaseStore Replica()
    {
        var settings = new RedisConnectionSettings("unused", 1, TlsDisabled: true,
            QuorumNodes: _nodes.Select(n => new RedisEndpoint("127.0.0.1", n.Port)).ToList());
        var connection = new LeaseStoreConnection(settings, _key);
        _connections.Add(connection);
        return (QuorumLeaseStore)connection.Store;
    }

    private async Task<string?[]> ValuesAsync()
    {
        var values = new string?[_nodes.Count];
        for (var i = 0; i < _nodes.Count; i++)
        {
            await using var c = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{_nodes[i].Port}");
            values[i] = await c.GetDatabase().StringGetAsync(_key);
        }
        return values;
    }

    /// <summary>Retries while the client reconnects to a node that was just restarted (the renewer does the same until its deadline).</summary>
    private static async Task<T> UntilAnsweredAsync<T>(Func<Task<T>> call)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try { return await call(); }
            catch (RedisQuorumException) when (deadline.Elapsed < TimeSpan.FromSeconds(10)) { await Task.Delay(200); }
        }
    }

    [Fact]
    public async Task The_lease_is_written_to_every_node_and_a_second_replica_follows_it()
    {
        var a = Replica();
        var b = Replica();
        var won = await a.TryAcquireAsync("a", Ttl, true, default);
        Assert.True(won.Acquired);
        Assert.Equal("a|1,a|1,a|1", string.Join(",", await ValuesAsync()));

        var follow = await b.TryAcquireAsync("b", Ttl, true, default);
        Assert.Equal("a|1", follow.Holder);
        Assert.InRange(follow.PttlMs, 1, 30_000);
        Assert.Equal(new LeaseHolder("a|1", follow.PttlMs), (await b.ReadHolderAsync(default)) with { PttlMs = follow.PttlMs });
        Assert.Equal(RenewResult.Renewed, await a.RenewAsync("a|1", Ttl, default));
        Assert.Equal(RenewResult.HeldByOther, await b.RenewAsync("b|1", Ttl, default));

        Assert.True(await a.ReleaseAsync("a|1", Ttl, default));
        Assert.Equal(",,", string.Join(",", await ValuesAsync()));
        // A released lease is free at once (release marker), with a higher token.
        var next = await b.TryAcquireAsync("b", Ttl, false, default);
        Assert.Equal(2, next.FencingToken);
    }

    [Fact]
    public async Task One_node_paused_or_restarted_empty_neither_ends_the_term_nor_frees_the_key()
    {
        var a = Replica();
        var b = Replica();
        var value = (await a.TryAcquireAsync("a", Ttl, true, default)).Holder!;

        _nodes[0].Pause();
        try
        {
            // The majority decides without waiting for the paused node's client timeout.
            var renew = Stopwatch.StartNew();
            Assert.Equal(RenewResult.Renewed, await a.RenewAsync(value, Ttl, default));
            Assert.True(renew.Elapsed < TimeSpan.FromMilliseconds(900), $"renewal waited {renew.Elapsed} for the paused node");
            Assert.Equal(value, (await b.TryAcquireAsync("b", Ttl, true, default)).Holder);
        }
        finally
        {
            _nodes[0].Resume();
        }

        await _nodes[1].RestartEmptyAsync();
        Assert.Equal(RenewResult.Renewed, await a.RenewAsync(value, Ttl, default));
        await UntilAnsweredAsync(() => b.ReadHolderAsync(default)); // b's connection to the restarted node is back
        Assert.Null((await ValuesAsync())[1]); // never re-created on the node that lost it
        Assert.Equal(value, (await b.TryAcquireAsync("b", Ttl, true, default)).Holder);
        Assert.Equal(value, (await b.ReadHolderAsync(default)).Value);
    }

    [Fact]
    public async Task Two_nodes_lost_end_the_term_and_the_next_token_is_still_higher()
    {
        var a = Replica();
        var b = Replica();
        Assert.Equal("a|1", (await a.TryAcquireAsync("a", Ttl, true, default)).Holder);
        Assert.Equal("a|1", (await b.TryAcquireAsync("b", Ttl, true, default)).Holder); // b has now seen token 1

        await _nodes[0].RestartEmptyAsync();
        await _nodes[1].RestartEmptyAsync();
        Assert.Equal(RenewResult.Missing, await UntilAnsweredAsync(() => a.RenewAsync("a|1", Ttl, default)));
        // Empty on a majority, without a release: not taken until the caller allows it (see HolderWatch)...
        Assert.Equal(AcquireResult.EmptyKeyRefused, await b.TryAcquireAsync("b", Ttl, false, default));
        // ...then taken with a token above every one seen, although two counters were lost.
        var won = await b.TryAcquireAsync("b", Ttl, true, default);
        Assert.True(won.FencingToken > 1, $"token {won.FencingToken}");
        Assert.Equal(RenewResult.HeldByOther, await a.RenewAsync("a|1", Ttl, default));
    }

    [Fact]
    public async Task Without_a_majority_answering_a_renewal_is_unknown_not_granted()
    {
        var a = Replica();
        var value = (await a.TryAcquireAsync("a", Ttl, true, default)).Holder!;
        _nodes[0].Pause();
        _nodes[1].Pause();
        try
        {
            await Assert.ThrowsAsync<RedisQuorumException>(() => a.RenewAsync(value, Ttl, default));
            // One node's word is not a lease: a contender that hears only it follows, and wins nothing.
            var contender = await Replica().TryAcquireAsync("b", Ttl, true, default);
            Assert.False(contender.Acquired);
            Assert.Equal(value, contender.Holder);
        }
        finally
        {
            _nodes[0].Resume();
            _nodes[1].Resume();
        }
        Assert.Equal(RenewResult.Renewed, await a.RenewAsync(value, Ttl, default));
    }

    [Fact]
    public async Task Replicas_racing_for_a_free_key_elect_one_at_a_time_with_growing_tokens()
    {
        var replicas = Enumerable.Range(0, 4).Select(_ => Replica()).ToList();
        long last = 0;
        for (var round = 0; round < 20; round++)
        {
            var results = await Task.WhenAll(replicas.Select((r, i) => r.TryAcquireAsync($"r{i}", Ttl, true, default)));
            var winners = results.Where(r => r.Acquired).ToList();
            Assert.True(winners.Count <= 1, $"round {round}: {winners.Count} winners");
            var holder = await replicas[0].ReadHolderAsync(default);
            if (winners.Count == 1)
            {
                Assert.Equal(winners[0].Holder, holder.Value);
                Assert.True(winners[0].FencingToken > last, $"token {winners[0].FencingToken} after {last}");
                last = winners[0].FencingToken!.Value;
                Assert.True(await replicas[int.Parse(winners[0].Holder!.Split('|')[0][1..])].ReleaseAsync(winners[0].Holder!, Ttl, default));
            }
            else
            {
                // A split race leaves nobody on a majority; the partial takes were handed back.
                Assert.Null(holder.Value);
            }
        }
        Assert.True(last > 0, "nobody ever won");
    }
}
