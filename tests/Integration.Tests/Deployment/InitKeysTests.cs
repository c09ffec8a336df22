using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.Deployment;

public sealed class InitKeysTests
{
    /// <summary>compose/init-keys.sh with the same Nix-backed <c>buildfarm keys generate</c> as the installer test.</summary>
    [Fact]
    public async Task InitKeys_TwoWorkers_WritesKeysAndTrustFilesAndKeepsThemOnRerun()
    {
        using var run = new InstallWorkerRun();
        var keys = run.InRoot("/keys");
        var script = Path.Combine(ComposeFile.Directory, "init-keys.sh");
        var env = new Dictionary<string, string> { ["PATH"] = run.BinDir + ":" + Environment.GetEnvironmentVariable("PATH") };

        (await ProcessRunner.RunAsync(script, [keys, "worker-a", "worker-b"], environment: env)).EnsureSuccess("init-keys.sh");
        var first = Directory.EnumerateFiles(keys).ToDictionary(f => Path.GetFileName(f), File.ReadAllText);
        (await ProcessRunner.RunAsync(script, [keys, "worker-a", "worker-b"], environment: env)).EnsureSuccess("init-keys.sh again");

        Assert.Equal(first, Directory.EnumerateFiles(keys).ToDictionary(f => Path.GetFileName(f), File.ReadAllText));
        foreach (var name in new[] { "dispatcher", "worker-a", "worker-b" })
        {
            var secret = System.Text.Encoding.UTF8.GetBytes(first[name + ".secret"]);
            var fromNix = (await ProcessRunner.RunAsync("nix", ["key", "convert-secret-to-public"], stdin: secret)).EnsureSuccess("nix key convert-secret-to-public");
            Assert.Equal(fromNix.Stdout.Trim(), first[name + ".public"].Trim());
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(keys, name + ".secret")));
        }

        Assert.Equal(first["dispatcher.public"], first["trusted-dispatcher-keys"]);
        Assert.Equal(first["worker-a.public"] + first["worker-b.public"], first["trusted-worker-keys"]);
    }
}
