using System.Buffers;
using System.Text;
using System.Text.Json;
using RunsReplication.Model;

namespace RunsReplication.Mapping;

public sealed class TaskRunMapperOptions
{
    /// <summary>Never produce payload rows (Trigger.dev's switch to turn off payload inserts).</summary>
    public bool DisablePayloadInserts { get; init; }
    /// <summary>Leave <c>error_fingerprint</c> empty.</summary>
    public bool DisableErrorFingerprinting { get; init; }
    /// <summary>Nesting limit for output/payload/error; deeper values become <c>{}</c>.</summary>
    public int MaxJsonDepth { get; init; } = JsonSanitizer.DefaultMaxDepth;
    /// <summary>
    /// When true (the default, as Trigger.dev's <c>detectBadJsonStrings</c> does), an output or payload holding an
    /// unpaired surrogate escape becomes <c>{}</c>; when false the surrogate is replaced per
    /// <see cref="LoneSurrogateReplacement"/> and the rest of the value is kept.
    /// </summary>
    public bool EmptyJsonOnLoneSurrogate { get; init; } = true;
    public LoneSurrogateReplacement LoneSurrogateReplacement { get; init; } = LoneSurrogateReplacement.Sentinel;
}

/// <summary>
/// Maps a <see cref="TaskRunChange"/> to ClickHouse rows, following Trigger.dev's runs replication. Stateless
/// apart from its counters (updated with <see cref="Interlocked"/>), so one instance may be used from several
/// threads at once. Logging is the caller's job: read the counters, or the <c>changes</c> returned by
/// <see cref="MapDataJson"/>.
/// </summary>
public sealed class TaskRunMapper
{
    public const string ApplicationJson = "application/json";
    public const string ApplicationSuperJson = "application/super+json";
    public const string ExternalDeploymentPending = "EXTERNAL_DEPLOYMENT_PENDING";

    private readonly TaskRunMapperOptions _options;
    private long _skippedRuns;
    private long _jsonEmptied;
    private long _jsonRewritten;
    private long _tooDeep;
    private long _loneSurrogates;
    private long _invalidJson;

    public TaskRunMapper(TaskRunMapperOptions? options = null) => _options = options ?? new TaskRunMapperOptions();

    public TaskRunMapperOptions Options => _options;
    /// <summary>Runs skipped because organizationId or environmentType is null.</summary>
    public long SkippedRuns => Interlocked.Read(ref _skippedRuns);
    /// <summary>JSON values (output/payload/error) replaced by <c>{}</c> because of a problem (not counting empty or non-JSON types).</summary>
    public long JsonValuesEmptied => Interlocked.Read(ref _jsonEmptied);
    /// <summary>JSON values kept but rewritten (surrogates replaced, huge integers turned into strings).</summary>
    public long JsonValuesRewritten => Interlocked.Read(ref _jsonRewritten);
    public long JsonTooDeep => Interlocked.Read(ref _tooDeep);
    public long JsonLoneSurrogates => Interlocked.Read(ref _loneSurrogates);
    public long JsonInvalid => Interlocked.Read(ref _invalidJson);

    /// <summary>
    /// Maps one change. Returns false (and counts it in <see cref="SkippedRuns"/>) when the run has no
    /// organizationId or environmentType. <paramref name="payload"/> is set only for inserts when payload
    /// inserts are enabled.
    /// </summary>
    public bool TryMap(TaskRunChange change, out TaskRunRow row, out PayloadRow? payload)
    {
        ArgumentNullException.ThrowIfNull(change);
        var run = change.Run;
        if (run.OrganizationId is null || run.EnvironmentType is null)
        {
            Interlocked.Increment(ref _skippedRuns);
            row = null!;
            payload = null;
            return false;
        }

        row = MapRow(run, change.Kind, change.Version);
        payload = change.Kind == ChangeKind.Insert && !_options.DisablePayloadInserts
            ? new PayloadRow
            {
                RunId = run.Id,
                CreatedAt = ToEpochMs(run.CreatedAt),
                Payload = MapDataJson(run.Payload, run.PayloadType, out _),
            }
            : null;
        return true;
    }

    /// <summary>Maps the task-run row only; null when skipped.</summary>
    public TaskRunRow? Map(TaskRunChange change) => TryMap(change, out var row, out _) ? row : null;

    private TaskRunRow MapRow(TaskRunRecord run, ChangeKind kind, ulong version)
    {
        ReadIdempotencyOptions(run.IdempotencyKeyOptions, out var idemUser, out var idemScope);
        ReadAnnotations(run.Annotations, run.StatusReason == ExternalDeploymentPending,
            out var triggerSource, out var rootTriggerSource, out var taskKind, out var externalDeploymentId);

        return new TaskRunRow
        {
            EnvironmentId = run.RuntimeEnvironmentId ?? "",
            OrganizationId = run.OrganizationId ?? "",
            ProjectId = run.ProjectId ?? "",
            RunId = run.Id ?? "",
            UpdatedAt = ToEpochMs(run.UpdatedAt),
            CreatedAt = ToEpochMs(run.CreatedAt),
            QueueTimestamp = ToEpochMs(run.QueueTimestamp),
            Status = run.Status ?? "",
            EnvironmentType = run.EnvironmentType ?? "",
            FriendlyId = run.FriendlyId ?? "",
            Attempt = run.AttemptNumber ?? 1,
            Engine = run.Engine ?? "",
            TaskIdentifier = run.TaskIdentifier ?? "",
            Queue = run.Queue ?? "",
            ScheduleId = run.ScheduleId ?? "",
            BatchId = run.BatchId ?? "",
            CompletedAt = ToEpochMs(run.CompletedAt),
            StartedAt = ToEpochMs(run.StartedAt),
            ExecutedAt = ToEpochMs(run.ExecutedAt),
            DelayUntil = ToEpochMs(run.DelayUntil),
            QueuedAt = ToEpochMs(run.QueuedAt),
            ExpiredAt = ToEpochMs(run.ExpiredAt),
            UsageDurationMs = run.UsageDurationMs ?? 0,
            CostInCents = run.CostInCents ?? 0,
            BaseCostInCents = run.BaseCostInCents ?? 0,
            Output = MapDataJson(run.Output, run.OutputType, out _),
            Error = MapErrorJson(run.Error),
            ErrorFingerprint = !_options.DisableErrorFingerprinting && ErrorFingerprint.IsFailureStatus(run.Status ?? "")
                ? ErrorFingerprint.Compute(run.Error)
                : "",
            Tags = run.RunTags ?? [],
            TaskVersion = run.TaskVersion ?? "",
            SdkVersion = run.SdkVersion ?? "",
            CliVersion = run.CliVersion ?? "",
            MachinePreset = run.MachinePreset ?? "",
            RootRunId = run.RootTaskRunId ?? "",
            ParentRunId = run.ParentTaskRunId ?? "",
            Depth = run.Depth ?? 0,
            SpanId = run.SpanId ?? "",
            TraceId = run.TraceId ?? "",
            IdempotencyKey = run.IdempotencyKey ?? "",
            IdempotencyKeyUser = idemUser,
            IdempotencyKeyScope = idemScope,
            ExpirationTtl = run.Ttl ?? "",
            IsTest = run.IsTest ? (byte)1 : (byte)0,
            Version = version,
            IsDeleted = kind == ChangeKind.Delete ? (byte)1 : (byte)0,
            ConcurrencyKey = run.ConcurrencyKey ?? "",
            BulkActionGroupIds = run.BulkActionGroupIds ?? [],
            WorkerQueue = CutWorkerQueue(run.WorkerQueue),
            Region = run.Region ?? "",
            PlanType = run.PlanType ?? "",
            MaxDurationInSeconds = run.MaxDurationInSeconds,
            TriggerSource = triggerSource,
            RootTriggerSource = rootTriggerSource,
            TaskKind = taskKind,
            IsWarmStart = run.IsWarmStart is { } warm ? (warm ? (byte)1 : (byte)0) : null,
            ExternalDeploymentId = externalDeploymentId,
        };
    }

    /// <summary><c>masterQueue</c> up to (not including) the first ':'; "" when null.</summary>
    public static string CutWorkerQueue(string? masterQueue)
    {
        if (string.IsNullOrEmpty(masterQueue)) return "";
        var i = masterQueue.IndexOf(':');
        return i < 0 ? masterQueue : masterQueue[..i];
    }

    /// <summary>UTC epoch milliseconds. Unspecified kinds are taken as UTC (the columns hold UTC).</summary>
    public static long ToEpochMs(DateTime value)
    {
        if (value.Kind == DateTimeKind.Local) value = value.ToUniversalTime();
        return (value.Ticks - DateTime.UnixEpoch.Ticks) / TimeSpan.TicksPerMillisecond;
    }

    public static long? ToEpochMs(DateTime? value) => value is { } v ? ToEpochMs(v) : null;

    /// <summary>
    /// The value for a JSON column fed from a text column with a MIME type (output, payload):
    /// <c>{"data":&lt;value&gt;}</c> for <c>application/json</c>, or the <c>json</c> part for
    /// <c>application/super+json</c>; <c>{}</c> for other types, empty data, invalid or too deep JSON (and for
    /// lone surrogates unless <see cref="TaskRunMapperOptions.EmptyJsonOnLoneSurrogate"/> is false).
    /// </summary>
    public string MapDataJson(string? data, string? dataType, out JsonSanitizeChanges changes)
    {
        changes = JsonSanitizeChanges.None;
        if (string.IsNullOrEmpty(data)) return JsonSanitizer.EmptyObject;
        string? value;
        if (dataType == ApplicationJson) value = data;
        else if (dataType == ApplicationSuperJson)
        {
            if (!TryExtractSuperJsonPart(data, out value))
            {
                changes = JsonSanitizeChanges.Invalid;
                Count(changes);
                return JsonSanitizer.EmptyObject;
            }
            if (value is null) return JsonSanitizer.EmptyObject; // no "json" key: the value is undefined
        }
        else return JsonSanitizer.EmptyObject;

        var sanitized = JsonSanitizer.Sanitize(value, out changes, _options.MaxJsonDepth, _options.LoneSurrogateReplacement);
        if (changes == JsonSanitizeChanges.None) return Wrap(sanitized);
        Count(changes);
        if ((changes & (JsonSanitizeChanges.Invalid | JsonSanitizeChanges.TooDeep)) != 0) return JsonSanitizer.EmptyObject;
        if ((changes & JsonSanitizeChanges.LoneSurrogate) != 0 && _options.EmptyJsonOnLoneSurrogate)
        {
            Interlocked.Increment(ref _jsonEmptied);
            return JsonSanitizer.EmptyObject;
        }
        Interlocked.Increment(ref _jsonRewritten);
        return Wrap(sanitized);
    }

    /// <summary><c>{"data":&lt;error&gt;}</c>, or <c>{}</c> when null or unusable.</summary>
    public string MapErrorJson(string? error)
    {
        if (string.IsNullOrEmpty(error)) return JsonSanitizer.EmptyObject;
        var sanitized = JsonSanitizer.Sanitize(error, out var changes, _options.MaxJsonDepth, _options.LoneSurrogateReplacement);
        if (changes == JsonSanitizeChanges.None) return Wrap(sanitized);
        Count(changes);
        if ((changes & (JsonSanitizeChanges.Invalid | JsonSanitizeChanges.TooDeep)) != 0) return JsonSanitizer.EmptyObject;
        Interlocked.Increment(ref _jsonRewritten);
        return Wrap(sanitized);
    }

    private void Count(JsonSanitizeChanges changes)
    {
        if ((changes & JsonSanitizeChanges.Invalid) != 0) { Interlocked.Increment(ref _invalidJson); Interlocked.Increment(ref _jsonEmptied); }
        else if ((changes & JsonSanitizeChanges.TooDeep) != 0) { Interlocked.Increment(ref _tooDeep); Interlocked.Increment(ref _jsonEmptied); }
        if ((changes & JsonSanitizeChanges.LoneSurrogate) != 0) Interlocked.Increment(ref _loneSurrogates);
    }

    private static string Wrap(string json) => string.Concat("{\"data\":", json, "}");

    /// <summary>
    /// Finds the top-level <c>json</c> member of a superjson document and returns its raw text (null when absent).
    /// False when the document is not a valid JSON object.
    /// </summary>
    internal bool TryExtractSuperJsonPart(string superJson, out string? jsonPart)
    {
        jsonPart = null;
        var bytes = Encoding.UTF8.GetBytes(superJson);
        try
        {
            var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { MaxDepth = _options.MaxJsonDepth + 8 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return false;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isJson = reader.ValueTextEquals("json"u8);
                reader.Read();
                var start = (int)reader.TokenStartIndex;
                reader.Skip();
                if (isJson && jsonPart is null)
                    jsonPart = Encoding.UTF8.GetString(bytes, start, (int)reader.BytesConsumed - start);
            }
            return true;
        }
        catch (JsonException)
        {
            jsonPart = null;
            return false;
        }
    }

    private static void ReadIdempotencyOptions(string? json, out string user, out string scope)
    {
        user = "";
        scope = "";
        if (string.IsNullOrEmpty(json)) return;
        var values = new string?[2];
        if (TryReadTopLevelStrings(json, ["key", "scope"], values, out _))
        {
            user = values[0] ?? "";
            scope = values[1] ?? "";
        }
    }

    private static readonly string[] AnnotationFields = ["triggerSource", "rootTriggerSource", "taskKind", "externalDeploymentId"];

    private static void ReadAnnotations(string? json, bool externalDeploymentPending,
        out string triggerSource, out string rootTriggerSource, out string taskKind, out string externalDeploymentId)
    {
        triggerSource = rootTriggerSource = taskKind = externalDeploymentId = "";
        if (string.IsNullOrEmpty(json)) return;
        var values = new string?[4];
        if (!TryReadTopLevelStrings(json, AnnotationFields, values, out var mismatch)) return;
        // The three annotation fields are used only when the blob validates (each, when present, is a string);
        // the external deployment id is read regardless, for runs parked with EXTERNAL_DEPLOYMENT_PENDING.
        if ((mismatch & 0b0111) == 0)
        {
            triggerSource = values[0] ?? "";
            rootTriggerSource = values[1] ?? "";
            taskKind = values[2] ?? "";
        }
        if (externalDeploymentPending) externalDeploymentId = values[3] ?? "";
    }

    /// <summary>
    /// Reads the named top-level string members of a JSON object. <paramref name="typeMismatch"/> has bit i set
    /// when member i is present with a non-string, non-null value. False when the text is not a JSON object.
    /// </summary>
    internal static bool TryReadTopLevelStrings(string json, ReadOnlySpan<string> names, string?[] values, out int typeMismatch)
    {
        typeMismatch = 0;
        byte[]? rented = null;
        var max = Encoding.UTF8.GetMaxByteCount(json.Length);
        Span<byte> buffer = max <= 1024 ? stackalloc byte[1024] : (rented = ArrayPool<byte>.Shared.Rent(max));
        try
        {
            var n = Encoding.UTF8.GetBytes(json, buffer);
            var reader = new Utf8JsonReader(buffer[..n], new JsonReaderOptions { MaxDepth = 1024 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return false;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var index = -1;
                for (var i = 0; i < names.Length; i++)
                {
                    if (reader.ValueTextEquals(names[i])) { index = i; break; }
                }
                reader.Read();
                if (index >= 0)
                {
                    if (reader.TokenType == JsonTokenType.String) values[index] = reader.GetString();
                    else if (reader.TokenType != JsonTokenType.Null) typeMismatch |= 1 << index;
                }
                reader.Skip();
            }
            return true;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            return false;
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }
}
