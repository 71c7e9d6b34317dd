using System.Text;
using System.Text.Json;
using RunsReplication.Mapping;

namespace RunsReplication.Tests.Mapping;

public class JsonSanitizerTests
{
    [Theory]
    [InlineData("""{"a":1,"b":[true,false,null],"c":"x\ny \ud83d\ude00"}""")]
    [InlineData("[]")]
    [InlineData("123")]
    [InlineData("9223372036854775807")]
    [InlineData("-9223372036854775808")]
    [InlineData("18446744073709551615")]
    [InlineData("1e400")]
    [InlineData("\"日本語 🎉\"")]
    public void CleanInput_IsReturnedUnchanged(string json)
    {
        var result = JsonSanitizer.Sanitize(json, out var changes);
        Assert.Equal(JsonSanitizeChanges.None, changes);
        Assert.Same(json, result);
    }

    [Theory]
    [InlineData("""{"s":"a\ud800b"}""", """{"s":"a[invalid-utf16]b"}""")]
    [InlineData("""{"s":"\udc00"}""", """{"s":"[invalid-utf16]"}""")]
    [InlineData("""{"s":"\ud83d"}""", """{"s":"[invalid-utf16]"}""")]
    // Utf8JsonWriter always escapes characters outside the BMP as a surrogate-pair escape (valid JSON).
    [InlineData("""{"s":"\ud83d\ud83d\ude00"}""", """{"s":"[invalid-utf16]\uD83D\uDE00"}""")]
    [InlineData("""{"k\ud800":"v"}""", """{"k[invalid-utf16]":"v"}""")]
    [InlineData("""["ok \"q\" \u00e9","\ud800"]""", """["ok \"q\" \u00e9","[invalid-utf16]"]""")]
    public void LoneSurrogates_AreReplacedWithSentinel(string json, string expected)
    {
        var result = JsonSanitizer.Sanitize(json, out var changes);
        Assert.Equal(JsonSanitizeChanges.LoneSurrogate, changes);
        Assert.Equal(expected, result);
        using var _ = JsonDocument.Parse(result);
    }

    [Fact]
    public void LoneSurrogates_CanBecomeReplacementCharacter()
    {
        var result = JsonSanitizer.Sanitize("""["x\ud800y"]""", out var changes, replacement: LoneSurrogateReplacement.ReplacementCharacter);
        Assert.Equal(JsonSanitizeChanges.LoneSurrogate, changes);
        Assert.Equal("[\"x\uFFFDy\"]", result);
    }

    [Fact]
    public void RawLoneSurrogateChars_AreReplaced()
    {
        var json = "{\"s\":\"a\uD800b\"}";
        var result = JsonSanitizer.Sanitize(json, out var changes);
        Assert.True(changes.HasFlag(JsonSanitizeChanges.LoneSurrogate));
        Assert.Equal("{\"s\":\"a\uFFFDb\"}", result);
    }

    [Theory]
    [InlineData("99999999999999999999", "\"99999999999999999999\"")]
    [InlineData("-9223372036854775809", "\"-9223372036854775809\"")]
    [InlineData("18446744073709551616", "\"18446744073709551616\"")]
    [InlineData("""{"a":[1,123456789012345678901234567890,2.5]}""", """{"a":[1,"123456789012345678901234567890",2.5]}""")]
    public void HugeIntegers_BecomeStrings(string json, string expected)
    {
        Assert.Equal(expected, JsonSanitizer.Sanitize(json, out var changes));
        Assert.Equal(JsonSanitizeChanges.IntegerOutOfRange, changes);
    }

    [Fact]
    public void BothProblems_AreReported()
    {
        var result = JsonSanitizer.Sanitize("""{"n":100000000000000000000,"s":"\udfff"}""", out var changes);
        Assert.Equal(JsonSanitizeChanges.IntegerOutOfRange | JsonSanitizeChanges.LoneSurrogate, changes);
        Assert.Equal("""{"n":"100000000000000000000","s":"[invalid-utf16]"}""", result);
    }

    [Fact]
    public void TooDeep_BecomesEmptyObject()
    {
        Assert.Equal("{}", JsonSanitizer.Sanitize(new string('[', 257) + new string(']', 257), out var changes));
        Assert.Equal(JsonSanitizeChanges.TooDeep, changes);
        var ok = new string('[', 256) + new string(']', 256);
        Assert.Same(ok, JsonSanitizer.Sanitize(ok, out changes));
        Assert.Equal(JsonSanitizeChanges.None, changes);
        var objects = string.Concat(Enumerable.Repeat("{\"a\":", 10)) + "1" + new string('}', 10);
        Assert.Equal("{}", JsonSanitizer.Sanitize(objects, out changes, maxDepth: 5));
        Assert.Equal(JsonSanitizeChanges.TooDeep, changes);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("{")]
    [InlineData("{\"a\":}")]
    [InlineData("[1,]")]
    [InlineData("{} {}")]
    [InlineData("NaN")]
    [InlineData("'single'")]
    [InlineData("\"\\x\"")]
    public void InvalidJson_BecomesEmptyObject(string json)
    {
        Assert.Equal("{}", JsonSanitizer.Sanitize(json, out var changes));
        Assert.Equal(JsonSanitizeChanges.Invalid, changes);
    }

    [Fact]
    public void Utf8Overload_Works()
    {
        var result = JsonSanitizer.Sanitize(Encoding.UTF8.GetBytes("""{"a":"\ud800"}"""), out var changes);
        Assert.Equal(JsonSanitizeChanges.LoneSurrogate, changes);
        Assert.Equal("""{"a":"[invalid-utf16]"}""", result);
    }

    [Fact]
    public void HasLoneSurrogateEscape_Cases()
    {
        Assert.False(JsonSanitizer.HasLoneSurrogateEscape("abc"u8));
        Assert.False(JsonSanitizer.HasLoneSurrogateEscape(@"\ud83d\ude00"u8));
        Assert.False(JsonSanitizer.HasLoneSurrogateEscape(@"\\ud800"u8)); // escaped backslash, then text
        Assert.True(JsonSanitizer.HasLoneSurrogateEscape(@"\ud800"u8));
        Assert.True(JsonSanitizer.HasLoneSurrogateEscape(@"x\ude00"u8));
        Assert.True(JsonSanitizer.HasLoneSurrogateEscape(@"\ud83d\u0041"u8));
    }
}
