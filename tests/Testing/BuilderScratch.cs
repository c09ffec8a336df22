namespace BuildFarm.Testing;

/// <summary>
/// What test workers' sandboxed builders see of the host, through the sandbox's extra paths (an operator's
/// <c>Sandbox:ExtraPaths</c>): a static busybox as /bin/sh and the few host tools test scripts call, and one
/// world-writable scratch root shared with the test, for markers and gates.
/// </summary>
public static class BuilderScratch
{
    public const string Root = "/tmp/buildfarm-builder-scratch";

    public static IReadOnlyList<string> ExtraPaths { get; } =
        ["/bin/sh=/bin/busybox", "/bin/busybox", "/bin/sleep=/bin/busybox", "/bin/mv=/bin/busybox", Root];

    /// <summary>A fresh directory under <see cref="Root"/> that builders can read and write.</summary>
    public static TempDirectory Create(string prefix)
    {
        Directory.CreateDirectory(Root);
        File.SetUnixFileMode(Root, (UnixFileMode)0b1_111_111_111);
        var dir = new TempDirectory(prefix, Root);
        File.SetUnixFileMode(dir.Path, (UnixFileMode)0b111_111_111);
        return dir;
    }
}
