using StackExchange.Redis;

namespace RunsReplication.Leadership;

/// <summary>
/// The lease over several independent Redis nodes (Redlock): a lease exists when a majority of nodes hold its value,
/// so one node restarting empty, pausing or dropping off the network neither ends a term nor lets a second leader in.
/// <para>
/// Acquire is two steps, because every node must store the same value while each has its own fencing counter:
/// first each node reports its holder, or (empty and free) draws a token by INCR; with tokens from a majority the
/// highest becomes the term's token, then each node takes the key with SET NX and raises its counter to it. Any two
/// majorities share a node, so a later winner draws above every earlier winner's token. A take that lands on too few
/// nodes is handed back at once. Renew and release are the single-node scripts, judged by majority; a node that lost
/// the key is not written again (the key is never re-created), it rejoins at the next term.
/// </para>
/// <para>The caller judges time: the lease is led from when the acquire was sent, as with one node.</para>
/// </summary>
public sealed class QuorumLeaseStore : ILeaseStore
{
    // {token, '', -1} drawn on an empty free key; {0, value, pttl} when held; {0, '', -2} empty but not to be taken yet.
    // Same arguments as the single-node acquire (ARGV[3] the highest token seen, ARGV[4] may take an empty key).
    internal const string ClaimScript = RedisLeaseStore.DrawTokenScript + "\n" + """
        return {token, '', -1}
        """;

    // 1 when the key was empty and now holds ARGV[1] (the counter raised to the term's token ARGV[3]), 0 otherwise.
    internal const string TakeScript = """
        if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
        local token = tonumber(ARGV[3])
        if (tonumber(redis.call('GET', KEYS[2])) or 0) < token then redis.call('SET', KEYS[2], token) end
        redis.call('DEL', KEYS[3])
        return 1
        """;

    private readonly IReadOnlyList<IDatabase> _nodes;
    private readonly IReadOnlyList<RedisLeaseStore> _single;
    private readonly RedisKey[] _keys;
    private readonly TokenHighWater _tokens = new();

    public QuorumLeaseStore(IReadOnlyList<IConnectionMultiplexer> nodes, string key)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(key);
        if (nodes.Count < 3) throw new ArgumentException("A quorum lease needs at least three Redis nodes.", nameof(nodes));
        _nodes = nodes.Select(n => n.GetDatabase()).ToList();
        _single = nodes.Select(n => new RedisLeaseStore(n, key, tokens: _tokens)).ToList();
        _keys = [key, key + ":fencing", key + ":released"];
    }

    public int Nodes => _nodes.Count;

    public long HighestTokenSeen => _tokens.Value;

    public async Task<AcquireResult> TryAcquireAsync(string instanceId, TimeSpan ttl, bool mayTakeEmptyKey, CancellationToken cancellationToken)
    {
        var floor = HighestTokenSeen;
        var claims = new Replies<NodeClaim>(_nodes.Select(async db =>
        {
            var parts = (RedisResult[])(await db.ScriptEvaluateAsync(ClaimScript, _keys, ["", 0, floor, mayTakeEmptyKey ? "1" : "0"]).ConfigureAwait(false))!;
            var holder = (string?)parts[1];
            return string.IsNullOrEmpty(holder)
                ? (long)parts[2] == -2 ? NodeClaim.EmptyRefused : NodeClaim.Free((long)parts[0])
                : NodeClaim.Held(holder, (long)parts[2]);
        }));
        QuorumVote.ClaimOutcome? claim;
        while ((claim = QuorumVote.Claim(claims.Answers, claims.Failed, Nodes)) is null)
            await claims.NextAsync(cancellationToken).ConfigureAwait(false);
        foreach (var answer in claims.Answers) _tokens.Observe(answer.Holder);
        switch (claim)
        {
            case QuorumVote.ClaimOutcome.Held held: return held.Result;
            case QuorumVote.ClaimOutcome.NotNow notNow: return notNow.Result;
        }

        var token = ((QuorumVote.ClaimOutcome.Take)claim).Token;
        _tokens.Observe(token);
        var value = $"{instanceId}|{token}";
        var takes = new Replies<bool>(_nodes.Select(async db =>
            (long)(await db.ScriptEvaluateAsync(TakeScript, _keys, [value, (long)ttl.TotalMilliseconds, token]).ConfigureAwait(false)) == 1));
        bool? won;
        while ((won = QuorumVote.Took(takes.Answers.Count(t => t), takes.Answers.Count(t => !t) + takes.Failed, Nodes)) is null)
            await takes.NextAsync(cancellationToken).ConfigureAwait(false);
        if (won.Value) return new AcquireResult(token, value, (long)ttl.TotalMilliseconds);

        // Landed on too few nodes (a race with another contender): give back what we took, report who got there.
        await ReleaseAsync(value, ttl, cancellationToken).ConfigureAwait(false);
        var holder = await ReadHolderAsync(cancellationToken).ConfigureAwait(false);
        return holder.Value is null ? AcquireResult.EmptyKeyRefused : new AcquireResult(null, holder.Value, holder.PttlMs);
    }

    public async Task<RenewResult> RenewAsync(string value, TimeSpan ttl, CancellationToken cancellationToken)
    {
        var renewals = new Replies<RenewResult>(_single.Select(s => s.RenewAsync(value, ttl, CancellationToken.None)));
        while (true)
        {
            var ok = renewals.Answers;
            var renewed = ok.Count(r => r == RenewResult.Renewed);
            if (QuorumVote.Renew(renewed, ok.Count(r => r == RenewResult.Missing), ok.Count(r => r == RenewResult.HeldByOther),
                    renewals.Failed, Nodes) is { } decided)
                return decided;
            if (renewals.AllIn)
                throw new RedisQuorumException($"leader lease renewal: {renewed} of {Nodes} Redis nodes renewed, {renewals.Failed} failed");
            await renewals.NextAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Compare-and-DEL on every node that answers; true when any of them held our value.</summary>
    public async Task<bool> ReleaseAsync(string value, TimeSpan ttl, CancellationToken cancellationToken)
    {
        var releases = _single.Select(async s =>
        {
            try { return await s.ReleaseAsync(value, ttl, cancellationToken).ConfigureAwait(false); }
            catch (Exception) when (!cancellationToken.IsCancellationRequested) { return false; }
        });
        return (await Task.WhenAll(releases).ConfigureAwait(false)).Any(released => released);
    }

    public async Task<LeaseHolder> ReadHolderAsync(CancellationToken cancellationToken)
    {
        var reads = new Replies<LeaseHolder>(_single.Select(s => s.ReadHolderAsync(CancellationToken.None)));
        while (true)
        {
            var holder = QuorumVote.Read(reads.Answers, Nodes);
            if (holder.Value is not null || reads.AllIn) return holder;
            await reads.NextAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Calls to every node at once, judged as answers arrive: a majority decides without waiting for a node that hangs
    /// (its call ends on the client's own timeout). A failed call counts as no answer.
    /// </summary>
    private sealed class Replies<T>
    {
        private readonly List<Task<T>> _pending;
        private readonly List<T> _answers = [];
        private int _failed;

        public Replies(IEnumerable<Task<T>> calls) => _pending = calls.ToList();

        public IReadOnlyList<T> Answers => _answers;
        public int Failed => _failed;
        public bool AllIn => _pending.Count == 0;

        /// <summary>Waits for the next answer (or failure); callers decide after each one.</summary>
        public async Task NextAsync(CancellationToken cancellationToken)
        {
            if (_pending.Count == 0) throw new InvalidOperationException("Quorum decision is undefined with every answer in.");
            var done = await Task.WhenAny(_pending).WaitAsync(cancellationToken).ConfigureAwait(false);
            _pending.Remove(done);
            if (done.IsCompletedSuccessfully) _answers.Add(done.Result);
            else { _failed++; _ = done.Exception; }
        }
    }
}
