namespace RunsReplication.Configuration;

/// <summary>
/// A setting that cannot be used. The message is one line naming the setting, the value (secrets redacted) and
/// what is expected, so start-up can print it and exit.
/// </summary>
public sealed class SettingsException(IReadOnlyList<string> problems)
    : Exception(string.Join(Environment.NewLine, problems))
{
    public IReadOnlyList<string> Problems { get; } = problems;
}
