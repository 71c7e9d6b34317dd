using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace RunsReplication.Mapping;

/// <summary>
/// Trigger.dev-compatible error fingerprint: SHA-256 of <c>type:normalisedMessage:normalisedStack</c>, first 16 lower
/// hex characters. Only computed for the failure statuses. The regular expressions run in ECMAScript mode so that
/// <c>\d</c>, <c>\w</c>, <c>\b</c> and <c>\s</c> behave like the JavaScript originals (ASCII classes).
/// </summary>
public static partial class ErrorFingerprint
{
    private const RegexOptions Js = RegexOptions.ECMAScript | RegexOptions.CultureInvariant;

    /// <summary>Statuses for which a fingerprint is computed.</summary>
    public static bool IsFailureStatus(string status) => status is
        "SYSTEM_FAILURE" or "CRASHED" or "INTERRUPTED" or "COMPLETED_WITH_ERRORS" or "TIMED_OUT";

    [GeneratedRegex("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", Js | RegexOptions.IgnoreCase)]
    private static partial Regex Uuid();
    [GeneratedRegex("run_[a-zA-Z0-9]+", Js)]
    private static partial Regex RunId();
    [GeneratedRegex(@"\b[a-z]+_[a-zA-Z0-9]{8,}\b", Js)]
    private static partial Regex PrefixedId();
    [GeneratedRegex(@"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z?", Js)]
    private static partial Regex IsoTimestamp();
    [GeneratedRegex(@"\b\d{10,13}\b", Js)]
    private static partial Regex UnixTimestamp();
    [GeneratedRegex(@"https?://[^\s]+", Js)]
    private static partial Regex Url();
    [GeneratedRegex(@"\b\d{4,}\b", Js)]
    private static partial Regex NumericId();
    [GeneratedRegex(@"(?:/[^/\s]+){2,}", Js)]
    private static partial Regex UnixPath();
    [GeneratedRegex(@"[A-Z]:\\(?:[^\\]+\\)+[^\\]+", Js)]
    private static partial Regex WindowsPath();
    [GeneratedRegex(@"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Z|a-z]{2,}\b", Js)]
    private static partial Regex Email();
    [GeneratedRegex("0x[0-9a-fA-F]{8,}", Js)]
    private static partial Regex Address();
    [GeneratedRegex("\"[^\"]{20,}\"", Js)]
    private static partial Regex DoubleQuoted();
    [GeneratedRegex("'[^']{20,}'", Js)]
    private static partial Regex SingleQuoted();

    [GeneratedRegex(@":\d+:\d+", Js)]
    private static partial Regex LineCol();
    [GeneratedRegex(@"\b\d+\b", Js)]
    private static partial Regex BareNumber();
    [GeneratedRegex(@"(?:/[^/\s]+)+/([^/\s]+)", Js)]
    private static partial Regex Directories();

    /// <summary>Fingerprint of a jsonb error text, or "" when it is not a JSON object.</summary>
    public static string Compute(string? errorJson)
    {
        if (string.IsNullOrEmpty(errorJson)) return "";
        try
        {
            using var doc = JsonDocument.Parse(errorJson, new JsonDocumentOptions { MaxDepth = 1024 });
            return Compute(doc.RootElement);
        }
        catch (JsonException)
        {
            return "";
        }
    }

    public static string Compute(JsonElement error)
    {
        if (error.ValueKind != JsonValueKind.Object) return "";
        var type = FirstTruthy(error, "type", "name") ?? "Error";
        var message = FirstTruthy(error, "message", "name", "raw") ?? "";
        var stack = FirstTruthy(error, "stack", "stacktrace") ?? "";
        var input = $"{type}:{NormalizeMessage(message)}:{NormalizeStack(stack)}";
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(input), hash);
        return Convert.ToHexStringLower(hash[..8]);
    }

    public static string NormalizeMessage(string message)
    {
        if (string.IsNullOrEmpty(message)) return "";
        var m = Uuid().Replace(message, "<uuid>");
        m = RunId().Replace(m, "<run-id>");
        m = PrefixedId().Replace(m, "<id>");
        m = IsoTimestamp().Replace(m, "<timestamp>");
        m = UnixTimestamp().Replace(m, "<timestamp>");
        m = Url().Replace(m, "<url>");
        m = NumericId().Replace(m, "<id>");
        m = UnixPath().Replace(m, "<path>");
        m = WindowsPath().Replace(m, "<path>");
        m = Email().Replace(m, "<email>");
        m = Address().Replace(m, "<addr>");
        m = DoubleQuoted().Replace(m, "\"<string>\"");
        m = SingleQuoted().Replace(m, "'<string>'");
        return m;
    }

    public static string NormalizeStack(string stack)
    {
        if (string.IsNullOrEmpty(stack)) return "";
        var lines = stack.Split('\n');
        var parts = new List<string>(5);
        for (var i = 0; i < lines.Length && i < 5; i++)
        {
            var line = LineCol().Replace(lines[i], ":_:_");
            line = BareNumber().Replace(line, "_");
            line = Directories().Replace(line, "$1");
            line = line.Trim();
            if (line.Length > 0) parts.Add(line);
        }
        return string.Join('|', parts);
    }

    /// <summary>JavaScript <c>String(a || b || …)</c> over the named properties; null when none is truthy.</summary>
    private static string? FirstTruthy(JsonElement obj, params ReadOnlySpan<string> names)
    {
        foreach (var name in names)
        {
            if (!obj.TryGetProperty(name, out var v)) continue;
            switch (v.ValueKind)
            {
                case JsonValueKind.String:
                    var s = v.GetString();
                    if (!string.IsNullOrEmpty(s)) return s;
                    break;
                case JsonValueKind.Number:
                    var d = v.GetDouble();
                    if (d != 0 && !double.IsNaN(d)) return d.ToString("R", CultureInfo.InvariantCulture);
                    break;
                case JsonValueKind.True:
                    return "true";
                case JsonValueKind.Object:
                    return "[object Object]";
                case JsonValueKind.Array:
                    return string.Join(',', v.EnumerateArray().Select(e => e.ValueKind switch
                    {
                        JsonValueKind.String => e.GetString(),
                        JsonValueKind.Null => "",
                        JsonValueKind.Object => "[object Object]",
                        _ => e.GetRawText(),
                    }));
            }
        }
        return null;
    }
}
