using RunsReplication.ClickHouse;

namespace RunsReplication.Tests.ClickHouse;

public class ClickHouseSchemaTests
{
    [Fact]
    public void Statements_AreOrderedAndUseDatabase()
    {
        var statements = ClickHouseSchema.GetMigrationStatements("trigger_dev");
        Assert.Equal(3, statements.Count);
        Assert.Equal("CREATE DATABASE IF NOT EXISTS trigger_dev", statements[0]);
        Assert.StartsWith("CREATE TABLE IF NOT EXISTS trigger_dev.raw_task_runs_payload_v1", statements[1]);
        Assert.StartsWith("CREATE TABLE IF NOT EXISTS trigger_dev.task_runs_v2", statements[2]);
        Assert.All(statements, s =>
        {
            Assert.DoesNotContain("{database}", s);
            Assert.DoesNotContain(";", s);
            Assert.DoesNotContain("--", s);
        });
    }

    [Fact]
    public void TaskRunsTable_HasEveryInsertColumnAndTheEngine()
    {
        var ddl = ClickHouseSchema.GetMigrationStatements("x")[2];
        foreach (var column in TaskRunRowWriter.TaskRunColumns)
            Assert.Matches($@"(?m)^\s*{column}\s", ddl);
        Assert.Contains("output_text", ddl);
        Assert.Contains("error_text", ddl);
        Assert.Contains("output                    JSON(max_dynamic_paths = 1024)", ddl);
        Assert.Contains("error                     JSON(max_dynamic_paths = 64)", ddl);
        Assert.Contains("ENGINE = ReplacingMergeTree(_version, _is_deleted)", ddl);
        Assert.Contains("PARTITION BY toYYYYMM(created_at)", ddl);
        Assert.Contains("ORDER BY (organization_id, project_id, environment_id, created_at, run_id)", ddl);
        Assert.Contains("SETTINGS enable_json_type = 1", ddl);
        Assert.Contains("INDEX idx_tags tags TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 4", ddl);
        Assert.Contains("INDEX idx_error_fingerprint error_fingerprint TYPE bloom_filter GRANULARITY 4", ddl);
    }

    [Theory]
    [InlineData("")]
    [InlineData("1abc")]
    [InlineData("a-b")]
    [InlineData("db.x")]
    [InlineData("x; DROP DATABASE y")]
    [InlineData("`x`")]
    public void InvalidDatabaseNames_Throw(string name) =>
        Assert.Throws<ArgumentException>(() => ClickHouseSchema.GetMigrationStatements(name));

    [Theory]
    [InlineData("trigger_dev")]
    [InlineData("_x1")]
    [InlineData("A")]
    public void ValidDatabaseNames_Pass(string name) => Assert.Equal(name, ClickHouseSchema.ValidateIdentifier(name));
}
