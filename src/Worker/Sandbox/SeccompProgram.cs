namespace BuildFarm.Worker.Sandbox;

/// <summary>The seccomp program a build is started with (null until the filter lands).</summary>
internal static class SeccompProgram
{
    public static byte[]? Create(SandboxSettings settings) => null;
}
