using System.Threading.Channels;

namespace RunsReplication.Pipeline;

/// <summary>
/// Owns the <see cref="AckWatermark"/>: learns of cut and stored batches through its channel and, whenever the
/// watermark moves, hands the new LSN to <paramref name="confirm"/> (the stream's acknowledgement). Nothing is
/// confirmed after cancellation: on lease loss the token stops this stage with everything else.
/// </summary>
public sealed class Acknowledger(Action<ulong> confirm, ulong start = 0)
{
    private readonly AckWatermark _watermark = new(start);

    public ulong Confirmed => _watermark.Confirmed;

    public async Task RunAsync(ChannelReader<AckSignal> signals, CancellationToken cancellationToken)
    {
        await foreach (var signal in signals.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            if (!signal.Stored)
            {
                _watermark.Register(signal.Sequence, signal.SafeLsn);
                continue;
            }
            if (_watermark.MarkStored(signal.Sequence) && !cancellationToken.IsCancellationRequested)
                confirm(_watermark.Confirmed);
        }
    }
}
