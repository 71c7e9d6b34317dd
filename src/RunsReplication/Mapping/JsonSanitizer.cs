using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace RunsReplication.Mapping;

/// <summary>What <see cref="JsonSanitizer"/> changed. <see cref="None"/> means the input came back unchanged.</summary>
[Flags]
public enum JsonSanitizeChanges
{
    None = 0,
    /// <summary>One or more unpaired UTF-16 surrogates (an escape such as <c>\ud800</c>) were replaced.</summary>
    LoneSurrogate = 1,
    /// <summary>One or more integers outside the Int64/UInt64 range were turned into strings.</summary>
    IntegerOutOfRange = 2,
    /// <summary>The value nests deeper than the limit; the result is <c>{}</c>.</summary>
    TooDeep = 4,
    /// <summary>The input is not a single valid JSON value; the result is <c>{}</c>.</summary>
    Invalid = 8,
}

/// <summary>What replaces an unpaired UTF-16 surrogate.</summary>
public enum LoneSurrogateReplacement
{
    /// <summary>The text <c>[invalid-utf16]</c> (what Trigger.dev's recovery path writes).</summary>
    Sentinel = 0,
    /// <summary>U+FFFD.</summary>
    ReplacementCharacter = 1,
}

/// <summary>
/// Makes JSON text acceptable to ClickHouse's JSON type. A validating pre-scan (<see cref="Utf8JsonReader"/>, no
/// allocations beyond a pooled UTF-8 buffer) finds problems; valid input without problems is returned as the very
/// same string instance. Only when something must change is the value rewritten token by token with
/// <see cref="Utf8JsonWriter"/>. Thread-safe (static, stateless).
/// </summary>
public static class JsonSanitizer
{
    public const int DefaultMaxDepth = 256;
    public const string InvalidUtf16Sentinel = "[invalid-utf16]";
    public const string EmptyObject = "{}";

    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = false,
        SkipValidation = true,
    };

    /// <summary>
    /// Returns JSON text ClickHouse accepts: the input itself when nothing is wrong, a rewritten copy when
    /// surrogates or huge integers had to be fixed, or <c>{}</c> when the input is invalid or nests deeper
    /// than <paramref name="maxDepth"/>.
    /// </summary>
    public static string Sanitize(string json, out JsonSanitizeChanges changes, int maxDepth = DefaultMaxDepth,
        LoneSurrogateReplacement replacement = LoneSurrogateReplacement.Sentinel)
    {
        ArgumentNullException.ThrowIfNull(json);
        if (maxDepth < 1) throw new ArgumentOutOfRangeException(nameof(maxDepth));

        // Raw (unescaped) unpaired surrogate chars cannot come from PostgreSQL text, but a .NET string can hold
        // them; UTF-8 encoding turns them into U+FFFD, so a rewrite from the bytes fixes them.
        var rawLoneSurrogate = HasRawLoneSurrogate(json);

        byte[]? rented = null;
        var maxBytes = Encoding.UTF8.GetMaxByteCount(json.Length);
        Span<byte> buffer = maxBytes <= 512 ? stackalloc byte[512] : (rented = ArrayPool<byte>.Shared.Rent(maxBytes));
        try
        {
            var length = Encoding.UTF8.GetBytes(json, buffer);
            ReadOnlySpan<byte> utf8 = buffer[..length];
            changes = Scan(utf8, maxDepth);
            if (rawLoneSurrogate) changes |= JsonSanitizeChanges.LoneSurrogate;
            if ((changes & (JsonSanitizeChanges.Invalid | JsonSanitizeChanges.TooDeep)) != 0) return EmptyObject;
            if (changes == JsonSanitizeChanges.None) return json;
            return Rewrite(utf8, maxDepth, replacement);
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>UTF-8 variant of <see cref="Sanitize(string, out JsonSanitizeChanges, int, LoneSurrogateReplacement)"/>.</summary>
    public static string Sanitize(ReadOnlySpan<byte> utf8, out JsonSanitizeChanges changes, int maxDepth = DefaultMaxDepth,
        LoneSurrogateReplacement replacement = LoneSurrogateReplacement.Sentinel)
    {
        changes = Scan(utf8, maxDepth);
        if ((changes & (JsonSanitizeChanges.Invalid | JsonSanitizeChanges.TooDeep)) != 0) return EmptyObject;
        if (changes == JsonSanitizeChanges.None) return Encoding.UTF8.GetString(utf8);
        return Rewrite(utf8, maxDepth, replacement);
    }

    /// <summary>
    /// Validates <paramref name="utf8"/> and reports what a rewrite would have to change, without allocating.
    /// Stops at the first fatal problem (<see cref="JsonSanitizeChanges.Invalid"/> or
    /// <see cref="JsonSanitizeChanges.TooDeep"/>).
    /// </summary>
    public static JsonSanitizeChanges Scan(ReadOnlySpan<byte> utf8, int maxDepth = DefaultMaxDepth)
    {
        var changes = JsonSanitizeChanges.None;
        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = maxDepth + 8 });
        try
        {
            var any = false;
            while (reader.Read())
            {
                any = true;
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject:
                    case JsonTokenType.StartArray:
                        if (reader.CurrentDepth >= maxDepth) return changes | JsonSanitizeChanges.TooDeep;
                        break;
                    case JsonTokenType.String:
                    case JsonTokenType.PropertyName:
                        if (reader.ValueIsEscaped && HasLoneSurrogateEscape(reader.ValueSpan))
                            changes |= JsonSanitizeChanges.LoneSurrogate;
                        break;
                    case JsonTokenType.Number:
                        if (IsIntegerOutOfRange(ref reader)) changes |= JsonSanitizeChanges.IntegerOutOfRange;
                        break;
                }
            }
            if (!any) return changes | JsonSanitizeChanges.Invalid;
        }
        catch (JsonException)
        {
            return changes | JsonSanitizeChanges.Invalid;
        }
        return changes;
    }

    private static bool IsIntegerOutOfRange(ref Utf8JsonReader reader)
    {
        var span = reader.ValueSpan;
        if (span.IndexOfAny((byte)'.', (byte)'e', (byte)'E') >= 0) return false;
        // At most 19 digits always fits Int64 (plus sign).
        if (span.Length <= 18) return false;
        return !reader.TryGetInt64(out _) && !reader.TryGetUInt64(out _);
    }

    private static string Rewrite(ReadOnlySpan<byte> utf8, int maxDepth, LoneSurrogateReplacement replacement)
    {
        var output = new ArrayBufferWriter<byte>(utf8.Length + 64);
        using (var writer = new Utf8JsonWriter(output, WriterOptions with { MaxDepth = maxDepth + 8 }))
        {
            var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = maxDepth + 8 });
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject: writer.WriteStartObject(); break;
                    case JsonTokenType.EndObject: writer.WriteEndObject(); break;
                    case JsonTokenType.StartArray: writer.WriteStartArray(); break;
                    case JsonTokenType.EndArray: writer.WriteEndArray(); break;
                    case JsonTokenType.PropertyName:
                        if (!reader.ValueIsEscaped) writer.WritePropertyName(reader.ValueSpan);
                        else writer.WritePropertyName(Unescape(reader.ValueSpan, replacement));
                        break;
                    case JsonTokenType.String:
                        if (reader.ValueIsEscaped && HasLoneSurrogateEscape(reader.ValueSpan))
                            writer.WriteStringValue(Unescape(reader.ValueSpan, replacement));
                        else
                            writer.WriteRawValue(utf8.Slice((int)reader.TokenStartIndex, reader.ValueSpan.Length + 2), skipInputValidation: true);
                        break;
                    case JsonTokenType.Number:
                        if (IsIntegerOutOfRange(ref reader)) writer.WriteStringValue(reader.ValueSpan);
                        else writer.WriteRawValue(reader.ValueSpan, skipInputValidation: true);
                        break;
                    case JsonTokenType.True: writer.WriteBooleanValue(true); break;
                    case JsonTokenType.False: writer.WriteBooleanValue(false); break;
                    case JsonTokenType.Null: writer.WriteNullValue(); break;
                }
            }
        }
        return Encoding.UTF8.GetString(output.WrittenSpan);
    }

    private static bool HasRawLoneSurrogate(string s)
    {
        var span = s.AsSpan();
        var i = span.IndexOfAnyInRange('\uD800', '\uDFFF');
        if (i < 0) return false;
        for (; i < span.Length; i++)
        {
            var c = span[i];
            if (char.IsHighSurrogate(c))
            {
                if (i + 1 < span.Length && char.IsLowSurrogate(span[i + 1])) { i++; continue; }
                return true;
            }
            if (char.IsLowSurrogate(c)) return true;
        }
        return false;
    }

    /// <summary>True when the raw (still escaped) JSON string contains a <c>\uXXXX</c> surrogate without its pair.</summary>
    public static bool HasLoneSurrogateEscape(ReadOnlySpan<byte> escaped)
    {
        var i = escaped.IndexOf((byte)'\\');
        if (i < 0) return false;
        while (i < escaped.Length)
        {
            if (escaped[i] != (byte)'\\') { i++; continue; }
            if (i + 1 >= escaped.Length) return false;
            if (escaped[i + 1] != (byte)'u') { i += 2; continue; }
            if (!TryHex4(escaped, i + 2, out var cu)) return false; // the reader already validated escapes
            if (char.IsHighSurrogate((char)cu))
            {
                if (i + 12 <= escaped.Length && escaped[i + 6] == (byte)'\\' && escaped[i + 7] == (byte)'u'
                    && TryHex4(escaped, i + 8, out var low) && char.IsLowSurrogate((char)low))
                {
                    i += 12;
                    continue;
                }
                return true;
            }
            if (char.IsLowSurrogate((char)cu)) return true;
            i += 6;
        }
        return false;
    }

    private static bool TryHex4(ReadOnlySpan<byte> s, int start, out int value)
    {
        value = 0;
        if (start + 4 > s.Length) return false;
        for (var k = 0; k < 4; k++)
        {
            int d = s[start + k];
            if (d >= '0' && d <= '9') d -= '0';
            else if (d >= 'a' && d <= 'f') d = d - 'a' + 10;
            else if (d >= 'A' && d <= 'F') d = d - 'A' + 10;
            else return false;
            value = (value << 4) | d;
        }
        return true;
    }

    /// <summary>Unescapes a raw JSON string body, replacing unpaired surrogates.</summary>
    private static string Unescape(ReadOnlySpan<byte> escaped, LoneSurrogateReplacement replacement)
    {
        var sb = new StringBuilder(escaped.Length);
        var i = 0;
        while (i < escaped.Length)
        {
            var next = escaped[i..].IndexOf((byte)'\\');
            if (next < 0) { sb.Append(Encoding.UTF8.GetString(escaped[i..])); break; }
            if (next > 0) sb.Append(Encoding.UTF8.GetString(escaped.Slice(i, next)));
            i += next;
            var e = escaped[i + 1];
            switch (e)
            {
                case (byte)'"': sb.Append('"'); i += 2; break;
                case (byte)'\\': sb.Append('\\'); i += 2; break;
                case (byte)'/': sb.Append('/'); i += 2; break;
                case (byte)'b': sb.Append('\b'); i += 2; break;
                case (byte)'f': sb.Append('\f'); i += 2; break;
                case (byte)'n': sb.Append('\n'); i += 2; break;
                case (byte)'r': sb.Append('\r'); i += 2; break;
                case (byte)'t': sb.Append('\t'); i += 2; break;
                case (byte)'u':
                    TryHex4(escaped, i + 2, out var cu);
                    var c = (char)cu;
                    if (char.IsHighSurrogate(c) && i + 12 <= escaped.Length && escaped[i + 6] == (byte)'\\'
                        && escaped[i + 7] == (byte)'u' && TryHex4(escaped, i + 8, out var low) && char.IsLowSurrogate((char)low))
                    {
                        sb.Append(c).Append((char)low);
                        i += 12;
                    }
                    else if (char.IsSurrogate(c))
                    {
                        sb.Append(replacement == LoneSurrogateReplacement.Sentinel ? InvalidUtf16Sentinel : "\uFFFD");
                        i += 6;
                    }
                    else
                    {
                        sb.Append(c);
                        i += 6;
                    }
                    break;
                default: sb.Append((char)e); i += 2; break;
            }
        }
        return sb.ToString();
    }
}
