using System.Globalization;
using System.IO.Compression;
using System.IO.Pipelines;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace ChdbHttpServer;

/// <summary>
/// The subset of ClickHouse's HTTP interface (port 8123) that our service and its tests use: /ping, queries from
/// the URL and/or body, compressed request bodies, per-query settings, ClickHouse-shaped errors.
/// </summary>
internal sealed class ClickHouseHttpEndpoint
{
    private const int ResponseChunkSize = 64 * 1024;
    private static readonly byte[] OkBody = "Ok.\n"u8.ToArray();

    private readonly QueryExecutor _executor;
    private readonly ServerOptions _options;

    public ClickHouseHttpEndpoint(QueryExecutor executor, ServerOptions options)
    {
        _executor = executor;
        _options = options;
    }

    public async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var response = context.Response;
        var path = request.Path.Value ?? "/";
        if (path == "/ping" || (path == "/" && HttpMethods.IsGet(request.Method) && !request.Query.ContainsKey("query")))
        {
            await WriteOkAsync(response);
            return;
        }

        if (path != "/")
        {
            response.StatusCode = StatusCodes.Status404NotFound;
            await response.WriteAsync("There is no handle " + path + "\n");
            return;
        }

        var queryId = request.Query["query_id"].ToString();
        response.Headers["X-ClickHouse-Query-Id"] = queryId.Length > 0 ? queryId : Guid.NewGuid().ToString();

        if (!IsAuthenticated(request, out var user))
        {
            await WriteErrorAsync(response,
                $"Code: {ClickHouseError.AuthenticationFailed}. DB::Exception: {user}: Authentication failed: password is incorrect, or there is no user with such name. (AUTHENTICATION_FAILED)");
            return;
        }

        if (request.Query["compress"] == "1" || request.Query["decompress"] == "1")
        {
            // ClickHouse's own framed LZ4 compression is not implemented; failing loudly beats returning garbage.
            await WriteErrorAsync(response, "Code: 1. DB::Exception: compress/decompress=1 (native compression) is not supported by this chDB front. (UNSUPPORTED_METHOD)");
            return;
        }

        var settings = QuerySettings.FromQueryString(request.Query);
        using var statement = new QueryBuffer(EstimateSize(request));
        var error = await ReadStatementAsync(request, statement, context.RequestAborted);
        if (error is not null)
        {
            await WriteErrorAsync(response, error);
            return;
        }

        var format = settings.DefaultFormat ?? "TabSeparated";
        using var result = await _executor.ExecuteAsync(statement, settings, format, context.RequestAborted);
        var message = result.Error;
        if (message is not null)
        {
            await WriteErrorAsync(response, message);
            return;
        }

        response.StatusCode = StatusCodes.Status200OK;
        response.Headers["X-ClickHouse-Format"] = format;
        response.Headers["X-ClickHouse-Summary"] = Summary(result);
        response.ContentType = ContentTypeFor(settings.DefaultFormat);
        response.ContentLength = result.Length;
        await CopyResultAsync(result, response.BodyWriter, context.RequestAborted);
    }

    private static int EstimateSize(HttpRequest request)
    {
        var queryLength = request.Query["query"].ToString().Length * 3;
        var bodyLength = request.ContentLength is { } n && n < int.MaxValue / 2 ? (int)n : 64 * 1024;
        // Compressed bodies grow; start bigger so typical inserts do not regrow many times.
        if (request.Headers.ContentEncoding.Count > 0)
        {
            bodyLength *= 8;
        }

        return queryLength + bodyLength + 2;
    }

    /// <summary>Builds "query param + '\n' + body" (how INSERT ... FORMAT X takes its rows), or just one of them.</summary>
    private static async Task<string?> ReadStatementAsync(HttpRequest request, QueryBuffer statement, CancellationToken cancellationToken)
    {
        var queryText = request.Query["query"].ToString();
        var hasQuery = request.Query.ContainsKey("query");
        if (hasQuery)
        {
            statement.Append(queryText);
        }

        var body = request.Body;
        var encoding = request.Headers.ContentEncoding.ToString().Trim();
        Stream? decoder = encoding.ToLowerInvariant() switch
        {
            "" or "identity" => null,
            "gzip" or "x-gzip" => new GZipStream(body, CompressionMode.Decompress, leaveOpen: true),
            "deflate" => new ZLibStream(body, CompressionMode.Decompress, leaveOpen: true),
            "br" => new BrotliStream(body, CompressionMode.Decompress, leaveOpen: true),
            _ => Stream.Null,
        };
        if (decoder == Stream.Null)
        {
            return $"Code: 1. DB::Exception: Unknown Content-Encoding of HTTP request: {encoding}. (UNSUPPORTED_METHOD)";
        }

        var bodyStart = statement.Length;
        if (hasQuery)
        {
            statement.Append((byte)'\n');
        }

        try
        {
            await using (decoder)
            {
                await statement.AppendStreamAsync(decoder ?? body, cancellationToken);
            }
        }
        catch (InvalidDataException e)
        {
            return $"Code: 354. DB::Exception: Cannot decompress the {encoding} request body: {e.Message}. (ZLIB_INFLATE_FAILED)";
        }

        if (hasQuery && statement.Length == bodyStart + 1)
        {
            // No body: drop the separator so the statement is exactly the URL query.
            statement.Truncate(bodyStart);
        }

        return null;
    }

    private bool IsAuthenticated(HttpRequest request, out string user)
    {
        string? password = null;
        user = request.Headers["X-ClickHouse-User"].ToString();
        if (user.Length > 0)
        {
            password = request.Headers["X-ClickHouse-Key"].ToString();
        }
        else if (request.Headers.Authorization.ToString() is { Length: > 6 } authorization
                 && authorization.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(authorization[6..].Trim()));
                var colon = decoded.IndexOf(':');
                user = colon < 0 ? decoded : decoded[..colon];
                password = colon < 0 ? string.Empty : decoded[(colon + 1)..];
            }
            catch (FormatException)
            {
                user = string.Empty;
            }
        }
        else if (request.Query.ContainsKey("user"))
        {
            user = request.Query["user"].ToString();
            password = request.Query["password"].ToString();
        }

        if (user.Length == 0)
        {
            user = "default";
        }

        if (!_options.RequiresAuthentication)
        {
            return true;
        }

        return user == _options.User
               && CryptographicOperations.FixedTimeEquals(
                   Encoding.UTF8.GetBytes(password ?? string.Empty), Encoding.UTF8.GetBytes(_options.Password));
    }

    private static async Task WriteOkAsync(HttpResponse response)
    {
        response.ContentType = "text/html; charset=UTF-8";
        response.ContentLength = OkBody.Length;
        await response.Body.WriteAsync(OkBody);
    }

    private static async Task WriteErrorAsync(HttpResponse response, string message)
    {
        var code = ClickHouseError.ParseCode(message);
        response.StatusCode = ClickHouseError.HttpStatus(code);
        response.Headers["X-ClickHouse-Exception-Code"] = code.ToString(CultureInfo.InvariantCulture);
        response.ContentType = "text/plain; charset=UTF-8";
        await response.WriteAsync(message.EndsWith('\n') ? message : message + "\n");
    }

    private static string Summary(ChdbResult result) =>
        string.Create(CultureInfo.InvariantCulture,
            $"{{\"read_rows\":\"{result.RowsRead}\",\"read_bytes\":\"{result.BytesRead}\",\"written_rows\":\"{result.RowsWritten}\",\"written_bytes\":\"{result.BytesWritten}\",\"total_rows_to_read\":\"0\",\"result_rows\":\"0\",\"result_bytes\":\"{result.Length}\",\"elapsed_ns\":\"{(long)(result.ElapsedSeconds * 1e9)}\"}}");

    private static string ContentTypeFor(string? format) => format switch
    {
        null or "TabSeparated" or "TSV" => "text/tab-separated-values; charset=UTF-8",
        _ when format.StartsWith("JSON", StringComparison.Ordinal) => "application/json; charset=UTF-8",
        _ when format.StartsWith("CSV", StringComparison.Ordinal) => "text/csv; charset=UTF-8; header=absent",
        _ => "text/plain; charset=UTF-8",
    };

    /// <summary>Copies native result memory into Kestrel's pipe in chunks, without a managed intermediate array.</summary>
    private static async Task CopyResultAsync(ChdbResult result, PipeWriter writer, CancellationToken cancellationToken)
    {
        var total = result.Length;
        for (long offset = 0; offset < total;)
        {
            var count = (int)Math.Min(ResponseChunkSize, total - offset);
            CopyChunk(result, offset, count, writer);
            offset += count;
            var flush = await writer.FlushAsync(cancellationToken);
            if (flush.IsCanceled || flush.IsCompleted)
            {
                return;
            }
        }
    }

    private static void CopyChunk(ChdbResult result, long offset, int count, PipeWriter writer)
    {
        result.Slice(offset, count).CopyTo(writer.GetSpan(count));
        writer.Advance(count);
    }

}
