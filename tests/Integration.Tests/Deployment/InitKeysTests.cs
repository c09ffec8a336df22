using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.Deployment;

public sealed class InitKeysTests
{
    private const string ForcedOriginServe = "command=\"/opt/buildfarm/bin/buildfarm --store-dir /nix/store --root /var/lib/buildfarm/origin origin-serve\",restrict ";

    private static async Task<int> OwnerOfAsync(string path) =>
        int.Parse((await ProcessRunner.RunAsync("stat", ["-c", "%u", path])).EnsureSuccess("stat").Stdout.Trim(), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>With --broker-dir (compose gives it): one broker user per role, passwords 0600 for their process, kept on rerun.</summary>
    [Fact]
    public async Task InitKeys_BrokerDir_GeneratesRoleUsersAndKeepsTheirPasswords()
    {
        using var run = new InstallWorkerRun();
        var keys = run.InRoot("/keys");
        var broker = run.InRoot("/broker");
        var script = Path.Combine(ComposeFile.Directory, "init-keys.sh");
        var env = new Dictionary<string, string> { ["PATH"] = run.BinDir + ":" + Environment.GetEnvironmentVariable("PATH") };

        (await ProcessRunner.RunAsync(script, ["--broker-dir", broker, keys, "worker-a"], environment: env)).EnsureSuccess("init-keys.sh");
        var password = File.ReadAllText(Path.Combine(broker, "buildfarm-worker-worker-a.password"));
        (await ProcessRunner.RunAsync(script, ["--broker-dir", broker, keys, "worker-a", "worker-b"], environment: env)).EnsureSuccess("init-keys.sh with worker-b");

        Assert.Equal(password, File.ReadAllText(Path.Combine(broker, "buildfarm-worker-worker-a.password")));
        foreach (var (user, owner) in new[] { ("buildfarm-dispatcher", 10001), ("buildfarm-worker-worker-a", 10002), ("buildfarm-worker-worker-b", 10002), ("buildfarm-monitoring", 0) })
        {
            var file = Path.Combine(broker, user + ".password");
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
            Assert.Equal(owner, await OwnerOfAsync(file));
        }

        var definitions = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(broker, "definitions.json"))).RootElement;
        Assert.Equal(["buildfarm-dispatcher", "buildfarm-monitoring", "buildfarm-worker-worker-a", "buildfarm-worker-worker-b"],
            definitions.GetProperty("users").EnumerateArray().Select(u => u.GetProperty("name").GetString()!).ToArray());
        Assert.DoesNotContain(password.Trim(), File.ReadAllText(Path.Combine(broker, "definitions.json")), StringComparison.Ordinal);
    }

    /// <summary>compose/init-keys.sh with the real <c>buildfarm</c> (keys generate, keys public) on PATH, as in the installer test.</summary>
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
        Assert.Equal(first["dispatcher.public"] + first["worker-a.public"] + first["worker-b.public"], first["trusted-origin-keys"]);

        // SSH: the origin's host key and one login key per worker, each private half 0600 and matching its .pub;
        // the logins are the origin's authorized keys, each forced to `buildfarm origin-serve` on the origin store.
        foreach (var name in new[] { "origin_host_ed25519", "worker-a.ssh", "worker-b.ssh" })
        {
            var file = Path.Combine(keys, name);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
            var derived = (await ProcessRunner.RunAsync("ssh-keygen", ["-y", "-P", "", "-f", file])).EnsureSuccess("ssh-keygen -y " + name).Stdout.Trim();
            Assert.Equal(derived.Split(' ')[..2], first[name + ".pub"].Split(' ')[..2]);
        }

        Assert.Equal(
            [ForcedOriginServe + first["worker-a.ssh.pub"].Trim(), ForcedOriginServe + first["worker-b.ssh.pub"].Trim()],
            first["origin-authorized-keys"].TrimEnd('\n').Split('\n'));
        Assert.Equal(10002, await OwnerOfAsync(Path.Combine(keys, "worker-a.ssh")));
        Assert.Equal(0, await OwnerOfAsync(Path.Combine(keys, "origin_host_ed25519")));
    }
}
