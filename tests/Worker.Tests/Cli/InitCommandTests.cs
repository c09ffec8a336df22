using System.Text.Json;
using BuildFarm.Store.Signing;
using BuildFarm.Testing;
using BuildFarm.Worker.Cli;
using BuildFarm.Worker.Configuration;

namespace BuildFarm.Worker.Tests.Cli;

/// <summary><c>buildfarm-worker init</c>: flags to a worker.json the worker's own loader and validator accept.</summary>
public sealed class InitCommandTests : IDisposable
{
    private const string HostKey = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";
    private const string Config = "/etc/buildfarm/worker.json";
    private const string SecretFile = "/var/lib/bf/keys/signing.secret";
    private const string LoginKey = "/var/lib/bf/keys/origin_ed25519";
    private static readonly string DispatcherKey = SigningKey.Generate("dispatcher-1").PublicKey.ToString();

    private readonly TempDirectory _dir = new("init");

    private string Root => _dir.Combine("root");

    [Fact]
    public async Task RunAsync_InstallerFlags_WritesConfigTheWorkerLoadsAndValidates()
    {
        var hostKey = await HostKeyFileAsync();
        var fromSshKeygen = (await ProcessRunner.RunAsync("ssh-keygen", ["-l", "-E", "sha256", "-f", hostKey])).EnsureSuccess("ssh-keygen -l").Stdout.Split(' ')[1];
        PutLoginKey();

        var (problems, output) = await RunAsync(Flags(("--origin-host-key-file", hostKey)));

        Assert.Empty(problems);
        Assert.Contains($"generated signing key {SecretFile}", output, StringComparison.Ordinal);
        Assert.Contains($"wrote {Config}", output, StringComparison.Ordinal);
        var options = WorkerConfiguration.Load(In(Config));
        Assert.Equal("builder-1", options.Name);
        Assert.Equal(["x86_64-linux", "i686-linux"], options.Systems);
        Assert.Equal(["kvm"], options.SupportedFeatures);
        Assert.Equal((3, 2.5), (options.Slots, options.SpeedFactor));
        Assert.Equal(
            [("origin.example", 2222, HostKey), ("origin.example", 2222, fromSshKeygen)],
            options.Origins.PinnedHostKeys.Select(p => (p.Host, p.Port, p.Fingerprint)));
        Assert.Equal([DispatcherKey], File.ReadAllLines(In("/etc/buildfarm/trusted-dispatcher-keys")));
        Assert.Equal([DispatcherKey], File.ReadAllLines(In("/etc/buildfarm/trusted-origin-keys")));
        var key = SigningKey.Parse(File.ReadAllText(In(SecretFile)).Trim());
        Assert.Equal("builder-1", key.Name);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(In(SecretFile)));

        // One casing everywhere: camelCase, as docs/configuration.md and compose/config write it.
        using var json = JsonDocument.Parse(File.ReadAllText(In(Config)));
        Assert.All(json.RootElement.EnumerateObject(), p => Assert.True(char.IsLower(p.Name[0]), p.Name));
        Assert.Equal("/var/lib/bf/store", json.RootElement.GetProperty("store").GetProperty("root").GetString());

        // Paths inside the file are the real machine's; mapped into the scratch root, the validator accepts it all.
        options.Keys.SigningKeyFile = In(options.Keys.SigningKeyFile);
        options.Keys.TrustedDispatcherKeysFile = In(options.Keys.TrustedDispatcherKeysFile);
        options.Origins.PrivateKeyFile = In(options.Origins.PrivateKeyFile);
        options.Origins.TrustedInputKeysFile = In(options.Origins.TrustedInputKeysFile);
        Assert.Empty(WorkerOptionsValidator.Problems(options));
    }

    [Fact]
    public async Task RunAsync_Twice_KeepsTheKeyAndWritesTheSameConfig()
    {
        PutLoginKey();
        (await RunAsync(Flags())).Problems.ForEach(p => Assert.Fail(p));
        var key = File.ReadAllText(In(SecretFile));
        var config = File.ReadAllText(In(Config));

        var (problems, output) = await RunAsync(Flags());

        Assert.Empty(problems);
        Assert.Contains($"kept the existing signing key {SecretFile}", output, StringComparison.Ordinal);
        Assert.Equal(key, File.ReadAllText(In(SecretFile)));
        Assert.Equal(config, File.ReadAllText(In(Config)));
    }

    [Theory]
    [InlineData("--slots", "0", "--slots: Slots = 0 is invalid: must be between 1 and 1024")]
    [InlineData("--slots", "many", "--slots: 'many' is not a whole number from 1 to 1024")]
    [InlineData("--speed", "fast", "--speed: 'fast' is not a number greater than 0")]
    [InlineData("--name", "no spaces", "--name: Name 'no spaces' is invalid")]
    [InlineData("--systems", "x86.64", "--systems: Systems item 'x86.64' is invalid")]
    [InlineData("--broker-uri", "http://rabbit/", "--broker-uri: Broker:Uri 'http://rabbit/' is not an amqp://")]
    [InlineData("--dispatcher-key", "dispatcher-1:notakey", "--dispatcher-key: 'dispatcher-1:notakey' is not an Ed25519 public key")]
    [InlineData("--origin", "user@origin", "--origin: 'user@origin' is not HOST or HOST:PORT")]
    [InlineData("--origin", "origin:70000", "--origin: port '70000' of 'origin:70000' is not a port from 1 to 65535")]
    [InlineData("--origin-host-key", "MD5:ab:cd", "--origin-host-key: 'MD5:ab:cd' is not an OpenSSH fingerprint SHA256:BASE64")]
    [InlineData("--origin-host-key-file", "/nonexistent/host.pub", "--origin-host-key-file: '/nonexistent/host.pub' is not a readable file")]
    [InlineData("--store-dir", "nix/store", "--store-dir: Store:StoreDir 'nix/store' is invalid")]
    public async Task RunAsync_BadFlag_NamesTheFlagAndWritesNothing(string flag, string value, string message)
    {
        PutLoginKey();
        var before = Directory.EnumerateFileSystemEntries(Root, "*", SearchOption.AllDirectories).Count();

        var (problems, _) = await RunAsync(Flags((flag, value)));

        Assert.Contains(problems, p => p.StartsWith(message, StringComparison.Ordinal));
        Assert.Equal(before, Directory.EnumerateFileSystemEntries(Root, "*", SearchOption.AllDirectories).Count());
    }

    [Fact]
    public async Task RunAsync_OriginWithoutHostKey_SaysHowToPinIt()
    {
        var flags = Flags();
        flags.Remove("--origin-host-key");

        var (problems, _) = await RunAsync(flags);

        Assert.Equal(["--origin origin.example:2222 needs its host key: --origin-host-key SHA256:BASE64 or --origin-host-key-file FILE (on the origin: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub)"], problems);
    }

    [Fact]
    public async Task RunAsync_DryRunWithoutLoginKey_ChecksAndWritesNothing()
    {
        var (problems, _) = await RunAsync(Flags(), dryRun: true);

        Assert.Empty(problems);
        Assert.False(Directory.Exists(Root));
    }

    [Fact]
    public async Task RunAsync_MissingLoginKey_NamesTheFlagAndTheRealPath()
    {
        var (problems, _) = await RunAsync(Flags());

        Assert.Equal([$"--origin-private-key-file: Origins:PrivateKeyFile '{LoginKey}' does not exist"], problems);
    }

    public void Dispose() => _dir.Dispose();

    private string In(string path) => Root + path;

    private void PutLoginKey()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(In(LoginKey))!);
        File.WriteAllText(In(LoginKey), "stand-in: the validator only checks it exists, private as ssh-keygen writes it\n");
        File.SetUnixFileMode(In(LoginKey), UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    private async Task<string> HostKeyFileAsync()
    {
        var file = _dir.Combine("ssh_host_ed25519_key");
        (await ProcessRunner.RunAsync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", file])).EnsureSuccess("ssh-keygen");
        return file + ".pub";
    }

    private static Dictionary<string, string> Flags(params (string Flag, string Value)[] changes)
    {
        var flags = new Dictionary<string, string>
        {
            ["--name"] = "builder-1", ["--systems"] = "x86_64-linux,i686-linux", ["--features"] = "kvm", ["--slots"] = "3",
            ["--speed"] = "2.5", ["--broker-uri"] = "amqp://bf:secret@rabbit:5672/", ["--root"] = "/var/lib/bf/store",
            ["--signing-key-file"] = SecretFile, ["--dispatcher-key"] = DispatcherKey,
            ["--trusted-dispatcher-keys-file"] = "/etc/buildfarm/trusted-dispatcher-keys",
            ["--origin"] = "origin.example:2222", ["--origin-host-key"] = HostKey,
            ["--origin-private-key-file"] = LoginKey, ["--trusted-input-keys-file"] = "/etc/buildfarm/trusted-origin-keys",
        };
        foreach (var (flag, value) in changes)
            flags[flag] = value;
        return flags;
    }

    private async Task<(List<string> Problems, string Output)> RunAsync(Dictionary<string, string> flags, bool dryRun = false)
    {
        string[] lists = ["--systems", "--features", "--mandatory-features", "--dispatcher-key", "--origin-host-key", "--origin-host-key-file", "--origin-key"];
        var init = new InitFlags(
            flags.Where(f => !lists.Contains(f.Key)).ToDictionary(f => f.Key, f => (string?)f.Value),
            flags.Where(f => lists.Contains(f.Key)).ToDictionary(f => f.Key, f => f.Value.Split(',')),
            AllowUnsandboxed: true);
        using var output = new StringWriter();
        var problems = await new WorkerInit(Config, Root, output).RunAsync(init, dryRun, CancellationToken.None);
        return (problems, output.ToString());
    }
}
