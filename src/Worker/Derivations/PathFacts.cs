namespace BuildFarm.Worker.Derivations;

/// <summary>What the worker's store knows of one valid input path (for <c>exportReferencesGraph</c>).</summary>
/// <param name="Path">Logical store path.</param>
/// <param name="NarHash"><c>sha256:&lt;nix32&gt;</c>.</param>
/// <param name="NarSize">NAR size in bytes.</param>
/// <param name="References">Logical store paths it refers to.</param>
/// <param name="Ca">Its content address (<c>fixed:r:sha256:…</c>, <c>text:sha256:…</c>) when known.</param>
internal sealed record PathFacts(string Path, string NarHash, long NarSize, IReadOnlyList<string> References, string? Ca = null);
