namespace BuildFarm.Worker.Sandbox;

/// <summary>The seccomp program every build starts with: <see cref="SeccompFilter"/> for this machine and the worker's systems.</summary>
internal static class SeccompProgram
{
    public static byte[] Create(SandboxSettings settings) =>
        SeccompFilter.Build(SeccompFilter.Native, settings.AllowI386 && SeccompFilter.Native == SeccompArch.X86_64);
}
