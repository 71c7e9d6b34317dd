using System.Buffers.Binary;
using System.Text;
using RunsReplication.Postgres;

namespace RunsReplication.Tests.Postgres;

public class PgBinaryTests
{
    private static byte[] Be32(int v) { var b = new byte[4]; BinaryPrimitives.WriteInt32BigEndian(b, v); return b; }
    private static byte[] Be64(long v) { var b = new byte[8]; BinaryPrimitives.WriteInt64BigEndian(b, v); return b; }

    /// <summary>A one-dimensional text[] in PostgreSQL's binary send format (null = NULL element).</summary>
    private static byte[] TextArray(params string?[] items)
    {
        var bytes = new List<byte>();
        bytes.AddRange(Be32(1));
        bytes.AddRange(Be32(items.Any(i => i is null) ? 1 : 0));
        bytes.AddRange(Be32(25));
        bytes.AddRange(Be32(items.Length));
        bytes.AddRange(Be32(1));
        foreach (var item in items)
        {
            if (item is null) { bytes.AddRange(Be32(-1)); continue; }
            var utf8 = Encoding.UTF8.GetBytes(item);
            bytes.AddRange(Be32(utf8.Length));
            bytes.AddRange(utf8);
        }
        return bytes.ToArray();
    }

    [Theory]
    [InlineData("")]
    [InlineData("run_cm1abc")]
    [InlineData("héllo wörld — 日本語 🚀")]
    public void Text_IsUtf8(string text) => Assert.Equal(text, PgBinary.Text(Encoding.UTF8.GetBytes(text)));

    [Fact]
    public void Jsonb_SkipsVersionByte()
    {
        var json = """{"message":"boom ✓","n":[1,2]}""";
        Assert.Equal(json, PgBinary.Jsonb([1, .. Encoding.UTF8.GetBytes(json)]));
        Assert.Equal("", PgBinary.Jsonb([1]));
        Assert.Throws<FormatException>(() => PgBinary.Jsonb([2, (byte)'{', (byte)'}']));
        Assert.Throws<FormatException>(() => PgBinary.Jsonb([]));
    }

    [Fact]
    public void Int_ReadsBigEndianByLength()
    {
        Assert.Equal(0, PgBinary.Int(Be32(0)));
        Assert.Equal(1200, PgBinary.Int(Be32(1200)));
        Assert.Equal(-5, PgBinary.Int(Be32(-5)));
        Assert.Equal(int.MaxValue, PgBinary.Int(Be32(int.MaxValue)));
        Assert.Equal(-2, PgBinary.Int([0xFF, 0xFE]));
        Assert.Equal(77, PgBinary.Int(Be64(77)));
        Assert.Throws<FormatException>(() => PgBinary.Int([1, 2, 3]));
    }

    [Fact]
    public void Double_ReadsFloat8AndFloat4()
    {
        var b = new byte[8];
        BinaryPrimitives.WriteDoubleBigEndian(b, 0.0025);
        Assert.Equal(0.0025, PgBinary.Double(b));
        BinaryPrimitives.WriteDoubleBigEndian(b, -123.5);
        Assert.Equal(-123.5, PgBinary.Double(b));
        var f = new byte[4];
        BinaryPrimitives.WriteSingleBigEndian(f, 1.5f);
        Assert.Equal(1.5, PgBinary.Double(f));
    }

    [Fact]
    public void Bool_IsOneByte()
    {
        Assert.True(PgBinary.Bool([1]));
        Assert.False(PgBinary.Bool([0]));
        Assert.Throws<FormatException>(() => PgBinary.Bool([]));
    }

    [Fact]
    public void Timestamp_IsMicrosecondsSince2000Utc()
    {
        var epoch = PgBinary.Timestamp(Be64(0));
        Assert.Equal(new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc), epoch);
        Assert.Equal(DateTimeKind.Utc, epoch.Kind);
        var t = new DateTime(2026, 3, 4, 5, 6, 7, 890, DateTimeKind.Utc).AddTicks(1230);
        var micros = (t - new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc)).Ticks / 10;
        Assert.Equal(t, PgBinary.Timestamp(Be64(micros)));
        Assert.Equal(new DateTime(1999, 12, 31, 23, 59, 59, DateTimeKind.Utc), PgBinary.Timestamp(Be64(-1_000_000)));
        Assert.Equal(DateTime.MaxValue, PgBinary.Timestamp(Be64(long.MaxValue)));
        Assert.Equal(DateTime.MinValue, PgBinary.Timestamp(Be64(long.MinValue)));
        Assert.Throws<FormatException>(() => PgBinary.Timestamp(Be32(0)));
    }

    [Fact]
    public void TextArray_ReadsElements_NullsAndUnicode()
    {
        Assert.Equal(new string?[] { "a", "b" }, PgBinary.TextArray(TextArray("a", "b")));
        Assert.Equal(new string?[] { "", "tag:ü🚀", null, "x" }, PgBinary.TextArray(TextArray("", "tag:ü🚀", null, "x")));
        Assert.Empty(PgBinary.TextArray(TextArray()));
    }

    [Fact]
    public void TextArray_Empty_HasZeroDimensions()
    {
        // ARRAY[]::text[] is sent as ndim 0, no dimension entries.
        Assert.Empty(PgBinary.TextArray([.. Be32(0), .. Be32(0), .. Be32(25)]));
    }

    [Fact]
    public void TextArray_TwoDimensions_AreFlattened()
    {
        byte[] value = [.. Be32(2), .. Be32(0), .. Be32(25), .. Be32(2), .. Be32(1), .. Be32(1), .. Be32(1),
            .. Be32(1), (byte)'a', .. Be32(1), (byte)'b'];
        Assert.Equal(new string?[] { "a", "b" }, PgBinary.TextArray(value));
    }

    [Fact]
    public void TextArray_RejectsTruncatedValues()
    {
        var full = TextArray("abc", "de");
        Assert.Throws<FormatException>(() => PgBinary.TextArray(full.AsSpan(0, full.Length - 1)));
        Assert.Throws<FormatException>(() => PgBinary.TextArray([.. full, 0]));
        Assert.Throws<FormatException>(() => PgBinary.TextArray(full.AsSpan(0, 8)));
    }
}
