using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.Deployment;

/// <summary>
/// Runs packaging/install-worker.sh against a scratch --destdir. The binary directory holds small wrappers that run
/// the published <c>buildfarm-worker</c> and <c>buildfarm</c> (artifacts/bin, which <c>./farm test</c> publishes
/// first): the script checks, keys and writes worker.json through <c>buildfarm-worker init</c> and prints the public
/// key with <c>buildfarm keys public</c>. The wrappers let the unit name a directory of the test's own.
/// </summary>
internal sealed class InstallWorkerRun : IDisposable
{
    private readonly TempDirectory _temp = new("bf-install");

    public InstallWorkerRun(bool withBuildfarm = true)
    {
        Directory.CreateDirectory(BinDir);
        Directory.CreateDirectory(DestDir);
        WriteWrapper("buildfarm-worker");
        if (withBuildfarm)
            WriteWrapper("buildfarm");
    }

    public string BinDir => _temp.Combine("bin");

    public string DestDir => _temp.Combine("root");

    public static string Script => Path.Combine(RepoPaths.Root, "packaging", "install-worker.sh");

    /// <summary>A file below the scratch root, by its path on the real machine.</summary>
    public string InRoot(string absolutePath) => DestDir + absolutePath;

    /// <summary>The --binary-dir passed: the wrappers by default.</summary>
    public string BinaryDir { get; set; } = "";

    public Task<ProcessResult> RunAsync(params string[] flags) =>
        ProcessRunner.RunAsync(Script, [.. flags, "--destdir", DestDir, "--binary-dir", BinaryDir.Length > 0 ? BinaryDir : BinDir], timeout: TimeSpan.FromMinutes(1));

    public void Dispose() => _temp.Dispose();

    private void WriteWrapper(string name)
    {
        var real = Path.Combine(RepoPaths.Bin, name);
        if (!File.Exists(real))
            throw new InvalidOperationException($"{real} is missing: publish with ./farm build (./farm test does)");
        var path = Path.Combine(BinDir, name);
        File.WriteAllText(path, $"#!/bin/sh\nexec '{real}' \"$@\"\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }
}
