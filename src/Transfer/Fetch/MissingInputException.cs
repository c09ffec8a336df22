namespace BuildFarm.Transfer.Fetch;

/// <summary>The origin's export did not contain some requested paths (they are not valid in the origin store).</summary>
public sealed class MissingInputException(IReadOnlyList<string> paths)
    : Exception($"The origin did not deliver {paths.Count} requested path(s): {string.Join(", ", paths)}")
{
    public IReadOnlyList<string> Paths { get; } = paths;
}
