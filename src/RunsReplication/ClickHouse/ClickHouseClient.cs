using System.IO.Compression;
using System.Net.Http.Headers;
using System.Text;
using RunsReplication.Configuration;

namespace RunsReplication.ClickHouse;

/// <summary>
/// ClickHouse's HTTP interface, as the service uses it: statements in the URL, insert data in the (gzip) body,
/// settings as URL parameters, credentials in headers (never in URLs, so they never reach a log line).
/// </summary>
public sealed class ClickHouseClient(HttpClient http, ClickHouseEndpoint endpoint, bool compressRequests = true)
{
    public ClickHouseEndpoint Endpoint => endpoint;

    /// <summary>Runs a statement and returns its output as text (use a FORMAT clause to pick the shape).</summary>
    public async Task<string> QueryAsync(string sql, CancellationToken cancellationToken, IReadOnlyDictionary<string, string>? settings = null)
    {
        using var request = NewRequest(BuildUri(null, settings));
        request.Content = new StringContent(sql, Encoding.UTF8);
        return await SendAsync(request, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Builds an insert body from the rows <paramref name="writeRows"/> writes to the stream it is given: through gzip
    /// when this client compresses requests, into pooled segments either way.
    /// </summary>
    public InsertBody CreateBody(Action<Stream> writeRows)
    {
        var buffer = new SegmentedBuffer();
        try
        {
            if (compressRequests)
            {
                using var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true);
                writeRows(gzip);
            }
            else
            {
                writeRows(buffer);
            }
            return new InsertBody(buffer, compressRequests);
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Sends <paramref name="insertStatement"/> (e.g. <c>INSERT INTO db.t FORMAT JSONCompactEachRowWithNames</c>)
    /// with <paramref name="body"/> as its rows. The body stays the caller's, to re-send or dispose.
    /// </summary>
    public async Task InsertAsync(string insertStatement, InsertBody body, IReadOnlyDictionary<string, string>? settings, CancellationToken cancellationToken)
    {
        using var request = NewRequest(BuildUri(insertStatement, settings));
        request.Content = body.ToContent();
        await SendAsync(request, cancellationToken).ConfigureAwait(false);
    }

    public async Task<bool> PingAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var response = await http.GetAsync(new Uri(endpoint.BaseAddress, "ping"), cancellationToken).ConfigureAwait(false);
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    private HttpRequestMessage NewRequest(Uri uri)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, uri);
        request.Headers.Add("X-ClickHouse-User", endpoint.User);
        if (endpoint.Password.Length > 0)
            request.Headers.Add("X-ClickHouse-Key", endpoint.Password);
        return request;
    }

    private Uri BuildUri(string? query, IReadOnlyDictionary<string, string>? settings)
    {
        var builder = new StringBuilder();
        if (query is not null)
            builder.Append("query=").Append(Uri.EscapeDataString(query));
        if (settings is not null)
        {
            foreach (var (key, value) in settings)
            {
                if (builder.Length > 0)
                    builder.Append('&');
                builder.Append(Uri.EscapeDataString(key)).Append('=').Append(Uri.EscapeDataString(value));
            }
        }
        return new Uri(endpoint.BaseAddress, builder.Length == 0 ? "" : "?" + builder);
    }

    private async Task<string> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw new ClickHouseException($"ClickHouse at {endpoint.BaseAddress} is unreachable: {e.Message}", null, null, e);
        }
        catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ClickHouseException($"ClickHouse at {endpoint.BaseAddress} did not answer in time", null, null, e);
        }
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if (response.IsSuccessStatusCode)
                return body;
            response.Headers.TryGetValues("X-ClickHouse-Exception-Code", out var codes);
            throw ClickHouseException.FromResponse((int)response.StatusCode, body, codes?.FirstOrDefault());
        }
    }
}
