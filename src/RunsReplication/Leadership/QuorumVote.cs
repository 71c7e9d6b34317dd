namespace RunsReplication.Leadership;

/// <summary>One node's answer to the first step of a quorum acquire.</summary>
/// <param name="Token">A fencing token the node drew because its key was empty and may be taken; 0 otherwise.</param>
/// <param name="Holder">The value the key holds; null when it is empty.</param>
/// <param name="PttlMs">The held key's PTTL by the node's clock.</param>
public readonly record struct NodeClaim(long Token, string? Holder, long PttlMs)
{
    public static NodeClaim Free(long token) => new(token, null, -1);
    public static readonly NodeClaim EmptyRefused = new(0, null, -2);
    public static NodeClaim Held(string holder, long pttlMs) => new(0, holder, pttlMs);
}

/// <summary>
/// The decisions of the quorum lease (<see cref="QuorumLeaseStore"/>) as pure functions of the answers that came in
/// so far, so every rule is tested without a network. Each returns null while the answers still missing could change
/// the outcome. A node that failed or has not answered counts for nobody.
/// </summary>
public static class QuorumVote
{
    public static int Majority(int nodes) => nodes / 2 + 1;

    /// <summary>What the first step of an acquire found.</summary>
    public abstract record ClaimOutcome
    {
        private ClaimOutcome() { }
        /// <summary>A majority drew tokens: take the key with the highest of them.</summary>
        public sealed record Take(long Token) : ClaimOutcome;
        /// <summary>A majority holds one value (the smallest PTTL among them: when a majority will have let it go).</summary>
        public sealed record Held(AcquireResult Result) : ClaimOutcome;
        /// <summary>No majority for anything, or only empty keys that may not be taken yet.</summary>
        public sealed record NotNow(AcquireResult Result) : ClaimOutcome;
    }

    public static ClaimOutcome? Claim(IReadOnlyList<NodeClaim> answers, int failed, int nodes)
    {
        var majority = Majority(nodes);
        var tokens = answers.Where(a => a.Token > 0).Select(a => a.Token).ToList();
        if (tokens.Count >= majority) return new ClaimOutcome.Take(tokens.Max());
        if (Read(answers.Select(a => new LeaseHolder(a.Holder, a.PttlMs)).ToList(), nodes) is { Value: { } holder } held)
            return new ClaimOutcome.Held(new AcquireResult(null, holder, held.PttlMs));
        if (answers.Count + failed < nodes) return null;

        // Everyone answered (or failed) without a majority to take or to follow.
        var empty = answers.Count(a => a.Holder is null);
        if (empty >= majority) return new ClaimOutcome.NotNow(AcquireResult.EmptyKeyRefused);
        // Split between holders, or too few answers: report the most common holder, whose key expires on its own.
        var top = answers.Where(a => a.Holder is not null).GroupBy(a => a.Holder).OrderByDescending(g => g.Count()).FirstOrDefault();
        if (top is not null) return new ClaimOutcome.NotNow(new AcquireResult(null, top.Key, top.Min(a => a.PttlMs)));
        throw new RedisQuorumException($"leader lease: {answers.Count} of {nodes} Redis nodes answered, {majority} needed");
    }

    /// <summary>The second step: did the key land on a majority? Null while undecided.</summary>
    public static bool? Took(int took, int refusedOrFailed, int nodes)
    {
        var majority = Majority(nodes);
        if (took >= majority) return true;
        if (nodes - refusedOrFailed < majority) return false;
        return null;
    }

    /// <summary>
    /// A renewal: renewed on a majority, or refused once a majority became impossible. Errors alone decide nothing
    /// (null when everyone answered): the renewer retries until its deadline, exactly as with one node that fails.
    /// </summary>
    public static RenewResult? Renew(int renewed, int missing, int heldByOther, int failed, int nodes)
    {
        var majority = Majority(nodes);
        if (renewed >= majority) return RenewResult.Renewed;
        var refused = missing + heldByOther;
        if (nodes - refused < majority) return heldByOther > 0 ? RenewResult.HeldByOther : RenewResult.Missing;
        return null;
    }

    /// <summary>The value a majority holds, with the smallest PTTL among them; (null, -2) when no majority holds one.</summary>
    public static LeaseHolder Read(IReadOnlyList<LeaseHolder> answers, int nodes)
    {
        var held = answers.Where(a => a.Value is not null).GroupBy(a => a.Value)
            .FirstOrDefault(g => g.Count() >= Majority(nodes));
        return held is null ? new LeaseHolder(null, -2) : new LeaseHolder(held.Key, held.Min(a => a.PttlMs));
    }
}

/// <summary>Too few Redis nodes answered for the quorum lease to decide anything.</summary>
public sealed class RedisQuorumException(string message) : Exception(message);
