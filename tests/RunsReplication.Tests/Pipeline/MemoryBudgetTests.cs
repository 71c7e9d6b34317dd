using RunsReplication.Pipeline;

namespace RunsReplication.Tests.Pipeline;

public sealed class MemoryBudgetTests
{
    [Fact]
    public async Task A_reservation_waits_until_enough_is_released()
    {
        var budget = new MemoryBudget(100);
        Assert.True(budget.TryReserve(60));
        Assert.False(budget.TryReserve(50));

        var waiting = budget.ReserveAsync(50, CancellationToken.None).AsTask();
        await Task.Delay(50);
        Assert.False(waiting.IsCompleted);

        budget.Release(20); // 40 used: 50 more fits
        await waiting.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(90, budget.UsedBytes);
    }

    [Fact]
    public void A_change_larger_than_the_budget_passes_when_nothing_else_is_held()
    {
        var budget = new MemoryBudget(100);
        Assert.True(budget.TryReserve(500));
        Assert.False(budget.TryReserve(1));
        budget.Release(500);
        Assert.Equal(0, budget.UsedBytes);
        Assert.True(budget.TryReserve(1));
    }

    [Fact]
    public async Task A_waiting_reservation_is_cancellable()
    {
        var budget = new MemoryBudget(10);
        budget.TryReserve(10);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => budget.ReserveAsync(5, cts.Token).AsTask());
        Assert.Equal(10, budget.UsedBytes);
    }
}
