using RunsReplication.ClickHouse;

namespace RunsReplication.Tests.ClickHouse;

public class ClickHouseExceptionTests
{
    [Fact]
    public void Code_comes_from_the_header_when_present()
    {
        var e = ClickHouseException.FromResponse(500, "Code: 62. DB::Exception: Syntax error", "516");
        Assert.Equal(516, e.Code);
        Assert.Equal(500, e.HttpStatus);
    }

    [Theory]
    [InlineData("Code: 60. DB::Exception: Table trigger_dev.task_runs_v2 does not exist. (UNKNOWN_TABLE) (version 25.1.1.1)", 60)]
    [InlineData("Code:117. DB::Exception: Cannot parse JSON", 117)]
    [InlineData("Received exception from server:\nCode: 27. DB::Exception: Cannot parse input", 27)]
    public void Code_is_parsed_from_the_body_without_a_header(string body, int code)
    {
        Assert.Equal(code, ClickHouseException.FromResponse(500, body, null).Code);
        Assert.Equal(code, ClickHouseException.FromResponse(500, body, "").Code);
        Assert.Equal(code, ClickHouseException.FromResponse(500, body, "not-a-number").Code);
    }

    [Fact]
    public void No_code_anywhere_gives_null()
    {
        var e = ClickHouseException.FromResponse(502, "Bad Gateway", null);
        Assert.Null(e.Code);
        Assert.False(e.IsPermanent);
        Assert.False(e.IsDataError);
    }

    [Fact]
    public void Message_names_the_status_and_truncates_long_bodies()
    {
        var e = ClickHouseException.FromResponse(400, "Code: 62. " + new string('x', 5000), null);
        Assert.StartsWith("ClickHouse answered HTTP 400: Code: 62.", e.Message);
        Assert.True(e.Message.Length < 2100, $"message of {e.Message.Length} characters");
        Assert.EndsWith("…", e.Message);
    }

    [Theory]
    [InlineData(516)] // AUTHENTICATION_FAILED
    [InlineData(60)]  // UNKNOWN_TABLE
    [InlineData(62)]  // SYNTAX_ERROR
    [InlineData(81)]  // UNKNOWN_DATABASE
    [InlineData(16)]  // NO_SUCH_COLUMN_IN_TABLE
    [InlineData(497)] // ACCESS_DENIED
    [InlineData(164)] // READONLY
    public void Configuration_mistakes_are_permanent_not_data_errors(int code)
    {
        var e = new ClickHouseException("x", code, 500);
        Assert.True(e.IsPermanent);
        Assert.False(e.IsDataError);
    }

    [Theory]
    [InlineData(117)] // INCORRECT_DATA
    [InlineData(27)]  // CANNOT_PARSE_INPUT_ASSERTION_FAILED
    [InlineData(26)]  // CANNOT_PARSE_QUOTED_STRING
    [InlineData(6)]   // CANNOT_PARSE_TEXT
    [InlineData(41)]  // CANNOT_PARSE_DATETIME
    [InlineData(53)]  // TYPE_MISMATCH
    public void Row_parse_errors_are_data_errors_not_permanent(int code)
    {
        var e = new ClickHouseException("x", code, 400);
        Assert.True(e.IsDataError);
        Assert.False(e.IsPermanent);
    }

    [Theory]
    [InlineData(null)] // transport failure
    [InlineData(159)]  // TIMEOUT_EXCEEDED
    [InlineData(202)]  // TOO_MANY_SIMULTANEOUS_QUERIES
    [InlineData(209)]  // SOCKET_TIMEOUT
    [InlineData(210)]  // NETWORK_ERROR
    [InlineData(999)]  // KEEPER_EXCEPTION
    public void Outages_are_retryable(int? code)
    {
        var e = new ClickHouseException("x", code, code is null ? null : 500);
        Assert.False(e.IsPermanent);
        Assert.False(e.IsDataError);
    }

    [Fact]
    public void Header_code_drives_classification_of_a_response()
    {
        Assert.True(ClickHouseException.FromResponse(500, "Code: 241. something", "516").IsPermanent);
        Assert.True(ClickHouseException.FromResponse(400, "whatever", "117").IsDataError);
    }

    [Theory]
    [InlineData("Code: 241. DB::Exception: Memory limit (total) exceeded: would use 3.51 GiB (MEMORY_LIMIT_EXCEEDED)", 241)]
    [InlineData("Code: 173. DB::Exception: Cannot allocate memory (CANNOT_ALLOCATE_MEMORY)", 173)]
    [InlineData("Code: 252. DB::Exception: Too many parts (300) in all partitions in total (TOO_MANY_PARTS)", 252)]
    public void Server_resource_exhaustion_is_retryable_not_bad_data(string body, int code)
    {
        // Classed as data errors, these would send every row of the batch through isolation and drop them.
        var e = ClickHouseException.FromResponse(500, body, null);
        Assert.Equal(code, e.Code);
        Assert.False(e.IsDataError);
        Assert.False(e.IsPermanent);
    }
}
