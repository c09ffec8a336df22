namespace BuildFarm.Transfer.Origins;

/// <summary>The connection settings of an origin are unusable; the message lists every problem.</summary>
public sealed class InvalidOriginConnectionSettingsException(OriginConnectionSettings settings, IReadOnlyList<string> errors)
    : Exception($"Origin endpoint {settings.Name} is misconfigured:{Environment.NewLine}  - "
        + string.Join(Environment.NewLine + "  - ", errors))
{
    public IReadOnlyList<string> Errors { get; } = errors;
}
