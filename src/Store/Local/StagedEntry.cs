namespace BuildFarm.Store.Local;

/// <summary>Content written to a <see cref="StagedPath"/> and the row it becomes valid with.</summary>
/// <remarks>The registration time of <paramref name="Info"/> is replaced by the commit time.</remarks>
public sealed record StagedEntry(StagedPath Staged, ValidPathInfo Info);
