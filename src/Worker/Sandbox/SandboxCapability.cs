namespace BuildFarm.Worker.Sandbox;

/// <summary>Whether sandboxed builds are possible here; <paramref name="Reason"/> says what was checked or what failed.</summary>
public sealed record SandboxCapability(bool Available, string Reason);
