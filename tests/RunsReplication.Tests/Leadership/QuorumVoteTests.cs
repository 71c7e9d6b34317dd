using RunsReplication.Leadership;

namespace RunsReplication.Tests.Leadership;

/// <summary>The quorum lease's rules, answer by answer (the store against real nodes is tested in the host tests).</summary>
public sealed class QuorumVoteTests
{
    private static readonly NodeClaim Refused = NodeClaim.EmptyRefused;
    private static NodeClaim Free(long token) => NodeClaim.Free(token);
    private static NodeClaim Held(string holder, long pttl = 1000) => NodeClaim.Held(holder, pttl);

    [Theory]
    [InlineData(3, 2)]
    [InlineData(4, 3)]
    [InlineData(5, 3)]
    public void Majority_is_more_than_half(int nodes, int majority) => Assert.Equal(majority, QuorumVote.Majority(nodes));

    [Fact]
    public void Tokens_from_a_majority_take_the_key_with_the_highest_without_waiting_for_the_rest()
    {
        Assert.Null(QuorumVote.Claim([Free(4)], 0, 3));
        var take = Assert.IsType<QuorumVote.ClaimOutcome.Take>(QuorumVote.Claim([Free(4), Free(7)], 0, 3));
        Assert.Equal(7, take.Token);
    }

    [Fact]
    public void A_majority_holding_one_value_is_followed_with_its_smallest_pttl()
    {
        var held = Assert.IsType<QuorumVote.ClaimOutcome.Held>(QuorumVote.Claim([Held("a|3", 900), Held("a|3", 400)], 0, 3));
        Assert.Equal(new AcquireResult(null, "a|3", 400), held.Result);
        // One node restarted empty does not free a key two nodes still hold.
        held = Assert.IsType<QuorumVote.ClaimOutcome.Held>(QuorumVote.Claim([Free(1), Held("a|3"), Held("a|3")], 0, 3));
        Assert.Equal("a|3", held.Result.Holder);
    }

    [Fact]
    public void Empty_keys_that_may_not_be_taken_yet_are_reported_as_refused_once_everyone_answered()
    {
        Assert.Null(QuorumVote.Claim([Free(2), Refused], 0, 3));
        var notNow = Assert.IsType<QuorumVote.ClaimOutcome.NotNow>(QuorumVote.Claim([Free(2), Refused, Held("a|1")], 0, 3));
        Assert.Equal(AcquireResult.EmptyKeyRefused, notNow.Result);
    }

    [Fact]
    public void A_split_reports_the_most_common_holder_and_takes_nothing()
    {
        var notNow = Assert.IsType<QuorumVote.ClaimOutcome.NotNow>(QuorumVote.Claim([Held("a|1", 300), Held("b|2"), Held("a|1", 200), Free(3)], 1, 5));
        Assert.Equal(new AcquireResult(null, "a|1", 200), notNow.Result);
    }

    [Fact]
    public void Too_few_answers_to_decide_anything_is_an_error_not_a_free_key()
    {
        Assert.Throws<RedisQuorumException>(() => QuorumVote.Claim([Free(1)], 2, 3));
        Assert.Throws<RedisQuorumException>(() => QuorumVote.Claim([], 3, 3));
    }

    [Theory]
    [InlineData(2, 0, 3, true)]   // two of three took it
    [InlineData(1, 0, 3, null)]   // one more could still land
    [InlineData(1, 1, 3, null)]
    [InlineData(1, 2, 3, false)]  // the third refused or failed: no majority possible
    [InlineData(0, 2, 3, false)]
    [InlineData(2, 0, 5, null)]
    [InlineData(2, 3, 5, false)]
    public void A_take_wins_on_a_majority_and_loses_once_one_is_impossible(int took, int refusedOrFailed, int nodes, bool? expected) =>
        Assert.Equal(expected, QuorumVote.Took(took, refusedOrFailed, nodes));

    [Theory]
    [InlineData(2, 0, 0, 0, RenewResult.Renewed)]
    [InlineData(2, 1, 0, 0, RenewResult.Renewed)]      // a node that lost the key does not end the term
    [InlineData(1, 1, 0, 0, null)]                     // the third decides
    [InlineData(1, 1, 0, 1, null)]                     // errors alone decide nothing
    [InlineData(0, 2, 0, 0, RenewResult.Missing)]
    [InlineData(1, 1, 1, 0, RenewResult.HeldByOther)]
    [InlineData(0, 1, 1, 0, RenewResult.HeldByOther)]
    public void A_renewal_holds_on_a_majority_and_is_refused_once_one_is_impossible(int renewed, int missing, int other, int failed, RenewResult? expected) =>
        Assert.Equal(expected, QuorumVote.Renew(renewed, missing, other, failed, 3));

    [Fact]
    public void The_holder_is_what_a_majority_holds()
    {
        Assert.Equal(new LeaseHolder("a|1", 100), QuorumVote.Read([new("a|1", 500), new(null, -2), new("a|1", 100)], 3));
        Assert.Equal(new LeaseHolder(null, -2), QuorumVote.Read([new("a|1", 500), new(null, -2), new("b|2", 100)], 3));
    }
}
