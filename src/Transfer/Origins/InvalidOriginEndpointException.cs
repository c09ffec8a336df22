namespace BuildFarm.Transfer.Origins;

/// <summary>An origin endpoint's configuration is unusable; the message lists every problem.</summary>
public sealed class InvalidOriginEndpointException(OriginEndpoint endpoint, IReadOnlyList<string> errors)
    : Exception($"Origin endpoint {endpoint.Name} is misconfigured:{Environment.NewLine}  - "
        + string.Join(Environment.NewLine + "  - ", errors))
{
    public IReadOnlyList<string> Errors { get; } = errors;
}
