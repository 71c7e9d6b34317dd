using System.Text.RegularExpressions;

namespace RunsReplication.Configuration;

/// <summary>
/// Checks names before they are spliced into SQL. Slot names follow PostgreSQL's own rule (lower-case letters,
/// digits, underscore; at most 63 characters); other identifiers allow upper case too, since Trigger.dev's
/// tables are camel case.
/// </summary>
public static partial class Identifiers
{
    [GeneratedRegex("^[a-z0-9_]{1,63}$")]
    private static partial Regex SlotPattern();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,62}$")]
    private static partial Regex IdentifierPattern();

    public static bool IsValidSlotName(string name) => SlotPattern().IsMatch(name);

    public static bool IsValidIdentifier(string name) => IdentifierPattern().IsMatch(name);

    /// <summary>Returns the name if it is a safe identifier, else throws naming what it was for.</summary>
    public static string Require(string name, string what) =>
        IsValidIdentifier(name)
            ? name
            : throw new ArgumentException($"{what} '{name}' is not a valid identifier: expected letters, digits and underscores, starting with a letter or underscore, at most 63 characters");
}
