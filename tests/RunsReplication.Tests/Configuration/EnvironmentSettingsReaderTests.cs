using Npgsql;
using RunsReplication.Configuration;
using RunsReplication.Leadership;

namespace RunsReplication.Tests.Configuration;

public class EnvironmentSettingsReaderTests
{
    private const string Password = "S3cr3t-P4ss";
    private const string DbUrl = "postgresql://postgres:" + Password + "@db.internal:5433/triggerdev?schema=public";
    private const string ChUrl = "http://ch_user:" + Password + "@clickhouse:8123";

    private static Dictionary<string, string?> Valid() => new()
    {
        ["DATABASE_URL"] = DbUrl,
        ["RUN_REPLICATION_CLICKHOUSE_URL"] = ChUrl,
    };

    private static ReplicationSettings Read(Dictionary<string, string?> env) =>
        new EnvironmentSettingsReader(name => env.GetValueOrDefault(name)).Read();

    private static IReadOnlyList<string> Problems(Dictionary<string, string?> env) =>
        Assert.Throws<SettingsException>(() => Read(env)).Problems;

    private static Dictionary<string, string?> With(params (string Name, string? Value)[] overrides)
    {
        var env = Valid();
        foreach (var (name, value) in overrides)
            env[name] = value;
        return env;
    }

    [Fact]
    public void Defaults_match_the_reference()
    {
        var s = Read(Valid());
        Assert.Equal("task_runs_to_clickhouse_v1", s.SlotName);
        Assert.Equal("task_runs_to_clickhouse_v1_publication", s.PublicationName);
        Assert.Equal(100, s.FlushBatchSize);
        Assert.Equal(TimeSpan.FromMilliseconds(1000), s.FlushInterval);
        Assert.Equal(2, s.MaxFlushConcurrency);
        Assert.Equal(3, s.InsertMaxRetries);
        Assert.Equal(TimeSpan.FromMilliseconds(100), s.InsertBaseDelay);
        Assert.Equal(TimeSpan.FromMilliseconds(2000), s.InsertMaxDelay);
        Assert.Equal(30_000, s.LeaderLease.LockTimeoutMs);
        Assert.Equal(10_000, s.LeaderLease.ExtendIntervalMs);
        Assert.Equal(10_000, s.LeaderLease.AdditionalTimeMs);
        Assert.Equal(500, s.LeaderLease.RetryIntervalMs);
        Assert.Equal(LeaseLossPolicy.Reacquire, s.LeaderLease.LossPolicy);
        Assert.Equal("runs-replication:logical-replication-client:logical-replication-client:task_runs_to_clickhouse_v1", s.LeaderLease.Key);
        Assert.False(s.Redis.TlsDisabled);
        Assert.Equal("localhost", s.Redis.Host);
        Assert.Equal(6379, s.Redis.Port);
        Assert.Equal("trigger_dev", s.ClickHouseDatabase);
    }

    [Fact]
    public void Lock_key_follows_the_slot_name()
    {
        var s = Read(With(("RUN_REPLICATION_SLOT_NAME", "my_slot_2")));
        Assert.Equal("my_slot_2", s.SlotName);
        Assert.Equal("runs-replication:logical-replication-client:logical-replication-client:my_slot_2", s.LeaderLease.Key);
    }

    [Theory]
    [InlineData("true", true)]
    [InlineData("1", true)]
    [InlineData("false", false)]
    [InlineData(null, false)]
    public void Redis_tls_is_on_unless_disabled(string? value, bool disabled)
    {
        Assert.Equal(disabled, Read(With(("RUN_REPLICATION_REDIS_TLS_DISABLED", value))).Redis.TlsDisabled);
    }

    [Fact]
    public void Overrides_are_read()
    {
        var s = Read(With(
            ("RUN_REPLICATION_FLUSH_BATCH_SIZE", " 250 "),
            ("RUN_REPLICATION_FLUSH_INTERVAL_MS", "300"),
            ("RUN_REPLICATION_MAX_FLUSH_CONCURRENCY", "4"),
            ("RUN_REPLICATION_LEADER_LOCK_LOSS_POLICY", "exit"),
            ("RUN_REPLICATION_REDIS_HOST", "redis.internal"),
            ("RUN_REPLICATION_REDIS_PASSWORD", Password)));
        Assert.Equal(250, s.FlushBatchSize);
        Assert.Equal(TimeSpan.FromMilliseconds(300), s.FlushInterval);
        Assert.Equal(4, s.MaxFlushConcurrency);
        Assert.Equal(LeaseLossPolicy.Exit, s.LeaderLease.LossPolicy);
        Assert.Equal("redis.internal", s.Redis.Host);
        Assert.Equal(Password, s.Redis.Password);
    }

    // ---- DATABASE_URL --------------------------------------------------------------------------------------

    [Fact]
    public void Database_url_with_prisma_schema_parameter()
    {
        var b = new NpgsqlConnectionStringBuilder(Read(Valid()).PostgresConnectionString);
        Assert.Equal("db.internal", b.Host);
        Assert.Equal(5433, b.Port);
        Assert.Equal("postgres", b.Username);
        Assert.Equal(Password, b.Password);
        Assert.Equal("triggerdev", b.Database);
    }

    [Fact]
    public void Database_url_password_is_url_decoded_and_port_defaults_to_5432()
    {
        var b = DatabaseUrl.Parse("postgres://app%40corp:p%40ss%3Aw%2Frd@localhost/db");
        Assert.Equal("app@corp", b.Username);
        Assert.Equal("p@ss:w/rd", b.Password);
        Assert.Equal(5432, b.Port);
        Assert.Equal("db", b.Database);
    }

    [Theory]
    [InlineData("disable", SslMode.Disable)]
    [InlineData("require", SslMode.Require)]
    [InlineData("verify-full", SslMode.VerifyFull)]
    public void Database_url_sslmode(string mode, SslMode expected)
    {
        Assert.Equal(expected, DatabaseUrl.Parse($"postgresql://u:p@h:5432/d?schema=public&sslmode={mode}").SslMode);
    }

    [Theory]
    [InlineData("mysql://u:p@h/d")]
    [InlineData("postgresql://u:p@h/d?sslmode=bogus")]
    [InlineData("postgresql://u:p@h/d?foo=bar")]
    [InlineData("not a url")]
    public void Bad_database_urls_are_refused(string url)
    {
        Assert.Throws<FormatException>(() => DatabaseUrl.Parse(url));
    }

    [Fact]
    public void Legacy_database_url_takes_precedence()
    {
        var s = Read(With(("RUN_REPLICATION_LEGACY_DATABASE_URL", "postgresql://legacy:pw@legacy-db:6543/old")));
        var b = new NpgsqlConnectionStringBuilder(s.PostgresConnectionString);
        Assert.Equal("legacy-db", b.Host);
        Assert.Equal(6543, b.Port);
        Assert.Equal("old", b.Database);
    }

    [Fact]
    public void Clickhouse_url_keeps_credentials_apart_from_the_address()
    {
        var e = ClickHouseEndpoint.Parse("https://ch%40user:p%40ss@ch.example:8443/?secure=true");
        Assert.Equal(new Uri("https://ch.example:8443/"), e.BaseAddress);
        Assert.Equal("ch@user", e.User);
        Assert.Equal("p@ss", e.Password);
        Assert.Equal("default", ClickHouseEndpoint.Parse("http://ch:8123").User);
    }

    [Theory]
    [InlineData("task_runs_v1", true)]
    [InlineData("Task_runs", false)]
    [InlineData("slot;drop", false)]
    [InlineData("", false)]
    public void Slot_names_follow_postgres_rules(string name, bool valid)
    {
        Assert.Equal(valid, Identifiers.IsValidSlotName(name));
    }

    [Theory]
    [InlineData("TaskRun", true)]
    [InlineData("_x1", true)]
    [InlineData("1abc", false)]
    [InlineData("pub\"lic", false)]
    public void Identifiers_allow_camel_case_but_not_quotes(string name, bool valid)
    {
        Assert.Equal(valid, Identifiers.IsValidIdentifier(name));
        if (!valid)
            Assert.Contains(name, Assert.Throws<ArgumentException>(() => Identifiers.Require(name, "table")).Message);
    }

    [Fact]
    public void Identifiers_longer_than_63_characters_are_refused()
    {
        Assert.True(Identifiers.IsValidIdentifier(new string('a', 63)));
        Assert.False(Identifiers.IsValidIdentifier(new string('a', 64)));
        Assert.False(Identifiers.IsValidSlotName(new string('a', 64)));
    }

    // ---- problems ------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("RUN_REPLICATION_FLUSH_BATCH_SIZE", "lots")]
    [InlineData("RUN_REPLICATION_MAX_FLUSH_CONCURRENCY", "0")]
    [InlineData("RUN_REPLICATION_SLOT_NAME", "Task_Runs")]
    [InlineData("RUN_REPLICATION_SLOT_NAME", "slot;drop")]
    [InlineData("RUN_REPLICATION_PUBLICATION_NAME", "pub'lication")]
    [InlineData("RUN_REPLICATION_CLICKHOUSE_URL", "ftp://clickhouse:8123")]
    [InlineData("DATABASE_URL", "mysql://root@db/triggerdev")]
    [InlineData("RUN_REPLICATION_LEADER_LOCK_LOSS_POLICY", "panic")]
    [InlineData("RUN_REPLICATION_LEADER_LOCK_EXTEND_INTERVAL_MS", "20000")]
    public void Each_bad_value_gives_one_line_naming_the_variable_and_the_value(string name, string value)
    {
        var problem = Assert.Single(Problems(With((name, value))));
        Assert.Contains(name, problem);
        Assert.Contains(value, problem);
        Assert.DoesNotContain('\n', problem);
    }

    [Fact]
    public void Missing_database_url_is_one_problem()
    {
        var problem = Assert.Single(Problems(With(("DATABASE_URL", null))));
        Assert.Contains("DATABASE_URL", problem);
    }

    [Fact]
    public void Missing_clickhouse_url_is_one_problem()
    {
        var problem = Assert.Single(Problems(With(("RUN_REPLICATION_CLICKHOUSE_URL", "  "))));
        Assert.Contains("RUN_REPLICATION_CLICKHOUSE_URL", problem);
    }

    [Fact]
    public void Several_bad_values_give_several_lines()
    {
        var problems = Problems(With(
            ("DATABASE_URL", null),
            ("RUN_REPLICATION_FLUSH_BATCH_SIZE", "-1"),
            ("RUN_REPLICATION_SLOT_NAME", "BAD"),
            ("RUN_REPLICATION_REDIS_TLS_DISABLED", "maybe")));
        Assert.Equal(4, problems.Count);
        Assert.Contains(problems, p => p.StartsWith("DATABASE_URL"));
        Assert.Contains(problems, p => p.Contains("RUN_REPLICATION_FLUSH_BATCH_SIZE='-1'"));
        Assert.Contains(problems, p => p.Contains("RUN_REPLICATION_SLOT_NAME='BAD'"));
        Assert.Contains(problems, p => p.Contains("RUN_REPLICATION_REDIS_TLS_DISABLED='maybe'"));
        var e = Assert.Throws<SettingsException>(() => Read(With(("DATABASE_URL", null), ("RUN_REPLICATION_SLOT_NAME", "BAD"))));
        Assert.Equal(2, e.Message.Split(Environment.NewLine).Length);
    }

    [Theory]
    [InlineData("DATABASE_URL", "postgresql://postgres:" + Password + "@db:5432/triggerdev?sslmode=sometimes")]
    [InlineData("DATABASE_URL", "postgresql://postgres:" + Password + "@db:5432/triggerdev?unknown=1")]
    [InlineData("RUN_REPLICATION_LEGACY_DATABASE_URL", "postgresql://postgres:" + Password + "@db:5432/triggerdev?sslmode=x")]
    [InlineData("RUN_REPLICATION_CLICKHOUSE_URL", "ftp://default:" + Password + "@clickhouse:8123")]
    public void Passwords_never_appear_in_problem_lines(string name, string value)
    {
        var problem = Assert.Single(Problems(With((name, value))));
        Assert.Contains(name, problem);
        Assert.DoesNotContain(Password, problem);
        Assert.Contains("***", problem);
    }

    [Fact]
    public void Passwords_never_appear_in_settings_objects_text()
    {
        var s = Read(With(("RUN_REPLICATION_REDIS_PASSWORD", Password)));
        Assert.DoesNotContain(Password, s.Redis.ToString());
        Assert.Contains("password=***", s.Redis.ToString());
        Assert.DoesNotContain(Password, s.ClickHouse.ToString());
        Assert.Contains("clickhouse:8123", s.ClickHouse.ToString());
    }

    [Fact]
    public void Password_never_appears_in_replication_settings_text()
    {
        var s = Read(With(("RUN_REPLICATION_REDIS_PASSWORD", Password)));
        var text = s.ToString();
        Assert.DoesNotContain(Password, text);
        Assert.Contains("db.internal", text);
        Assert.Contains("task_runs_to_clickhouse_v1", text);
    }

    [Theory]
    [InlineData("DATABASE_URL", "postgresql://postgres:" + Password + "@db:99999/triggerdev")]
    [InlineData("DATABASE_URL", "postgresql://postgres:" + Password + "@db host/triggerdev")]
    [InlineData("RUN_REPLICATION_CLICKHOUSE_URL", "http://default:" + Password + "@clickhouse:port")]
    public void Passwords_never_appear_in_problem_lines_for_unparseable_urls(string name, string value)
    {
        var problem = Assert.Single(Problems(With((name, value))));
        Assert.Contains(name, problem);
        Assert.DoesNotContain(Password, problem);
    }

    [Fact]
    public void Redis_quorum_nodes_are_read_as_a_list_and_replace_host_and_port()
    {
        var s = Read(With(("RUN_REPLICATION_REDIS_QUORUM_NODES", "redis-a:6379, redis-b:6380,10.0.0.3:6381")));
        Assert.True(s.Redis.IsQuorum);
        Assert.Equal([new RedisEndpoint("redis-a", 6379), new RedisEndpoint("redis-b", 6380), new RedisEndpoint("10.0.0.3", 6381)], s.Redis.Endpoints);
        Assert.False(Read(Valid()).Redis.IsQuorum);
        Assert.Single(Read(Valid()).Redis.Endpoints);
    }

    [Theory]
    [InlineData("redis-a:6379,redis-b:6379", "at least three")]
    [InlineData("redis-a:6379,redis-a:6379,redis-b:6379", "at least three distinct")]
    [InlineData("redis-a:6379,redis-b,redis-c:6379", "'redis-b' is not host:port")]
    [InlineData("redis-a:6379,redis-b:99999,redis-c:6379", "'redis-b:99999' is not host:port")]
    [InlineData("redis-a:6379,bad host:1,redis-c:6379", "'bad host:1' is not host:port")]
    public void Bad_quorum_node_lists_name_the_variable_and_the_entry(string value, string expected)
    {
        var problem = Assert.Single(Problems(With(("RUN_REPLICATION_REDIS_QUORUM_NODES", value))));
        Assert.StartsWith("RUN_REPLICATION_REDIS_QUORUM_NODES=", problem);
        Assert.Contains(expected, problem);
    }
}
