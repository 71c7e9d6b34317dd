using System.Text.RegularExpressions;

namespace RunsReplication.ClickHouse;

/// <summary>
/// ClickHouse refused a request. <see cref="Code"/> is ClickHouse's error code from the <c>Code: N.</c> text
/// (null for transport failures), which tells a retryable outage from a permanent mistake and from bad data.
/// </summary>
public sealed partial class ClickHouseException : Exception
{
    // Mistakes that retrying cannot fix without an operator: authentication, missing database/table/column,
    // syntax, privileges, read-only.
    private static readonly HashSet<int> PermanentCodes = [16, 47, 60, 62, 81, 164, 192, 193, 194, 195, 497, 516];

    // The data of one row could not be read into its column: isolate the row, keep its batch-mates. Resource
    // exhaustion (173 CANNOT_ALLOCATE_MEMORY, 241 MEMORY_LIMIT_EXCEEDED, 252 TOO_MANY_PARTS) is not here: it says
    // nothing about the rows, and isolating would end with rows dropped; it is retried like an outage.
    private static readonly HashSet<int> DataCodes = [6, 26, 27, 32, 33, 38, 41, 53, 69, 70, 72, 117, 130, 131, 1001];

    public int? Code { get; }
    public int? HttpStatus { get; }

    public ClickHouseException(string message, int? code, int? httpStatus, Exception? inner = null)
        : base(message, inner)
    {
        Code = code;
        HttpStatus = httpStatus;
    }

    public bool IsPermanent => Code is { } c && PermanentCodes.Contains(c);

    public bool IsDataError => Code is { } c && DataCodes.Contains(c);

    public static ClickHouseException FromResponse(int httpStatus, string body, string? codeHeader)
    {
        int? code = int.TryParse(codeHeader, out var fromHeader) ? fromHeader : null;
        if (code is null && CodePattern().Match(body) is { Success: true } match)
            code = int.Parse(match.Groups[1].Value);
        var text = body.Length > 2000 ? body[..2000] + "…" : body.TrimEnd();
        return new ClickHouseException($"ClickHouse answered HTTP {httpStatus}: {text}", code, httpStatus);
    }

    [GeneratedRegex(@"Code:\s*(\d+)")]
    private static partial Regex CodePattern();
}
