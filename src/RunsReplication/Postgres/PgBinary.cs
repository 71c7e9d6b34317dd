using System.Buffers.Binary;
using System.Text;

namespace RunsReplication.Postgres;

/// <summary>
/// Parsers for the PostgreSQL binary send formats of the column types TaskRun uses. Each takes exactly the bytes
/// of one non-NULL value (as pgoutput sends them in binary mode) and allocates nothing but the result.
/// </summary>
internal static class PgBinary
{
    /// <summary>2000-01-01T00:00:00Z in .NET ticks: PostgreSQL's timestamp epoch.</summary>
    private const long PostgresEpochTicks = 630822816000000000;

    /// <summary>text, varchar, name, bpchar, json and enum labels: the UTF-8 bytes.</summary>
    public static string Text(ReadOnlySpan<byte> value) => value.IsEmpty ? "" : Encoding.UTF8.GetString(value);

    /// <summary>jsonb: a version byte (1) followed by the JSON text in UTF-8.</summary>
    public static string Jsonb(ReadOnlySpan<byte> value)
    {
        if (value.IsEmpty)
            throw new FormatException("jsonb value without its version byte");
        if (value[0] != 1)
            throw new FormatException($"Unsupported jsonb binary version {value[0]}");
        return Text(value[1..]);
    }

    /// <summary>int2, int4 or int8 (big-endian), told apart by length; int8 must fit an int.</summary>
    public static int Int(ReadOnlySpan<byte> value) => value.Length switch
    {
        4 => BinaryPrimitives.ReadInt32BigEndian(value),
        2 => BinaryPrimitives.ReadInt16BigEndian(value),
        8 => checked((int)BinaryPrimitives.ReadInt64BigEndian(value)),
        _ => throw new FormatException($"Integer value of {value.Length} bytes"),
    };

    /// <summary>float8 or float4 (big-endian IEEE 754).</summary>
    public static double Double(ReadOnlySpan<byte> value) => value.Length switch
    {
        8 => BinaryPrimitives.ReadDoubleBigEndian(value),
        4 => BinaryPrimitives.ReadSingleBigEndian(value),
        _ => throw new FormatException($"Floating-point value of {value.Length} bytes"),
    };

    public static bool Bool(ReadOnlySpan<byte> value) => value.Length == 1
        ? value[0] != 0
        : throw new FormatException($"Boolean value of {value.Length} bytes");

    /// <summary>
    /// timestamp / timestamptz: microseconds since 2000-01-01 UTC, as a UTC <see cref="DateTime"/>. Infinity maps
    /// to <see cref="DateTime.MaxValue"/> / <see cref="DateTime.MinValue"/> (as Npgsql does).
    /// </summary>
    public static DateTime Timestamp(ReadOnlySpan<byte> value)
    {
        if (value.Length != 8)
            throw new FormatException($"Timestamp value of {value.Length} bytes");
        var micros = BinaryPrimitives.ReadInt64BigEndian(value);
        return micros switch
        {
            long.MaxValue => DateTime.SpecifyKind(DateTime.MaxValue, DateTimeKind.Utc),
            long.MinValue => DateTime.SpecifyKind(DateTime.MinValue, DateTimeKind.Utc),
            _ => new DateTime(PostgresEpochTicks + micros * 10, DateTimeKind.Utc),
        };
    }

    /// <summary>
    /// text[] (or varchar[]): ndim, has-null flag, element oid, (size, lower bound) per dimension, then each element
    /// as an int32 length (-1 for NULL) and its bytes. Elements of a multi-dimensional array come out flattened.
    /// </summary>
    public static string?[] TextArray(ReadOnlySpan<byte> value)
    {
        if (value.Length < 12)
            throw new FormatException($"Array value of {value.Length} bytes");
        var dimensions = BinaryPrimitives.ReadInt32BigEndian(value);
        if (dimensions < 0 || dimensions > 6 || value.Length < 12 + 8 * dimensions)
            throw new FormatException($"Array value with {dimensions} dimensions");
        if (dimensions == 0)
            return [];
        long count = 1;
        for (var d = 0; d < dimensions; d++)
            count *= BinaryPrimitives.ReadInt32BigEndian(value[(12 + 8 * d)..]);
        var rest = value[(12 + 8 * dimensions)..];
        if (count < 0 || count > rest.Length / 4)
            throw new FormatException($"Array value claims {count} elements in {rest.Length} bytes");
        var result = new string?[count];
        for (var i = 0; i < result.Length; i++)
        {
            if (rest.Length < 4)
                throw new FormatException("Array value ends inside an element length");
            var length = BinaryPrimitives.ReadInt32BigEndian(rest);
            rest = rest[4..];
            if (length == -1)
                continue;
            if (length < 0 || length > rest.Length)
                throw new FormatException($"Array element of {length} bytes with {rest.Length} left");
            result[i] = Text(rest[..length]);
            rest = rest[length..];
        }
        if (!rest.IsEmpty)
            throw new FormatException($"Array value has {rest.Length} bytes after its last element");
        return result;
    }
}
