namespace BuildFarm.Worker.Sandbox;

/// <summary>The seccomp program every build starts with: <see cref="SeccompFilter"/> for this machine and the worker's systems.</summary>
internal static class SeccompProgram
{
    private static readonly Lazy<byte[]> Native = new(() => SeccompFilter.Build(SeccompFilter.Native, allowI386: false));
    private static readonly Lazy<byte[]> WithI386 = new(() => SeccompFilter.Build(SeccompFilter.Native, allowI386: true));

    /// <summary>The program for <paramref name="settings"/>, built once per process (one of two): every build starts with the same bytes.</summary>
    public static byte[] For(SandboxSettings settings) =>
        (settings.AllowI386 && SeccompFilter.Native == SeccompArch.X86_64 ? WithI386 : Native).Value;
}
