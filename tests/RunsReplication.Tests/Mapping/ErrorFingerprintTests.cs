using RunsReplication.Mapping;

namespace RunsReplication.Tests.Mapping;

public class ErrorFingerprintTests
{
    // Expected hashes were computed with Node's crypto over the same normalisation rules.
    [Theory]
    [InlineData("""{"message":"boom"}""", "1c0cb85b275141a0")]
    [InlineData("""{"name":"Error","message":"Timeout after 30000ms in C:\\Users\\bob\\app\\index.js"}""", "7138c084e7e5efcc")]
    [InlineData("""{"stacktrace":"Error: x\n at a (/x/y/z.js:1:2)"}""", "4ba511692335df90")]
    [InlineData("""{"type":"STRING_ERROR","raw":"Something failed: user 123e4567-e89b-12d3-a456-426614174000 email bob.smith@example.com port 54321 addr 0xdeadbeef01 ts 1714560000 url https://api.example.com/v1/x?y=1 path /var/lib/data/file.txt 'this is a very long quoted string'"}""", "a2002ffcfef55f87")]
    [InlineData("""{"type":"BUILT_IN_ERROR","name":"TypeError","message":"Cannot read properties of undefined (reading 'id') for run_abc123XYZ at 2024-05-01T10:20:30.123Z","stack":"TypeError: Cannot read\n    at handler (/app/src/trigger/task.ts:42:17)\n    at run (/app/node_modules/@trigger.dev/core/dist/index.js:1234:56)\n\n    at x (file:///C:/a/b.js:1:2)\n  at 5\n  at six\n"}""", "34f57691af1cc2c1")]
    public void MatchesReferenceHashes(string error, string expected) => Assert.Equal(expected, ErrorFingerprint.Compute(error));

    [Theory]
    [InlineData("user 123e4567-E89B-12d3-a456-426614174000 missing", "user <uuid> missing")]
    [InlineData("run run_abc123 failed", "run <run-id> failed")]
    [InlineData("batch batch_1234abcd failed", "batch <id> failed")]
    [InlineData("at 2024-05-01T10:20:30.123Z", "at <timestamp>")]
    [InlineData("ts 1714560000123", "ts <timestamp>")]
    [InlineData("GET https://x.example.com/a/b?c=1 failed", "GET <url> failed")]
    [InlineData("port 54321", "port <id>")]
    [InlineData("took 30000ms", "took 30000ms")]
    [InlineData("open /var/lib/x.txt", "open <path>")]
    [InlineData("open D:\\dir\\file.txt", "open <path>")]
    [InlineData("mail a.b+c@example.org now", "mail <email> now")]
    [InlineData("ptr 0x7ffdeadbeef", "ptr <addr>")]
    [InlineData("key \"abcdefghijklmnopqrstuvwxyz\"", "key \"<string>\"")]
    [InlineData("key 'short'", "key 'short'")]
    public void NormalizesMessages(string message, string expected) => Assert.Equal(expected, ErrorFingerprint.NormalizeMessage(message));

    [Fact]
    public void NormalizesStacks()
    {
        var stack = "Error: boom\n    at fn (/app/src/a/b.ts:12:34)\n\n    at 42\n    at g (c.js:1:2)\n    at h (d.js:3:4)\n    at i (e.js:5:6)";
        Assert.Equal("Error: boom|at fn (b.ts:_:_)|at _|at g (c.js:_:_)", ErrorFingerprint.NormalizeStack(stack));
    }

    [Fact]
    public void SimilarErrorsShareAFingerprint()
    {
        var a = ErrorFingerprint.Compute("""{"type":"BUILT_IN_ERROR","name":"Error","message":"User 11111111-2222-3333-4444-555555555555 not found","stack":"at x (/a/b/c.ts:1:2)"}""");
        var b = ErrorFingerprint.Compute("""{"type":"BUILT_IN_ERROR","name":"Error","message":"User aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee not found","stack":"at x (/q/r/c.ts:9:9)"}""");
        Assert.Equal(a, b);
        Assert.Equal(16, a.Length);
        Assert.NotEqual(a, ErrorFingerprint.Compute("""{"type":"BUILT_IN_ERROR","message":"Other"}"""));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("[1]")]
    [InlineData("\"str\"")]
    [InlineData("{bad")]
    public void NonObjects_HaveNoFingerprint(string? error) => Assert.Equal("", ErrorFingerprint.Compute(error));
}
