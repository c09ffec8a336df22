using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.Deployment;

/// <summary>
/// Runs packaging/install-worker.sh against a scratch --destdir. The binary directory holds a stand-in
/// <c>buildfarm-worker</c> (the script only checks it is executable and names it in the unit) and a
/// <c>buildfarm</c> whose <c>keys generate --name N</c> is Nix's <c>nix key generate-secret --key-name N</c>:
/// the same contract (the secret key NAME:BASE64 on stdout) from the reference implementation.
/// </summary>
internal sealed class InstallWorkerRun : IDisposable
{
    private readonly TempDirectory _temp = new("bf-install");

    public InstallWorkerRun(bool withKeyGenerator = true)
    {
        Directory.CreateDirectory(BinDir);
        Directory.CreateDirectory(DestDir);
        WriteExecutable("buildfarm-worker", "#!/bin/sh\nexit 0\n");
        if (withKeyGenerator)
        {
            WriteExecutable("buildfarm", """
                #!/bin/sh
                [ "$1 $2 $3" = "keys generate --name" ] || { echo "unexpected arguments: $*" >&2; exit 64; }
                nix key generate-secret --key-name "$4" && echo
                """);
        }
    }

    public string BinDir => _temp.Combine("bin");

    public string DestDir => _temp.Combine("root");

    public static string Script => Path.Combine(RepoPaths.Root, "packaging", "install-worker.sh");

    /// <summary>A file below the scratch root, by its path on the real machine.</summary>
    public string InRoot(string absolutePath) => DestDir + absolutePath;

    /// <summary>The --binary-dir passed: the stand-ins by default.</summary>
    public string BinaryDir { get; set; } = "";

    public Task<ProcessResult> RunAsync(params string[] flags) =>
        ProcessRunner.RunAsync(Script, [.. flags, "--destdir", DestDir, "--binary-dir", BinaryDir.Length > 0 ? BinaryDir : BinDir], timeout: TimeSpan.FromMinutes(1));

    public void Dispose() => _temp.Dispose();

    private void WriteExecutable(string name, string text)
    {
        var path = Path.Combine(BinDir, name);
        File.WriteAllText(path, text);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }
}
