namespace ChdbHttpServer;

/// <summary>Maps an engine error text ("Code: N. DB::Exception: ...") to the HTTP status a ClickHouse server sends.</summary>
internal static class ClickHouseError
{
    public const int AuthenticationFailed = 516;

    public static int ParseCode(string message)
    {
        // The engine's messages start with "Code: N."; anything else is reported as a generic error (code 1000).
        const string prefix = "Code: ";
        var start = message.IndexOf(prefix, StringComparison.Ordinal);
        if (start < 0)
        {
            return 1000;
        }

        start += prefix.Length;
        var end = start;
        while (end < message.Length && char.IsAsciiDigit(message[end]))
        {
            end++;
        }

        return int.TryParse(message.AsSpan(start, end - start), out var code) ? code : 1000;
    }

    public static int HttpStatus(int code) => code switch
    {
        // Same grouping as ClickHouse's HTTPHandler: client mistakes are 4xx, everything else 500.
        62 or 6 or 27 or 26 or 36 or 38 or 69 or 70 or 72 or 73 or 115 or 117 or 130 or 166 or 457 => 400,
        AuthenticationFailed or 192 or 193 or 194 => 401,
        497 or 164 => 403,
        60 or 81 or 46 or 47 => 404,
        159 or 209 or 210 => 504,
        _ => 500,
    };
}
