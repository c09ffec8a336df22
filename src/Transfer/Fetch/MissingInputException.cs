namespace BuildFarm.Transfer.Fetch;

/// <summary>The origin's export did not contain some requested paths (they are not valid in the origin store).</summary>
public sealed class MissingInputException(IReadOnlyList<string> paths)
    : Exception($"The origin did not deliver {paths.Count} requested path(s): {string.Join(", ", paths)}")
{
    /// <summary>
    /// The exit status of <c>buildfarm store export</c> when a requested path is not valid in the origin store: the
    /// origin cannot serve it however often it is asked (unlike exit 1, which may be a passing I/O failure).
    /// </summary>
    public const int OriginExitCode = 3;

    public IReadOnlyList<string> Paths { get; } = paths;
}
